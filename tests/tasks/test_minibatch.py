"""Mini-batch training and layer-wise inference: with "all neighbours" sampling they equal the full-batch forward.

Float64 models, dropout off. A batch's seeds get the full-batch logits, loss and gradients; layer-wise inference
(node batches of 1-hop subgraphs) gives the full-batch eval logits of every node.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("torch_sparse")

from torch_geometric.data import Data  # noqa: E402

from msg.models import MSG  # noqa: E402
from msg.models.spikenet import SpikeNet  # noqa: E402
from msg.models.spiking_gcn import SpikingGCN  # noqa: E402
from msg.tasks.config import TrainConfig  # noqa: E402
from msg.tasks.minibatch import (  # noqa: E402
    NodeBatches,
    batch_forward,
    layerwise_logits,
    resolve_num_neighbors,
    train_node_classification_minibatch,
)

N, FEATURES, CLASSES = 150, 10, 4
TIGHT = dict(rtol=1e-9, atol=1e-11)


def random_graph(seed: int = 0) -> Data:
    """An undirected random graph with duplicate edges, a few self loops and five isolated nodes."""
    g = torch.Generator().manual_seed(seed)
    m = N - 5
    src, dst = torch.randint(0, m, (3 * N,), generator=g), torch.randint(0, m, (3 * N,), generator=g)
    edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)
    x = torch.rand(N, FEATURES, generator=g, dtype=torch.float64) * (torch.rand(N, FEATURES, generator=g) < 0.6)
    y = torch.randint(0, CLASSES, (N,), generator=g)
    order = torch.randperm(N, generator=g)
    masks = [torch.zeros(N, dtype=torch.bool) for _ in range(3)]
    for mask, part in zip(masks, (order[:50], order[50:90], order[90:]), strict=True):
        mask[part] = True
    return Data(x=x, edge_index=edge_index, y=y, train_mask=masks[0], val_mask=masks[1], test_mask=masks[2])


@pytest.fixture(scope="module")
def graph() -> Data:
    return random_graph()


def make(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if name == "msg":
        model = MSG(FEATURES, 8, CLASSES, T=6, num_layers=2, step_size=0.5, v_threshold=0.3, dropout=0.0)
    elif name == "msg_bptt":
        model = MSG(FEATURES, 8, CLASSES, T=4, num_layers=2, step_size=0.5, v_threshold=0.3, dropout=0.0,
                    credit="bptt")
    elif name == "msg_sphere_1layer":
        model = MSG(FEATURES, 8, CLASSES, manifold="sphere", T=4, num_layers=1, step_size=0.5, v_threshold=0.3,
                    dropout=0.0)
    elif name == "spikenet":
        model = SpikeNet(FEATURES, 8, CLASSES, T=4, num_layers=2, num_neighbors=(3, 2), v_threshold=0.1, dropout=0.0)
    else:
        model = SpikingGCN(FEATURES, CLASSES, T=5, K=2, v_threshold=0.5)
    return model.double()


def full_logits(model: torch.nn.Module, data: Data) -> torch.Tensor:
    if isinstance(model, SpikeNet):  # keyed samples: the same draws as any subgraph holding a node's in-edges
        return model(data.x, data.edge_index, torch.arange(data.num_nodes))
    return model(data.x, data.edge_index)


def one_batch(model: torch.nn.Module, data: Data) -> tuple[NodeBatches, object]:
    """All training seeds in one batch, all neighbours at every hop."""
    train = data.train_mask.nonzero().view(-1)
    batches = NodeBatches(data, model, batch_size=train.numel(), num_neighbors=None, train_nodes=train)
    (batch,) = list(batches.train_batches(0))
    return batches, batch


@pytest.fixture
def constant_rate_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """SpikingGCN's Bernoulli code with every uniform draw 0.5: spikes where the rate exceeds 1/2, the same spike
    trains however the nodes are batched (its draws are otherwise ordered step-major over all nodes)."""
    monkeypatch.setattr(torch, "rand", lambda *size, dtype=None, **kw: torch.full(size, 0.5, dtype=dtype))


def _seeds(batch: object) -> torch.Tensor:
    return batch if isinstance(batch, torch.Tensor) else batch.n_id[: batch.batch_size]


@pytest.mark.parametrize("name", ["msg", "msg_bptt", "msg_sphere_1layer", "spikenet", "spiking_gcn"])
@pytest.mark.parametrize("training", [True, False])
def test_one_batch_equals_full_batch_logits_loss_and_gradients(graph, constant_rate_code, name, training) -> None:
    model = make(name)
    model.train(training)
    batches, batch = one_batch(model, graph)
    seeds = _seeds(batch)
    assert sorted(seeds.tolist()) == graph.train_mask.nonzero().view(-1).tolist()

    torch.manual_seed(7)
    reference = full_logits(model, graph)
    loss_ref = F.cross_entropy(reference[seeds], graph.y[seeds])
    grads_ref = torch.autograd.grad(loss_ref, list(model.parameters()))
    torch.manual_seed(7)
    logits, labels = batch_forward(model, model, batch, graph)
    loss = F.cross_entropy(logits, labels)
    grads = torch.autograd.grad(loss, list(model.parameters()))

    assert torch.equal(labels, graph.y[seeds])
    torch.testing.assert_close(logits, reference[seeds], **TIGHT)
    torch.testing.assert_close(loss, loss_ref, **TIGHT)
    for (pname, _), g, g_ref in zip(model.named_parameters(), grads, grads_ref, strict=True):
        assert g_ref.abs().sum() > 0, pname
        torch.testing.assert_close(g, g_ref, **TIGHT, msg=lambda m, p=pname: f"{p}: {m}")
    if name.startswith("msg"):  # the comparison is not vacuous: every layer fires
        model.eval()
        model.encode(graph.x, graph.edge_index)
        assert all(s.sum() > 0 for s in model.spikes[:-1])


def test_msg_batches_run_each_layer_only_on_the_nodes_the_next_one_reads(graph, monkeypatch) -> None:
    """The equality above goes through trimmed layers: a sampled 3-hop batch has fewer rows at every layer."""
    from msg.ops.aggregate import Subgraph

    built = []
    original = Subgraph.layer_adjacencies
    monkeypatch.setattr(Subgraph, "layer_adjacencies", lambda self, k: built.append(original(self, k)) or built[-1])
    model = make("msg").train()
    train = graph.train_mask.nonzero().view(-1)[:8]
    batches = NodeBatches(graph, model, batch_size=8, num_neighbors=[2, 2, 2], train_nodes=train)
    (batch,) = list(batches.train_batches(0))
    logits, _ = batch_forward(model, model, batch, graph)
    assert logits.shape == (8, CLASSES)
    (layers,) = built
    rows = [a.num_rows for a in layers]
    assert rows[-1] == 8 and rows == sorted(rows, reverse=True) and rows[0] < batch.num_nodes
    assert [a.num_nodes for a in layers] == [batch.num_nodes, *rows[:-1]]


@pytest.mark.parametrize("name", ["msg", "msg_sphere_1layer", "spikenet", "spiking_gcn"])
def test_layerwise_inference_equals_full_batch_eval(graph, constant_rate_code, name) -> None:
    model = make(name).eval()
    train = graph.train_mask.nonzero().view(-1)
    batches = NodeBatches(graph, model, batch_size=16, num_neighbors=None, train_nodes=train)  # 10 node batches
    nodes = torch.randperm(N, generator=torch.Generator().manual_seed(1))[:70]
    with torch.no_grad():
        torch.manual_seed(3)
        reference = full_logits(model, graph)
        torch.manual_seed(3)
        logits = layerwise_logits(model, batches, nodes)
    assert logits.shape == (70, CLASSES)
    torch.testing.assert_close(logits, reference[nodes], **TIGHT)


def test_subgraph_degrees_matter(graph) -> None:
    """With the subgraph's own degrees (what PyG's GCN normalisation on a batch would use), boundary nodes are
    normalised wrongly and the seeds' logits differ; the full-graph degrees give the full-batch logits."""
    from msg.ops.aggregate import Adjacency

    model = make("msg_sphere_1layer").eval()
    train = graph.train_mask.nonzero().view(-1)
    batch = next(iter(NodeBatches(graph, model, 2, None, train).train_batches(0)))  # 2 seeds, all neighbours
    seeds = int(batch.batch_size)
    assert batch.n_id.numel() < N - 5  # the 2-hop neighbourhood has a boundary
    with torch.no_grad():
        reference = model(graph.x, graph.edge_index)[batch.n_id[:seeds]]
        own = model(batch.x, Adjacency(batch.edge_index, batch.n_id.numel()))[:seeds]
        full = batch_forward(model, model, batch, graph)[0]
    torch.testing.assert_close(full, reference, **TIGHT)
    assert (own - reference).abs().max() > 1e-3


def test_sampled_batches_cover_every_seed_once_per_epoch(graph) -> None:
    model = make("msg")
    train = graph.train_mask.nonzero().view(-1)
    batches = NodeBatches(graph, model, batch_size=8, num_neighbors=[3, 2, 2], train_nodes=train, seed=4)
    epochs = []
    for epoch in range(2):
        seeds = [_seeds(b) for b in batches.train_batches(epoch)]
        assert [s.numel() for s in seeds] == [8] * 6 + [2]
        epochs.append(torch.cat(seeds))
        assert sorted(epochs[-1].tolist()) == train.tolist()
    assert not torch.equal(epochs[0], epochs[1])  # reshuffled per epoch
    batch = next(iter(batches.train_batches(0)))
    # fan-out 3 at the first hop: at most 3 sampled in-edges per seed
    into_seeds = batch.edge_index[1] < batch.batch_size
    assert torch.bincount(batch.edge_index[1, into_seeds], minlength=8).max() <= 3


def test_trainer_returns_the_runner_fields(graph) -> None:
    graph = graph.clone()
    graph.x = graph.x.float()
    cfg = TrainConfig(T=4, hidden=8, layers=1, epochs=3, lr=0.03, batch_size=16, num_neighbors=[5, 5], credit="dvm",
                      v_threshold=0.5)
    first = train_node_classification_minibatch(cfg, graph, graph, seed=0)
    assert set(first) >= {"seed", "val", "test", "best_epoch", "epoch_time_s", "history", "num_params", "model"}
    assert first["history"]["epoch"] == [1, 2, 3] and all(0 <= v <= 1 for v in first["history"]["val"])
    assert first["val"] == max(first["history"]["val"]) and first["num_params"] > 0
    again = train_node_classification_minibatch(cfg, graph, graph, seed=0)
    assert again["history"]["loss"] == first["history"]["loss"]  # seeded


def test_trainer_on_cora_learns() -> None:
    from msg.datasets import load_dataset

    cora = load_dataset("cora")
    cfg = TrainConfig(T=5, hidden=16, layers=1, epochs=6, lr=0.03, batch_size=70, num_neighbors=[10, 10],
                      credit="dvm", v_threshold=1.0, eval_every=3)
    result = train_node_classification_minibatch(cfg, cora, cora, seed=0)
    assert result["test"] > 0.6, result["test"]


def test_bad_settings(graph, monkeypatch: pytest.MonkeyPatch) -> None:
    train = graph.train_mask.nonzero().view(-1)
    model = make("msg")
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        NodeBatches(graph, model, 0, None, train)
    with pytest.raises(ValueError, match=r"one fan-out per propagation hop of the model \(3\), got \[5, 5\]"):
        NodeBatches(graph, model, 8, [5, 5], train)
    with pytest.raises(ValueError, match="num_neighbors must be None for spiking_gcn"):
        NodeBatches(graph, make("spiking_gcn"), 8, [5, 5], train)
    with pytest.raises(ValueError, match="positive ints or -1"):
        resolve_num_neighbors([5, 0], 2)
    with pytest.raises(ValueError, match="needs batch_size"):
        train_node_classification_minibatch(TrainConfig(), graph, graph, 0)
    with pytest.raises(ValueError, match="supports msg, spikenet, spiking_gcn; got GCN"):
        train_node_classification_minibatch(TrainConfig(model="gcn", batch_size=8, epochs=1), graph, graph, 0)
    with pytest.raises(ValueError, match="split has no val_mask"):
        train_node_classification_minibatch(TrainConfig(batch_size=8), graph, {"train_mask": train}, 0)
    import torch_geometric.typing as pyg_typing

    monkeypatch.setattr(pyg_typing, "WITH_TORCH_SPARSE", False)
    monkeypatch.setattr(pyg_typing, "WITH_PYG_LIB", False)
    with pytest.raises(ImportError, match=r"pip install msg\[scatter\]"):
        NodeBatches(graph, model, 8, None, train)


def test_msg_rejects_per_layer_graphs_that_do_not_chain(graph) -> None:
    from msg.ops.aggregate import Adjacency

    model = make("msg")
    x = graph.x
    good = [Adjacency(graph.edge_index, N, rows=r) for r in (N, N, N)]
    with pytest.raises(ValueError, match="a list of 3 Adjacency objects"):
        model(x, good[:2])
    with pytest.raises(ValueError, match="a list of 3 Adjacency objects"):
        model(x, [good[0], good[1], graph.edge_index])
    with pytest.raises(ValueError, match=f"the first layer's graph has 40 nodes, x has {N}"):
        model(x, [Adjacency(graph.edge_index[:, (graph.edge_index < 40).all(0)], 40), *good[1:]])
    cut = Adjacency(graph.edge_index, N, rows=60)
    with pytest.raises(ValueError, match="layer 1's graph reads 150 nodes, layer 0 gives 60"):
        model(x, [cut, *good[1:]])
    assert model(x, good).shape == (N, CLASSES)  # untrimmed per-layer graphs: the whole graph's logits
