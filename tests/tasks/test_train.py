"""Training jobs: every manifold trains on the shipped Cora; `msg train` end to end; config precedence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from msg.datasets import load_dataset

from msg.cli import main
from msg.tasks.config import TrainConfig, read_config_file, resolve_config, shipped_configs
from msg.tasks.runner import run, train_link_prediction, train_node_classification

FIELDS = {
    "task", "dataset", "model", "manifold", "credit", "metric", "test_mean", "test_std", "val_mean", "runs",
    "epoch_time_s", "peak_rss_mb", "num_params", "energy", "config",
}


@pytest.fixture(scope="module")
def cora():
    return load_dataset("cora")


@pytest.mark.parametrize("manifold", ["lorentz", "sphere", "euclidean", "lorentz,sphere"])
def test_every_manifold_trains_on_cora(cora, manifold: str) -> None:
    cfg = TrainConfig(manifold=manifold, T=5, hidden=16, layers=1, epochs=30, lr=0.03)
    result = train_node_classification(cfg, cora, seed=0)
    assert result["test"] > 0.70, f"{manifold}: test accuracy {result['test']:.3f} at the best validation epoch"
    model = result["model"]
    z = model.encode(cora.x, cora.edge_index)
    ok, reason = model.manifold.check_point_on_manifold(z, explain=True)
    assert ok, reason


def test_bptt_trains_too(cora) -> None:
    cfg = TrainConfig(credit="bptt", T=5, hidden=16, layers=1, epochs=30, lr=0.03)
    result = train_node_classification(cfg, cora, 0)
    assert result["test"] > 0.70


def test_link_prediction_trains(cora) -> None:
    cfg = TrainConfig(task="lp", T=5, hidden=16, layers=1, epochs=30, lr=0.03, dropout=0.0)
    result = train_link_prediction(cfg, cora, seed=0)
    assert result["test"] > 0.75, result["test"]
    assert result["history"]["val"] and max(result["history"]["val"]) == result["val"]


def test_best_validation_selection_and_split_per_run(cora) -> None:
    result = run(TrainConfig(split="random", T=3, hidden=8, layers=1, epochs=4, runs=2), progress=False)
    for r in result["runs"]:
        h = r["history"]
        best = h["val"].index(max(h["val"]))
        assert r["test"] == h["test"][best] and r["best_epoch"] == h["epoch"][best]
    assert [r["seed"] for r in result["runs"]] == [0, 1]


def test_msg_train_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "res.json"
    argv = ["train", "--epochs", "3", "--runs", "2", "--T", "4", "--hidden", "8", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert FIELDS <= set(result)
    assert result["dataset"] == "cora" and result["model"] == "msg" and result["metric"] == "accuracy"
    assert len(result["runs"]) == 2 and result["config"]["T"] == 4 and result["config"]["epochs"] == 3
    assert result["energy"]["spikes"] > 0 and result["energy"]["energy_J"] > 0 and result["num_params"] > 0
    assert "results: " + str(out) in capsys.readouterr().out
    # an existing results file is never replaced without --overwrite
    before = out.read_text()
    assert main(argv) == 2
    assert out.read_text() == before and "--overwrite" in capsys.readouterr().err


def test_config_precedence(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"T": 7, "lr": 0.5, "_comment": "ignored"}))
    cfg = resolve_config({"config": str(path), "lr": 0.1})
    assert (cfg.T, cfg.lr, cfg.hidden) == (7, 0.1, TrainConfig().hidden)
    path.write_text(json.dumps({"T": 7, "learning_rate": 0.5}))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['learning_rate'\]"):
        resolve_config({"config": str(path)})
    with pytest.raises(ValueError, match="neither a file nor a shipped config"):
        resolve_config({"config": "nc_nowhere_lorentz"})


def test_shipped_paper_configs_are_valid() -> None:
    names = shipped_configs()
    for dataset in ("photo", "computers", "cs", "physics"):
        for manifold in ("lorentz", "sphere", "euclidean"):
            assert f"nc_{dataset}_{manifold}" in names and f"lp_{dataset}_{manifold}" in names
    for name in names:
        cfg = TrainConfig(**read_config_file(name)).validate()
        assert cfg.model == "msg" and name.startswith(cfg.task)


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--T", "0"], "T must be >= 1"),
        (["--step-size", "0"], "step_size must be > 0"),
        (["--manifold", "torus3"], "unknown manifold"),
        (["--dataset", "nope"], "unknown dataset 'nope'"),
        (["--model", "nope"], "unknown model 'nope'"),
    ],
)
def test_cli_bad_values(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], match: str) -> None:
    assert main(["train", "--epochs", "1", "--out", str(tmp_path / "r.json"), "--no-progress", *argv]) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_nan_features_are_rejected(monkeypatch: pytest.MonkeyPatch, cora) -> None:
    bad = cora.clone()
    bad.x = bad.x.clone()
    bad.x[0, 0] = torch.nan
    monkeypatch.setattr("msg.tasks.runner.load_dataset", lambda *a, **k: bad)
    with pytest.raises(ValueError, match="NaN"):
        run(TrainConfig(epochs=1), progress=False)


def test_save_and_load_model(tmp_path: Path, cora) -> None:
    from msg.tasks.runner import load_model

    path = tmp_path / "m.pt"
    assert main(["train", "--epochs", "2", "--T", "3", "--hidden", "8", "--layers", "1", "--no-progress",
                 "--out", str(tmp_path / "r.json"), "--save-model", str(path)]) == 0
    payload = torch.load(path, weights_only=True)  # plain types only
    assert payload["format"] == "msg-model-v1" and payload["config"]["T"] == 3
    model, cfg = load_model(path)
    assert cfg.hidden == 8 and not model.training
    assert model(cora.x, cora.edge_index).shape == (cora.num_nodes, 7)
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="could not be read as a msg model"):
        load_model(tmp_path / "junk.pt")


def test_spiking_gcn_through_msg_train_with_its_default_credit(tmp_path: Path) -> None:
    out = tmp_path / "sgcn.json"
    argv = ["train", "--model", "spiking_gcn", "--epochs", "2", "--T", "3", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert result["model"] == "spiking_gcn" and result["credit"] == "bptt" and FIELDS <= set(result)
    assert main([*argv[:-3], "--credit", "dvm", "--out", str(tmp_path / "x.json"), "--no-progress"]) == 2


@pytest.mark.parametrize("model", ["gcn", "gat", "sgc", "sage", "hgcn", "spikenet"])
def test_every_registered_baseline_runs_through_msg_train(tmp_path: Path, model: str) -> None:
    out = tmp_path / f"{model}.json"
    argv = ["train", "--model", model, "--epochs", "2", "--T", "3", "--hidden", "16", "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    result = json.loads(out.read_text())
    assert result["model"] == model and FIELDS <= set(result) and 0.0 <= result["test_mean"] <= 1.0
    if model == "spikenet":
        assert result["config"]["v_threshold"] == 0.1 and result["credit"] == "bptt"
