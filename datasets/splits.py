"""Node and link splits, built on PyG's transforms and seeded independently of the global RNG.

- :func:`random_node_split`: random train/val/test fractions per seed (the MSG paper's 10/10/80 protocol).
- :func:`link_split`: leak-free link-prediction splits (PyG's ``RandomLinkSplit``): validation and test edges and
  their reverses are absent from the message-passing graph used for training; negatives are disjoint from every
  positive edge (in either direction) and from each other across the three splits.
"""

from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import RandomLinkSplit, RandomNodeSplit


def _check_fractions(owner: str, **fractions: float) -> None:
    for key, value in fractions.items():
        if not 0.0 < value < 1.0:
            raise ValueError(f"{owner}: {key} must be a fraction in (0, 1), got {value!r}")
    if sum(fractions.values()) >= 1.0:
        raise ValueError(f"{owner}: fractions {fractions} leave nothing for the remaining split")


def random_node_split(data: Data, train: float = 0.1, val: float = 0.1, seed: int = 0) -> Data:
    """A copy of ``data`` with random ``train_mask`` / ``val_mask`` / ``test_mask`` (test = the rest).

    The split depends only on ``seed`` (the global RNG state is left untouched).
    """
    _check_fractions("random_node_split", train=train, val=val)
    test = 1.0 - train - val
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return RandomNodeSplit(split="train_rest", num_val=val, num_test=test)(data.clone())


class NonEdgeSampler:
    """Uniform sampler of distinct non-edges (unordered pairs ``a < b``, ``a != b``) outside a fixed set of pairs.

    The excluded pairs (in either direction) are encoded as ``a * N + b`` and sorted once, so each draw checks
    membership by binary search: drawing a fresh set of training negatives every epoch costs O(count log |exclude|).
    PyG's ``negative_sampling`` can return a pair in both directions, which would put one non-edge into two splits.

    Args:
        num_nodes: |V|.
        exclude: pairs [2, K] that must never be drawn (positives, other splits' negatives).
    """

    def __init__(self, num_nodes: int, exclude: torch.Tensor) -> None:
        lo = torch.minimum(exclude[0], exclude[1])
        hi = torch.maximum(exclude[0], exclude[1])
        self.num_nodes = int(num_nodes)
        self.taken = torch.unique((lo * num_nodes + hi)[lo != hi])  # sorted
        self.available = self.num_nodes * (self.num_nodes - 1) // 2 - self.taken.numel()

    def _excluded(self, codes: torch.Tensor) -> torch.Tensor:
        if self.taken.numel() == 0:
            return torch.zeros_like(codes, dtype=torch.bool)
        position = torch.searchsorted(self.taken, codes).clamp_max(self.taken.numel() - 1)
        return self.taken[position] == codes

    def sample(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """``count`` distinct non-edges [2, count], uniformly among the allowed pairs."""
        if count > self.available:
            raise ValueError(
                f"NonEdgeSampler: the graph has only {self.available} allowed non-edges, {count} are needed"
            )
        n = self.num_nodes
        chosen = torch.empty(0, dtype=torch.long)
        while chosen.numel() < count:
            draw = torch.randint(0, n, (2, 2 * (count - chosen.numel()) + 16), generator=generator)
            draw = draw[:, draw[0] != draw[1]]
            codes = torch.minimum(draw[0], draw[1]) * n + torch.maximum(draw[0], draw[1])
            codes = codes[~self._excluded(codes) & ~torch.isin(codes, chosen)]
            # keep the first occurrence of each new code, in draw order (the sample stays uniform)
            fresh, first = _first_unique(codes)
            chosen = torch.cat([chosen, fresh[torch.argsort(first)]])
        chosen = chosen[:count]
        return torch.stack([chosen // n, chosen % n])


def sample_non_edges(num_nodes: int, exclude: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` distinct non-edges outside ``exclude`` (see :class:`NonEdgeSampler`)."""
    return NonEdgeSampler(num_nodes, exclude).sample(count, generator)


def _first_unique(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    unique, inverse = torch.unique(codes, return_inverse=True)
    first = torch.full((unique.numel(),), codes.numel(), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(codes.numel()), reduce="amin")
    return unique, first


def link_split(data: Data, val: float = 0.05, test: float = 0.1, seed: int = 0) -> tuple[Data, Data, Data]:
    """Split the undirected edges of ``data`` into train / val / test graphs for link prediction.

    Each returned graph has ``edge_index`` (the edges message passing may use: train edges for train and val, train
    plus val edges for test), and ``pos_edge_label_index`` / ``neg_edge_label_index`` (one direction per pair, as
    many negatives as positives), with ``pos_edge_label`` / ``neg_edge_label`` (ones / zeros). Negatives are
    distinct unordered non-edges, disjoint across the three splits; training negatives are fixed with the split.
    """
    _check_fractions("link_split", val=val, test=test)
    if data.edge_index.numel() == 0:
        raise ValueError("link_split: the graph has no edges to split (edge_index is empty)")
    transform = RandomLinkSplit(
        num_val=val, num_test=test, is_undirected=True, add_negative_train_samples=False, neg_sampling_ratio=0.0,
        split_labels=True,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        splits = transform(data.clone())
    generator = torch.Generator().manual_seed(seed)
    sizes = [part.pos_edge_label_index.size(1) for part in splits]
    negatives = sample_non_edges(data.num_nodes, data.edge_index, sum(sizes), generator).split(sizes, dim=1)
    for part, neg in zip(splits, negatives, strict=True):
        part.neg_edge_label_index = neg
        part.neg_edge_label = torch.zeros(neg.size(1))
    return splits
