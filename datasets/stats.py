"""Summary statistics of a loaded graph, as ``msg datasets info`` prints them."""

from __future__ import annotations

import os

import torch
from torch_geometric.data import Data

from .registry import LINK_SPLIT_KEYS, get_spec, load_with_source

LINK_SPLIT_ATTRS = tuple(attr for attr, _, _ in LINK_SPLIT_KEYS)


def graph_stats(data: Data) -> dict:
    """Nodes, undirected edges (unordered pairs, self-loops not counted), self-loops, features and classes
    (``None`` for a graph without node labels)."""
    row, col = data.edge_index
    pairs = torch.stack([torch.minimum(row, col), torch.maximum(row, col)])
    unique = torch.unique(pairs[:, row != col], dim=1)
    y = data.y
    if y is None:  # a link-prediction graph (ogbl-*): no node labels
        classes = None
    else:
        classes = int(y.size(1)) if y.dim() == 2 else int(y.max()) + 1
    return {
        "nodes": int(data.num_nodes),
        "undirected_edges": int(unique.size(1)),
        "self_loops": int((row == col).sum()),
        "features": int(data.num_features),
        "classes": classes,
        "multi_label": y is not None and y.dim() == 2,
    }


def dataset_info(name: str, root: str | os.PathLike | None = None, download: bool = False) -> dict:
    """Load ``name`` and describe it: statistics, the splits it offers and where it was read from."""
    spec = get_spec(name)
    data, source = load_with_source(spec.name, root, download)
    splits = [*spec.splits, "random (msg.datasets.random_node_split)", "link (msg.datasets.link_split)"]
    if data.y is None:  # a link-prediction graph: no labels to split nodes by
        splits.remove("random (msg.datasets.random_node_split)")
    masks = {k: int(data[k].sum()) for k in ("train_mask", "val_mask", "test_mask") if k in data}
    masks.update({k: int(data[k].size(1)) for k in LINK_SPLIT_ATTRS if k in data})
    return {"name": spec.name, **graph_stats(data), "splits": splits, "mask_sizes": masks, "source": source}
