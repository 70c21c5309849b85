"""Data-parallel training: two CPU processes (gloo, a free localhost port) started by msg.tasks.distributed.launch.

Each rank trains on its own seeds; after every step the parameters are identical across ranks, and the step's loss
and (DDP-averaged) gradients equal a single process's on the union of both ranks' batches.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("torch_sparse")

from msg.tasks import distributed  # noqa: E402
from msg.tasks.distributed import launch  # noqa: E402

STEPS = 3


def _graph():
    from test_minibatch import random_graph  # the same directory: importable here and in spawned ranks

    return random_graph(seed=1)


def _model():
    from msg.models import MSG

    torch.manual_seed(0)
    return MSG(10, 8, 4, T=5, num_layers=2, step_size=0.5, v_threshold=0.3, dropout=0.0).double()


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def rank_target(cfg: SimpleNamespace, progress: bool = False) -> dict:
    """Runs on every rank: STEPS DDP steps recorded to ``cfg.out/rank{r}.pt``, then the trainer itself."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from msg.tasks.config import TrainConfig
    from msg.tasks.minibatch import NodeBatches, _no_buffer_sync, train_node_classification_minibatch, train_step

    rank, world = dist.get_rank(), dist.get_world_size()
    graph, model = _graph(), _model()
    train = graph.train_mask.nonzero().view(-1)
    # all neighbours: each rank's seeds get their full-graph outputs, as the union does in one process
    batches = NodeBatches(graph, model, 7, None, train, rank=rank, world_size=world, seed=5)
    net = DistributedDataParallel(model, **_no_buffer_sync())
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    record: dict[str, list] = {"seeds": [], "loss": [], "grad": [], "params": []}
    for step, batch in enumerate(batches.train_batches(0)):
        if step == STEPS:
            break
        loss_sum, count = train_step(net, model, optimizer, batch, graph, world)
        total = torch.stack([loss_sum, count]).double()
        dist.all_reduce(total)
        record["seeds"].append(batch.n_id[: batch.batch_size].clone())
        record["loss"].append(float(total[0] / total[1]))
        record["grad"].append(_flat(p.grad for p in model.parameters()))
        record["params"].append(_flat(model.parameters()))
    torch.save(record, Path(cfg.out) / f"rank{rank}.pt")

    float_graph = graph.clone()
    float_graph.x = float_graph.x.float()
    train_cfg = TrainConfig(T=4, hidden=8, layers=1, epochs=2, lr=0.03, batch_size=16, num_neighbors=[5, 5],
                            credit="dvm", v_threshold=0.5)
    result = train_node_classification_minibatch(train_cfg, float_graph, float_graph, seed=0)
    params = _flat(result.pop("model").parameters())
    torch.save({"result": result, "params": params}, Path(cfg.out) / f"trainer{rank}.pt")
    return {"rank": rank, "world_size": world, "val": result["val"], "test": result["test"]}


def single_process_replay(records: list[dict]) -> None:
    """The same steps in one process: each on the union of both ranks' seeds, with all their neighbourhoods."""
    from torch_geometric.loader import NeighborLoader

    from msg.ops.aggregate import Subgraph, gcn_degree

    graph, model = _graph(), _model()
    degree = gcn_degree(graph.edge_index, graph.num_nodes)
    data = graph.clone()
    data.deg = degree
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for step in range(STEPS):
        union = torch.cat([r["seeds"][step] for r in records])
        (batch,) = NeighborLoader(data, [-1, -1, -1], input_nodes=union, batch_size=union.numel())
        seeds = int(batch.batch_size)
        assert torch.equal(batch.n_id[:seeds], union)
        logits = model(batch.x, Subgraph(batch.edge_index, batch.n_id, seeds, batch.deg).adjacency())[:seeds]
        loss = torch.nn.functional.cross_entropy(logits, batch.y[:seeds])
        optimizer.zero_grad()
        loss.backward()
        grad = _flat(p.grad for p in model.parameters())
        for r in records:
            assert r["loss"][step] == pytest.approx(loss.item(), rel=1e-12), step
            torch.testing.assert_close(r["grad"][step], grad, rtol=1e-9, atol=1e-12)
        optimizer.step()
        torch.testing.assert_close(records[0]["params"][step], _flat(model.parameters()), rtol=1e-9, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Using 'NeighborSampler' without a 'pyg-lib':UserWarning")  # torch-sparse samples
def test_two_processes_match_one_process_on_the_union_batch(tmp_path: Path) -> None:
    result = launch(SimpleNamespace(out=str(tmp_path), batch_size=7), 2, target=rank_target)
    assert result["rank"] == 0 and result["world_size"] == 2  # rank 0's document comes back
    records = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for step in range(STEPS):
        a, b = (r["seeds"][step] for r in records)
        assert a.numel() == b.numel() == 7 and not set(a.tolist()) & set(b.tolist())  # disjoint shares
        assert torch.equal(records[0]["params"][step], records[1]["params"][step])  # bitwise, every step
        assert records[0]["loss"][step] == records[1]["loss"][step]
    single_process_replay(records)

    trained = [torch.load(tmp_path / f"trainer{r}.pt") for r in range(2)]
    assert torch.equal(trained[0]["params"], trained[1]["params"])
    for key in ("val", "test", "best_epoch"):
        assert trained[0]["result"][key] == trained[1]["result"][key]
    assert trained[0]["result"]["history"]["loss"] == trained[1]["result"]["history"]["loss"]
    assert result["val"] == trained[0]["result"]["val"]


def test_one_process_runs_in_place_and_bad_settings() -> None:
    calls = []
    assert launch("cfg", 1, target=lambda cfg, progress: calls.append(cfg) or {"ok": progress}) == {"ok": True}
    assert calls == ["cfg"]
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match=f"nproc must be an integer >= 1, got {bad!r}"):
            launch(SimpleNamespace(batch_size=8), bad)
    with pytest.raises(ValueError, match="set batch_size"):
        launch(SimpleNamespace(batch_size=None), 2)


def test_run_from_env_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in distributed.ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(RuntimeError, match="WORLD_SIZE, MASTER_ADDR, MASTER_PORT not set"):
        distributed.run_from_env(object())
    assert "RANK" in os.environ
