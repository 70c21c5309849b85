"""Reading the files ``msg plot`` draws from, with one clear ``ValueError`` (naming the file) per problem.

- results files written by ``msg train --out`` (fields listed in the README; :func:`read_results`,
  :func:`run_histories`, :func:`result_label`);
- published numbers for ``msg plot compare --published``: ``{"model": {"dataset": value}}`` where a value is a
  number or ``[mean, std]``, in percent as papers print them (:func:`read_published`);
- benchmark files with a list of rows (:func:`read_rows`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HISTORY_KEYS = ("epoch", "loss", "val", "test")


def read_json(path: str | Path, what: str) -> Any:
    """The parsed JSON in ``path``; ``what`` names the kind of file in the error messages."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{what} {path} does not exist")
    if not p.is_file():
        raise ValueError(f"{what} {path} is not a file")
    try:
        return json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{what} {path} is not valid JSON ({err})") from err


def is_number(value: Any) -> bool:
    """A JSON number (not a bool); NaN counts: a run can record an undefined score."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_results(path: str | Path, fields: Sequence[str]) -> dict[str, Any]:
    """A results document (``msg train --out``) that has every one of ``fields``."""
    doc = read_json(path, "results file")
    if not isinstance(doc, dict):
        raise ValueError(f"results file {path} must hold a JSON object, got {type(doc).__name__}")
    missing = [f for f in fields if f not in doc]
    if missing:
        raise ValueError(
            f"results file {path} lacks the field(s) {missing}; is it the JSON written by `msg train --out`?"
        )
    return doc


def run_histories(doc: dict[str, Any], path: str | Path) -> list[dict[str, list[float]]]:
    """Each run's per-evaluation history ``{epoch, loss, val, test}`` (lists of equal length) from a results doc."""
    runs = doc.get("runs")
    if not isinstance(runs, list) or not runs:
        raise ValueError(f"results file {path}: 'runs' must be a non-empty list, got {runs!r:.80}")
    histories = []
    for i, run in enumerate(runs):
        history = run.get("history") if isinstance(run, dict) else None
        if not isinstance(history, dict) or not all(isinstance(history.get(k), list) for k in HISTORY_KEYS):
            raise ValueError(f"results file {path}: runs[{i}] has no 'history' with the lists {list(HISTORY_KEYS)}")
        lengths = {k: len(history[k]) for k in HISTORY_KEYS}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"results file {path}: runs[{i}].history lists differ in length: {lengths}")
        for k in HISTORY_KEYS:
            if not all(is_number(v) for v in history[k]):
                raise ValueError(f"results file {path}: runs[{i}].history.{k} holds a value that is not a number")
        histories.append({k: [float(v) for v in history[k]] for k in HISTORY_KEYS})
    return histories


def result_label(doc: dict[str, Any], template: str, path: str | Path) -> str:
    """``template`` filled from the results fields: ``"{model} {manifold}"``, ``"T={config[T]}"``."""
    try:
        return template.format_map(doc)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"--label {template!r}: cannot fill it from results file {path} ({err!r})") from err


def read_published(path: str | Path) -> dict[str, dict[str, tuple[float, float]]]:
    """Published numbers ``{model: {dataset: (mean, std)}}`` (std 0 where only a number was given), in percent."""
    doc = read_json(path, "published-numbers file")
    shape = 'a JSON object {"model": {"dataset": value}} where value is a number or [mean, std] in percent'
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise ValueError(f"published-numbers file {path} must hold {shape}")
    table: dict[str, dict[str, tuple[float, float]]] = {}
    for model, row in doc.items():
        table[model] = {}
        for dataset, value in row.items():
            pair = [value, 0.0] if is_number(value) else value
            if not (isinstance(pair, list) and len(pair) == 2 and all(is_number(v) for v in pair)):
                raise ValueError(f"published-numbers file {path}: [{model!r}][{dataset!r}] = {value!r}; need {shape}")
            table[model][dataset] = (float(pair[0]), float(pair[1]))
    return table


def read_rows(path: str | Path, key: str) -> list[dict[str, Any]]:
    """The list of row objects of a benchmark file: ``doc[key]``, or the document itself when it is a list."""
    doc = read_json(path, "benchmark file")
    rows = doc if isinstance(doc, list) else doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise ValueError(
            f"benchmark file {path} must hold a non-empty list of row objects, either under the key {key!r} "
            "(--rows) or as the whole document"
        )
    return rows


def finite_or_none(value: Any, where: str) -> float | None:
    """A row value as a float; ``None`` (JSON null: not measured, e.g. out of memory) stays ``None``."""
    if value is None:
        return None
    if not is_number(value) or not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number or null, got {value!r}")
    return float(value)


def series_from_rows(
    rows: list[dict[str, Any]], x: str, y: str, series: str | None, path: str | Path
) -> dict[str, list[tuple[float, float]]]:
    """Lines ``{name: [(x, y), ...]}`` (sorted by x) from benchmark rows, in either layout:

    - long: ``{"T": 5, "credit": "dvm", "peak_mb": 80}`` -- ``row[series]`` names the line (one line named ``y``
      when ``series`` is None);
    - wide: ``{"T": 5, "median_ms": {"fused": 1.2, "reference": 3.4}}`` -- every key of ``row[y]`` is a line
      (prefixed by ``row[series]`` when ``series`` is given).

    A null value is skipped (not measured); a row without ``x``, ``y`` or ``series`` is an error.
    """
    lines: dict[str, list[tuple[float, float]]] = {}
    for i, row in enumerate(rows):
        where = f"benchmark file {path}: rows[{i}]"
        for key, option in ((x, "--x"), (y, "--y"), (series, "--series")):
            if key is not None and key not in row:
                raise ValueError(f"{where} has no {key!r} ({option}); its keys are {sorted(row)}")
        xv = finite_or_none(row[x], f"{where}[{x!r}]")
        if xv is None:
            raise ValueError(f"{where}[{x!r}] is null; every row needs an x value")
        value = row[y]
        prefix = "" if series is None else f"{row[series]}"
        items = [(f"{prefix} {k}".strip(), v) for k, v in value.items()] if isinstance(value, dict) else [
            (prefix or y, value)
        ]
        for name, v in items:
            yv = finite_or_none(v, f"{where}[{y!r}]")
            if yv is not None:
                lines.setdefault(name, []).append((xv, yv))
    if not lines:
        raise ValueError(f"benchmark file {path}: no row has a value for {y!r} (--y)")
    return {name: sorted(points) for name, points in lines.items()}
