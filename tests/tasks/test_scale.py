"""benchmarks/scale.py: the synthetic power-law graph generator and one mini-batch epoch on a 2,000-node graph."""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("torch_sparse")


@pytest.fixture(scope="module")
def scale(load_benchmark):
    return load_benchmark("scale")


def test_power_law_graph(scale) -> None:
    data = scale.power_law_graph(5_000, 120_000, seed=3)
    ei = data.edge_index
    assert ei.shape == (2, 120_000) and ei.dtype == torch.long and 0 <= int(ei.min()) and int(ei.max()) < 5_000
    assert torch.equal(ei[:, 60_000:], ei.flip(0)[:, :60_000])  # both directions of every pair
    assert data.x.shape == (5_000, scale.FEATURES) and int(data.y.max()) < scale.CLASSES
    assert int(data.train_mask.sum()) == 400  # 8%
    stats = scale.degree_stats(ei, 5_000)
    assert stats["mean_in_degree"] == pytest.approx(24.0)
    assert stats["max_in_degree"] > 8 * stats["mean_in_degree"]  # heavy tail
    degree = torch.bincount(ei[1], minlength=5_000).double().sort(descending=True).values
    slope = torch.log(degree[10] / degree[1000]) / math.log(1000 / 10)  # degree ~ rank^-1/(gamma-1) for rank >> i0
    assert 0.3 < float(slope) < 0.8
    again = scale.power_law_graph(5_000, 120_000, seed=3)
    assert torch.equal(again.edge_index, ei) and torch.equal(again.x, data.x)
    with pytest.raises(ValueError, match="even num_edges"):
        scale.power_law_graph(10, 7)


def test_one_epoch_on_2000_nodes(scale) -> None:
    torch.manual_seed(0)
    data = scale.power_law_graph(2_000, 50_000)
    model = scale.build_model(T=4, hidden=8)
    epoch = scale.train_epoch(data, model, batch_size=64, num_neighbors=[10, 10, 10], progress=False)
    assert epoch["batches"] == epoch["batches_timed"] == 3 and not epoch["extrapolated"]  # 160 seeds
    assert epoch["train_nodes"] == 160 and epoch["nodes_per_s"] > 0
    assert 64 < epoch["sampled_nodes_per_batch"] <= 2_000
    assert math.isfinite(epoch["last_loss"])
    short = scale.train_epoch(data, model, batch_size=16, num_neighbors=[2, 2, 2], budget_s=0.0, progress=False)
    assert short["batches_timed"] == 1 and short["extrapolated"] and short["epoch_s"] == pytest.approx(
        short["timed_s"] * short["batches"]
    )
