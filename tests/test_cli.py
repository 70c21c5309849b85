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
