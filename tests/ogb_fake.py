"""Tiny folders in OGB's on-disk format, so tests run ogb's real loaders and evaluators offline.

The layout follows what ogb 1.3.6 reads (``ogb/io/read_graph_raw.py``, ``PygNodePropPredDataset.get_idx_split``,
``PygLinkPropPredDataset.get_edge_split`` and the ``master.csv`` rows): ``raw/*.csv.gz`` without headers,
``split/<split name>/{train,valid,test}.csv.gz`` (node indices) for ogbn, ``split/<split name>/{train,valid,test}.pt``
(dicts of [E, 2] pair arrays) for ogbl, and ``RELEASE_v1.txt``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch


def _csv_gz(path: Path, rows: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = rows.reshape(len(rows), -1)
    with gzip.open(path, "wt") as handle:
        for row in rows:
            handle.write(",".join(str(v) for v in row) + "\n")


def _graph_files(folder: Path, edges: np.ndarray, num_nodes: int) -> None:
    raw = folder / "raw"
    _csv_gz(raw / "edge.csv.gz", edges)
    _csv_gz(raw / "num-node-list.csv.gz", np.array([num_nodes]))
    _csv_gz(raw / "num-edge-list.csv.gz", np.array([len(edges)]))


def _node_split(folder: Path, split: str, num_nodes: int, rng: np.random.Generator) -> None:
    order = rng.permutation(num_nodes)
    a, b = int(0.6 * num_nodes), int(0.8 * num_nodes)
    for part, index in (("train", order[:a]), ("valid", order[a:b]), ("test", order[b:])):
        _csv_gz(folder / "split" / split / f"{part}.csv.gz", np.sort(index))


def write_ogbn_arxiv(root: Path, num_nodes: int = 60, num_edges: int = 200, seed: int = 0) -> Path:
    """A random graph laid out like ``ogbn_arxiv/`` (directed edges, 128-d features, 40 classes, time split)."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "ogbn_arxiv"
    raw = folder / "raw"
    _graph_files(folder, rng.integers(0, num_nodes, size=(num_edges, 2)), num_nodes)
    _csv_gz(raw / "node-feat.csv.gz", rng.standard_normal((num_nodes, 128)).round(4))
    _csv_gz(raw / "node-label.csv.gz", rng.integers(0, 40, size=(num_nodes, 1)))
    _csv_gz(raw / "node_year.csv.gz", rng.integers(2000, 2020, size=(num_nodes, 1)))
    _node_split(folder, "time", num_nodes, rng)
    (folder / "RELEASE_v1.txt").write_text("fake ogbn-arxiv for tests\n")
    return folder


def write_ogbn_proteins(root: Path, num_nodes: int = 60, num_edges: int = 200, seed: int = 0) -> Path:
    """Laid out like ``ogbn_proteins/``: undirected edges stored once with 8-d edge features, no node features,
    112 binary labels per node (multi-label), a species column and the species split."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "ogbn_proteins"
    raw = folder / "raw"
    _graph_files(folder, _distinct_pairs(rng, num_nodes, num_edges), num_nodes)
    _csv_gz(raw / "edge-feat.csv.gz", rng.random((num_edges, 8)).round(3))
    _csv_gz(raw / "node-label.csv.gz", (rng.random((num_nodes, 112)) < 0.3).astype(np.int64))
    _csv_gz(raw / "node_species.csv.gz", rng.choice([3702, 4932, 6239], size=(num_nodes, 1)))
    _node_split(folder, "species", num_nodes, rng)
    (folder / "RELEASE_v1.txt").write_text("fake ogbn-proteins for tests\n")
    return folder


def _distinct_pairs(rng: np.random.Generator, num_nodes: int, count: int) -> np.ndarray:
    """``count`` distinct unordered pairs ``a < b`` (as [count, 2]) in random order."""
    a, b = np.triu_indices(num_nodes, k=1)
    chosen = rng.choice(len(a), size=count, replace=False)
    return np.stack([a[chosen], b[chosen]], axis=1)


def _link_folder(
    root: Path, folder_name: str, split: str, num_nodes: int, num_edges: int, num_neg: int, seed: int
) -> tuple[Path, dict[str, np.ndarray]]:
    """Train / valid / test positives (80/10/10 of ``num_edges`` distinct pairs) and ``num_neg`` negatives for valid
    and test, disjoint from every positive. The graph file holds the training edges only (as in ogb)."""
    rng = np.random.default_rng(seed)
    pairs = _distinct_pairs(rng, num_nodes, num_edges + 2 * num_neg)
    positives, negatives = pairs[:num_edges], pairs[num_edges:]
    a, b = int(0.8 * num_edges), int(0.9 * num_edges)
    parts = {
        "train": positives[:a],
        "valid": positives[a:b],
        "test": positives[b:],
        "valid_neg": negatives[:num_neg],
        "test_neg": negatives[num_neg:],
    }
    folder = Path(root) / folder_name
    (folder / "split" / split).mkdir(parents=True, exist_ok=True)
    return folder, parts


def write_ogbl_collab(
    root: Path, num_nodes: int = 60, num_edges: int = 300, num_neg: int = 80, seed: int = 0
) -> Path:
    """Laid out like ``ogbl_collab/``: 128-d node features, the training edges as the graph (a few repeated with
    another year, as collaborations repeat), edge weights and years, the time split with numpy arrays (``.pt``).
    Valid and test hold more than 50 negatives, so Hits@50 ranks among them."""
    folder, parts = _link_folder(root, "ogbl_collab", "time", num_nodes, num_edges, num_neg, seed)
    rng = np.random.default_rng(seed + 1)
    train = np.concatenate([parts["train"], parts["train"][:5]])  # repeated collaborations
    year = np.concatenate([rng.integers(2000, 2017, len(parts["train"])), np.full(5, 2017)])
    weight = np.ones(len(train), dtype=np.int64)
    _graph_files(folder, train, num_nodes)
    raw = folder / "raw"
    _csv_gz(raw / "node-feat.csv.gz", rng.standard_normal((num_nodes, 128)).round(4))
    _csv_gz(raw / "edge_weight.csv.gz", weight)
    _csv_gz(raw / "edge_year.csv.gz", year)
    split = folder / "split" / "time"
    torch.save({"edge": train, "weight": weight, "year": year}, split / "train.pt")
    for part in ("valid", "test"):
        pos = parts[part]
        info = {"edge": pos, "weight": np.ones(len(pos), dtype=np.int64), "year": np.full(len(pos), 2018 + len(part))}
        torch.save({**info, "edge_neg": parts[f"{part}_neg"]}, split / f"{part}.pt")
    (folder / "RELEASE_v1.txt").write_text("fake ogbl-collab for tests\n")
    return folder


def write_ogbl_ddi(root: Path, num_nodes: int = 50, num_edges: int = 300, num_neg: int = 60, seed: int = 0) -> Path:
    """Laid out like ``ogbl_ddi/``: no node features, the training edges as the graph, the target split saved
    as torch tensors (``.pt``)."""
    folder, parts = _link_folder(root, "ogbl_ddi", "target", num_nodes, num_edges, num_neg, seed)
    _graph_files(folder, parts["train"], num_nodes)
    split = folder / "split" / "target"
    torch.save({"edge": torch.from_numpy(parts["train"])}, split / "train.pt")
    for part in ("valid", "test"):
        pos, neg = torch.from_numpy(parts[part]), torch.from_numpy(parts[f"{part}_neg"])
        torch.save({"edge": pos, "edge_neg": neg}, split / f"{part}.pt")
    (folder / "RELEASE_v1.txt").write_text("fake ogbl-ddi for tests\n")
    return folder


FAKES = {
    "ogbn-arxiv": write_ogbn_arxiv,
    "ogbn-proteins": write_ogbn_proteins,
    "ogbl-collab": write_ogbl_collab,
    "ogbl-ddi": write_ogbl_ddi,
}
"""OGB dataset name -> writer ``(root) -> folder``."""
