"""Node and link splits: deterministic per seed, correct sizes, and no leakage."""

from __future__ import annotations

import pytest
import torch
from msg.datasets import link_split, load_dataset, random_node_split


@pytest.fixture(scope="module")
def cora():
    return load_dataset("cora")


def test_random_node_split_sizes_and_determinism(cora) -> None:
    a = random_node_split(cora, train=0.1, val=0.1, seed=3)
    b = random_node_split(cora, train=0.1, val=0.1, seed=3)
    c = random_node_split(cora, train=0.1, val=0.1, seed=4)
    n = cora.num_nodes
    assert int(a.val_mask.sum()) == round(0.1 * n) and int(a.test_mask.sum()) == round(0.8 * n)
    assert int((a.train_mask | a.val_mask | a.test_mask).sum()) == n
    assert not (a.train_mask & a.val_mask).any() and not (a.train_mask & a.test_mask).any()
    assert torch.equal(a.train_mask, b.train_mask) and not torch.equal(a.train_mask, c.train_mask)
    assert torch.equal(cora.train_mask, load_dataset("cora").train_mask), "the input must not be modified"


@pytest.mark.parametrize("bad", [dict(train=0.0), dict(train=0.6, val=0.5), dict(val=1.2)])
def test_random_node_split_rejects_bad_fractions(cora, bad) -> None:
    with pytest.raises(ValueError, match="random_node_split"):
        random_node_split(cora, **bad)


def _pairs(edge_index: torch.Tensor) -> set[tuple[int, int]]:
    lo = torch.minimum(edge_index[0], edge_index[1])
    hi = torch.maximum(edge_index[0], edge_index[1])
    return set(zip(lo.tolist(), hi.tolist(), strict=True))


def test_link_split_has_no_leakage(cora) -> None:
    train, val, test = link_split(cora, val=0.05, test=0.1, seed=0)
    all_pos = _pairs(cora.edge_index)
    pos = {name: _pairs(d.pos_edge_label_index) for name, d in (("train", train), ("val", val), ("test", test))}
    neg = {name: _pairs(d.neg_edge_label_index) for name, d in (("train", train), ("val", val), ("test", test))}
    assert len(pos["val"]) == int(0.05 * len(all_pos)) and len(pos["test"]) == int(0.1 * len(all_pos))
    assert pos["train"] | pos["val"] | pos["test"] == all_pos
    # message passing for training (and validation) sees only training edges, in both directions
    assert _pairs(train.edge_index) == pos["train"] and _pairs(val.edge_index) == pos["train"]
    assert _pairs(test.edge_index) == pos["train"] | pos["val"]
    for name, negatives in neg.items():
        assert not negatives & all_pos, f"{name} negatives include a positive edge"
        assert all(a != b for a, b in negatives)
    assert not neg["train"] & neg["val"] and not neg["train"] & neg["test"] and not neg["val"] & neg["test"]
    for name, d in (("train", train), ("val", val), ("test", test)):
        assert len(neg[name]) == d.neg_edge_label_index.size(1), f"duplicate {name} negatives (either direction)"


def test_link_split_rejects_empty_graph(cora) -> None:
    empty = cora.clone()
    empty.edge_index = torch.empty(2, 0, dtype=torch.long)
    with pytest.raises(ValueError, match="no edges"):
        link_split(empty)


def test_non_edge_sampler_draws_exactly_the_allowed_pairs() -> None:
    from msg.datasets import NonEdgeSampler

    exclude = torch.tensor([[0, 2, 3, 4, 1], [1, 1, 0, 4, 0]])  # (0,1) twice, a self-loop, (1,2), (0,3)
    sampler = NonEdgeSampler(5, exclude)
    assert sampler.available == 10 - 3
    everything = _pairs(sampler.sample(7, torch.Generator().manual_seed(0)))
    assert everything == {(a, b) for a in range(5) for b in range(a + 1, 5)} - {(0, 1), (1, 2), (0, 3)}
    with pytest.raises(ValueError, match="only 7 allowed non-edges, 8 are needed"):
        sampler.sample(8, torch.Generator())
    draws = [sampler.sample(2, torch.Generator().manual_seed(s)) for s in range(2)]
    assert not torch.equal(draws[0], draws[1]), "different seeds, different draws"
