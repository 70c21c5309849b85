"""Tiny folders in OGB's on-disk format, so tests run ogb's real loaders and evaluators offline."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def _csv_gz(path: Path, rows: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = rows.reshape(len(rows), -1)
    with gzip.open(path, "wt") as handle:
        for row in rows:
            handle.write(",".join(str(v) for v in row) + "\n")


def write_ogbn_arxiv(root: Path, num_nodes: int = 60, num_edges: int = 200, seed: int = 0) -> Path:
    """A random graph laid out like ``ogbn_arxiv/`` (directed edges, 128-d features, 40 classes, time split)."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "ogbn_arxiv"
    raw = folder / "raw"
    _csv_gz(raw / "edge.csv.gz", rng.integers(0, num_nodes, size=(num_edges, 2)))
    _csv_gz(raw / "node-feat.csv.gz", rng.standard_normal((num_nodes, 128)).round(4))
    _csv_gz(raw / "node-label.csv.gz", rng.integers(0, 40, size=(num_nodes, 1)))
    _csv_gz(raw / "node_year.csv.gz", rng.integers(2000, 2020, size=(num_nodes, 1)))
    _csv_gz(raw / "num-node-list.csv.gz", np.array([num_nodes]))
    _csv_gz(raw / "num-edge-list.csv.gz", np.array([num_edges]))
    order = rng.permutation(num_nodes)
    a, b = int(0.6 * num_nodes), int(0.8 * num_nodes)
    for part, index in (("train", order[:a]), ("valid", order[a:b]), ("test", order[b:])):
        _csv_gz(folder / "split" / "time" / f"{part}.csv.gz", np.sort(index))
    (folder / "RELEASE_v1.txt").write_text("fake ogbn-arxiv for tests\n")
    return folder
