"""The ``msg`` command line: datasets subcommands and clear errors."""

from __future__ import annotations

import pytest

from msg.cli import main


def test_datasets_info_cora(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "info", "cora"]) == 0
    out = capsys.readouterr().out
    assert "nodes           2708" in out
    assert "edges           5278 undirected" in out
    assert "features        1433" in out
    assert "classes         7" in out
    assert "public" in out and "shipped with msg" in out


def test_datasets_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "list"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names[:3] == ["cora", "citeseer", "pubmed"] and "ogbn-products" in names


def test_unknown_dataset_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "info", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("msg: error: unknown dataset 'nope'") and "cora" in err


def test_train_minibatch_and_multiprocess_flags_reach_the_config(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    out = tmp_path / "r.json"
    argv = ["train", "--epochs", "1", "--T", "2", "--hidden", "8", "--layers", "1", "--no-progress", "--out", str(out)]
    assert main([*argv, "--batch-size", "64", "--num-neighbors", "10", "-1", "--nproc", "2"]) == 0
    config = json.loads(out.read_text())["config"]
    assert (config["batch_size"], config["num_neighbors"], config["nproc"]) == (64, [10, -1], 2)
    for flag, value, match in (
        ("--batch-size", ["0"], "batch_size must be >= 1"),
        ("--num-neighbors", ["5", "0"], "num_neighbors must be a non-empty list"),
        ("--nproc", ["0"], "nproc must be >= 1"),
    ):
        assert main([*argv[:-1], str(tmp_path / "bad.json"), flag, *value]) == 2
        assert match in capsys.readouterr().err
    assert not (tmp_path / "bad.json").exists()
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--batch-size" in text and "--num-neighbors K [K ...]" in text and "--nproc" in text
    assert "--resume" in text and "--checkpoint-every N" in text


def test_datasets_info_on_a_link_prediction_graph(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from ogb_fake import write_ogbl_ddi

    write_ogbl_ddi(tmp_path)
    assert main(["datasets", "info", "ogbl-ddi", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "classes         none (a link-prediction graph)" in out and "features        50" in out
    assert "val_neg_edge_index=60" in out
