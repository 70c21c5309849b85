"""msg.plot.readers: results, published-numbers and benchmark files; each problem is one ValueError naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msg.plot.readers import (
    read_published,
    read_results,
    read_rows,
    result_label,
    run_histories,
    series_from_rows,
)


def _write(path: Path, payload: object) -> Path:
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


def test_missing_and_non_json_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"results file .*nope\.json does not exist"):
        read_results(tmp_path / "nope.json", ("runs",))
    with pytest.raises(ValueError, match=r"results file .*bad\.json is not valid JSON"):
        read_results(_write(tmp_path / "bad.json", "{not json"), ("runs",))
    with pytest.raises(ValueError, match=r"results file .*list\.json must hold a JSON object"):
        read_results(_write(tmp_path / "list.json", [1, 2]), ("runs",))
    with pytest.raises(ValueError, match=r"results file .*dir is not a file"):
        (tmp_path / "dir").mkdir()
        read_results(tmp_path / "dir", ("runs",))


def test_missing_fields_are_listed(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.json", {"dataset": "cora"})
    with pytest.raises(ValueError, match=r"r\.json lacks the field\(s\) \['test_mean', 'test_std'\]"):
        read_results(path, ("dataset", "test_mean", "test_std"))


HISTORY = {"epoch": [1, 2], "loss": [2.0, 1.5], "val": [0.5, 0.6], "test": [0.4, 0.5]}


@pytest.mark.parametrize(
    ("runs", "message"),
    [
        ([], "'runs' must be a non-empty list"),
        ([{"seed": 0}], r"runs\[0\] has no 'history'"),
        ([{"history": {**HISTORY, "loss": [2.0]}}], r"runs\[0\]\.history lists differ in length"),
        ([{"history": HISTORY}, {"history": {**HISTORY, "val": [0.5, "x"]}}], r"runs\[1\]\.history\.val holds"),
    ],
)
def test_malformed_histories(tmp_path: Path, runs: list, message: str) -> None:
    path = _write(tmp_path / "r.json", {"runs": runs})
    with pytest.raises(ValueError, match=message):
        run_histories(read_results(path, ("runs",)), path)


def test_histories_and_labels(tmp_path: Path) -> None:
    doc = {"model": "msg", "manifold": "sphere", "config": {"T": 5}, "runs": [{"history": HISTORY}]}
    assert run_histories(doc, "r.json") == [{k: [float(v) for v in vs] for k, vs in HISTORY.items()}]
    assert result_label(doc, "{model} {manifold} T={config[T]}", "r.json") == "msg sphere T=5"
    with pytest.raises(ValueError, match=r"--label '\{credit\}': cannot fill it from results file r\.json"):
        result_label(doc, "{credit}", "r.json")


def test_published_numbers(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.json", {"MSG": {"cora": 83.5, "photo": [92.1, 0.4]}})
    assert read_published(path) == {"MSG": {"cora": (83.5, 0.0), "photo": (92.1, 0.4)}}
    for bad in ({"MSG": 83.5}, {"MSG": {"cora": "high"}}, {"MSG": {"cora": [1, 2, 3]}}, [1]):
        with pytest.raises(ValueError, match=r"published-numbers file .*bad\.json"):
            read_published(_write(tmp_path / "bad.json", bad))


def test_rows_long_layout(tmp_path: Path) -> None:
    rows = [
        {"T": 10, "credit": "dvm", "mb": 5.0},
        {"T": 5, "credit": "dvm", "mb": 5.0},
        {"T": 5, "credit": "bptt", "mb": 9.0},
        {"T": 10, "credit": "bptt", "mb": None},  # not measured (e.g. out of memory): skipped
    ]
    path = _write(tmp_path / "b.json", {"rows": rows})
    got = series_from_rows(read_rows(path, "rows"), "T", "mb", "credit", path)
    assert got == {"dvm": [(5.0, 5.0), (10.0, 5.0)], "bptt": [(5.0, 9.0)]}
    assert series_from_rows(rows[:2], "T", "mb", None, path) == {"mb": [(5.0, 5.0), (10.0, 5.0)]}


def test_rows_wide_layout_and_a_bare_list(tmp_path: Path) -> None:
    rows = [{"T": 4, "ms": {"fused": 1.0, "ref": 3.0}}, {"T": 16, "ms": {"fused": 2.0, "ref": 9.0}}]
    path = _write(tmp_path / "b.json", rows)
    got = series_from_rows(read_rows(path, "rows"), "T", "ms", None, path)
    assert got == {"fused": [(4.0, 1.0), (16.0, 2.0)], "ref": [(4.0, 3.0), (16.0, 9.0)]}


@pytest.mark.parametrize(
    ("rows", "y", "message"),
    [
        ([{"T": 4}], "ms", r"rows\[0\] has no 'ms' \(--y\)"),
        ([{"ms": 1.0}], "ms", r"rows\[0\] has no 'T' \(--x\)"),
        ([{"T": None, "ms": 1.0}], "ms", r"rows\[0\]\['T'\] is null"),
        ([{"T": 4, "ms": "fast"}], "ms", r"rows\[0\]\['ms'\] must be a finite number or null"),
        ([{"T": 4, "ms": None}], "ms", "no row has a value for 'ms'"),
    ],
)
def test_bad_rows(tmp_path: Path, rows: list, y: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        series_from_rows(rows, "T", y, None, tmp_path / "b.json")


def test_a_file_without_rows(tmp_path: Path) -> None:
    for payload in ({"results": []}, {"rows": []}, {"rows": [1, 2]}, 3):
        with pytest.raises(ValueError, match=r"benchmark file .*b\.json must hold a non-empty list of row objects"):
            read_rows(_write(tmp_path / "b.json", payload), "rows")
