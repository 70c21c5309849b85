"""benchmarks/compare_models.py: one model on the shipped Cora for two epochs writes the JSON, the markdown table
and the PNG, and --resume skips the finished row."""

import json

import pytest


@pytest.fixture(scope="module")
def compare(load_benchmark):
    return load_benchmark("compare_models")


def test_one_model_on_cora_end_to_end(compare, tmp_path):
    out = tmp_path / "compare.json"
    msg_results = tmp_path / "reproduce_msg.json"
    msg_results.write_text(json.dumps({"results": [
        {"model": "msg", "task": "nc", "dataset": "photo", "test_mean": 0.9214, "test_std": 0.0018, "runs": [{}]},
    ]}))
    argv = ["--root", str(tmp_path / "data"), "--datasets", "cora", "--models", "gcn", "--tasks", "nc",
            "--epochs", "2", "--runs", "1", "--out", str(out), "--msg-results", str(msg_results)]
    assert compare.main(argv) == 0
    (row,) = json.loads(out.read_text())["results"]
    assert row["label"] == "gcn/nc/cora" and len(row["runs"]) == 1 and "history" not in row["runs"][0]
    assert row["config"]["epochs"] == 2 and row["config"]["split"] == "random" and row["config"]["hidden"] == 64
    assert 0 <= row["test_mean"] <= 1 and row["num_params"] > 0 and row["energy"]["energy_mJ"] > 0
    table = out.with_suffix(".md").read_text()
    assert f"{100 * row['test_mean']:.2f} ± 0.00 (—)" in table  # Cora: no published number
    assert "| GCN | not run (86.01) | not run (88.84) |" in table  # Photo and CS columns keep the paper's numbers
    assert "92.14 ± 0.18 (93.11)" in table  # MSG's row comes from reproduce_msg.json
    assert out.with_suffix(".png").stat().st_size > 0
    assert compare.main([*argv, "--resume"]) == 0  # nothing left to run: the row is kept as it was
    assert json.loads(out.read_text())["results"] == [row]


def test_rows_below_the_paper_are_flagged(compare):
    row = {"label": "gcn/nc/photo", "model": "gcn", "task": "nc", "dataset": "photo", "test_mean": 0.80,
           "test_std": 0.01, "runs": [{"best_epoch": 5}], "config": {"epochs": 10, "eval_every": 5},
           "num_params": 1, "epoch_time_s": 0.1, "energy": {}}
    table = compare.markdown({row["label"]: row}, {})
    assert "80.00 ± 1.00 (86.01) ▼" in table and "**gcn/nc/photo**: 80.00 vs 86.01" in table


def test_bad_arguments_are_refused(compare, capsys):
    with pytest.raises(SystemExit):
        compare.main(["--runs", "0"])
    assert "--runs must be >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compare.main(["--models", "gin"])
    assert "invalid choice: 'gin'" in capsys.readouterr().err
