"""Loaders for the hyperbolic-GNN benchmark graphs in HGCN's file formats.

Chami, Ying, Re, Leskovec, "Hyperbolic Graph Convolutional Neural Networks", NeurIPS 2019. No library ships a
loader for these files, so this module reads them directly, following the layout of HGCN's ``data/`` folder:

- ``disease_nc`` / ``disease_lp``: ``NAME.edges.csv`` (one ``a,b`` pair per line, node ids relabelled in order of
  first appearance, as HGCN does), ``NAME.labels.npy`` and ``NAME.feats.npz`` (a ``scipy.sparse.save_npz`` matrix).
  Without the feature file, identity features are used with a warning (HGCN's ``--use-feats 0``).
- ``airport``: ``airport.p``, a pickled networkx graph whose nodes carry ``feat`` vectors; as in HGCN, column 4 of
  the features is the label source (binned at 7/7, 8/7, 9/7) and columns 0-3 are the features.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

AIRPORT_LABEL_COLUMN = 4
AIRPORT_BINS = (7.0 / 7, 8.0 / 7, 9.0 / 7)


def hgcn_files(name: str, with_features: bool = False) -> list[str]:
    """The files (relative to ``ROOT/name/``) a HGCN graph needs; features are optional for the disease graphs."""
    if name == "airport":
        return ["airport.p"]
    files = [f"{name}.edges.csv", f"{name}.labels.npy"]
    return files + [f"{name}.feats.npz"] if with_features else files


def _undirected(edges: torch.Tensor, num_nodes: int) -> torch.Tensor:
    edge_index, _ = remove_self_loops(edges)
    return coalesce(to_undirected(edge_index, num_nodes=num_nodes), num_nodes=num_nodes)


def load_disease(name: str, folder: Path) -> Data:
    """Read ``disease_nc`` or ``disease_lp`` from ``folder`` (see the module docstring)."""
    index: dict[str, int] = {}
    pairs: list[tuple[int, int]] = []
    for line_no, line in enumerate((folder / f"{name}.edges.csv").read_text().splitlines(), start=1):
        if not line.strip():
            continue
        ends = line.strip().split(",")
        if len(ends) != 2:
            raise ValueError(f"{name}.edges.csv line {line_no}: expected 'a,b', got {line!r}")
        pairs.append(tuple(index.setdefault(e, len(index)) for e in ends))  # type: ignore[misc]
    num_nodes = len(index)
    edge_index = _undirected(torch.tensor(pairs, dtype=torch.long).t(), num_nodes)

    labels = np.load(folder / f"{name}.labels.npy", allow_pickle=False)
    if labels.shape[0] != num_nodes:
        raise ValueError(f"{name}.labels.npy has {labels.shape[0]} labels for a graph of {num_nodes} nodes")
    feats_path = folder / f"{name}.feats.npz"
    if feats_path.exists():
        x = torch.from_numpy(sp.load_npz(feats_path).toarray()).float()
    else:
        warnings.warn(
            f"{feats_path} is missing: using identity features ({num_nodes} x {num_nodes}), as HGCN's --use-feats 0",
            stacklevel=3,
        )
        x = torch.eye(num_nodes)
    return Data(x=x, edge_index=edge_index, y=torch.from_numpy(labels).long(), num_nodes=num_nodes)


def load_airport(folder: Path) -> Data:
    """Read HGCN's ``airport.p`` (a pickled networkx graph with a ``feat`` vector per node)."""
    with open(folder / "airport.p", "rb") as handle:
        graph = pickle.load(handle)
    nodes = list(graph.nodes())
    position = {node: i for i, node in enumerate(nodes)}
    feats = np.array([graph.nodes[node]["feat"] for node in nodes], dtype=np.float64)
    digitized = np.digitize(feats[:, AIRPORT_LABEL_COLUMN], AIRPORT_BINS)
    pairs = [(position[a], position[b]) for a, b in graph.edges()]
    edges = torch.tensor(pairs, dtype=torch.long).t() if pairs else torch.empty(2, 0, dtype=torch.long)
    return Data(
        x=torch.from_numpy(feats[:, :AIRPORT_LABEL_COLUMN]).float(),
        edge_index=_undirected(edges, len(nodes)),
        y=torch.from_numpy(digitized - digitized.min()).long(),
        num_nodes=len(nodes),
    )
