"""Mini-batch node classification for graphs too large for one full-batch pass.

Training draws ``batch_size`` seed nodes at a time and runs the model on their sampled neighbourhood (PyG's
``NeighborLoader``, one fan-out per propagation hop of the model, ``-1`` = all neighbours); the loss is the mean
over the seeds. Evaluation is layer-wise full inference: every layer is computed for all nodes, one batch of nodes
with its 1-hop neighbourhood at a time, so no L-hop subgraph is ever held (the model's ``inference`` method).

- MSG (:class:`msg.models.MSG`): GCN normalisation of a sampled subgraph uses the *full-graph* degrees of its
  nodes (carried as the node attribute ``deg``, see :func:`msg.ops.aggregate.gcn_degree`); with its own degrees
  the boundary nodes' messages would be normalised wrongly. Hops: encoder + one per manifold layer.
- SpikeNet: per-step neighbour samples keyed by global node id (:meth:`msg.models.spikenet.SpikeNet.sample`), so a
  subgraph draws what the whole graph would. Hops: its layers.
- SpikingGCN precomputes its propagated features on the whole graph once, so it batches over nodes without
  sampling.

Spiking state is per node: the neurons start from rest in every batch. With "all neighbours" sampling, the logits,
loss and gradients of a batch equal the full-batch ones at its seeds (tests/tasks/test_minibatch.py).

Data-parallel training (:mod:`msg.tasks.distributed`): every rank draws its own seeds (a ``DistributedSampler``
partition of the training nodes, reshuffled per epoch), gradients are averaged by ``DistributedDataParallel``
with each rank's loss scaled so that the average is the gradient of the mean over the union of the ranks' seeds,
and evaluation splits the nodes of every layer across ranks and sums the results (and the correct counts).
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler
from torch_geometric.data import Data
from tqdm.auto import tqdm

from msg.ops.aggregate import Subgraph, gcn_degree

SAMPLED_MODELS = ("msg", "spikenet")
NODE_BATCH_MODELS = ("spiking_gcn",)

__all__ = [
    "NodeBatches",
    "batch_forward",
    "layerwise_logits",
    "model_hops",
    "require_neighbor_loader",
    "resolve_num_neighbors",
    "train_node_classification_minibatch",
    "train_step",
]


def require_neighbor_loader() -> None:
    """Raise ImportError unless PyG's ``NeighborLoader`` can sample here (it needs torch-sparse or pyg-lib)."""
    import torch_geometric.typing as pyg_typing

    if not (pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE):
        raise ImportError(
            "mini-batch training samples neighbourhoods with PyG's NeighborLoader, which needs torch-sparse (or "
            "pyg-lib); install msg's scatter extra: pip install msg[scatter] (`make test` builds it)"
        )


def _kind(model: nn.Module) -> str:
    from msg.models.msg import MSG
    from msg.models.spikenet import SpikeNet
    from msg.models.spiking_gcn import SpikingGCN

    for cls, name in ((MSG, "msg"), (SpikeNet, "spikenet"), (SpikingGCN, "spiking_gcn")):
        if isinstance(model, cls):
            if name == "msg" and model.readout is None:
                raise ValueError("mini-batch training: MSG was built without out_channels (node classification only)")
            return name
    raise ValueError(
        f"mini-batch training supports {', '.join(SAMPLED_MODELS + NODE_BATCH_MODELS)}; got {type(model).__name__} "
        "(train it full-batch: leave batch_size unset)"
    )


def model_hops(model: nn.Module) -> int:
    """Graph hops whose neighbours a node's output depends on (0 for SpikingGCN: it precomputes them)."""
    return 0 if _kind(model) in NODE_BATCH_MODELS else int(model.num_hops)


def resolve_num_neighbors(num_neighbors: Sequence[int] | None, hops: int) -> list[int]:
    """Fan-out per hop, first hop (the seeds' neighbours) first; ``None`` = all neighbours at every hop."""
    if num_neighbors is None:
        return [-1] * hops
    values = list(num_neighbors)
    if len(values) != hops:
        raise ValueError(
            f"num_neighbors must give one fan-out per propagation hop of the model ({hops}), got {num_neighbors!r}"
        )
    if any(isinstance(k, bool) or not isinstance(k, int) or (k < 1 and k != -1) for k in values):
        raise ValueError(f"num_neighbors must hold positive ints or -1 (all neighbours), got {num_neighbors!r}")
    return values


def _indices(mask_or_index: Tensor, num_nodes: int, name: str) -> Tensor:
    if mask_or_index.dtype == torch.bool:
        if mask_or_index.shape != (num_nodes,):
            raise ValueError(f"split: {name} must be a mask of shape [{num_nodes}], got {tuple(mask_or_index.shape)}")
        return mask_or_index.nonzero().view(-1)
    return mask_or_index.view(-1).long()


def split_indices(split: Any, num_nodes: int) -> tuple[Tensor, Tensor, Tensor]:
    """(train, val, test) node indices from a split: an object or dict with ``train_mask``, ``val_mask`` and
    ``test_mask`` (boolean [N] masks, as :func:`msg.datasets.random_node_split` gives, or index tensors)."""
    parts = []
    for name in ("train_mask", "val_mask", "test_mask"):
        value = split.get(name) if isinstance(split, dict) else getattr(split, name, None)
        if not isinstance(value, Tensor):
            raise ValueError(f"split has no {name} (expected boolean node masks or index tensors)")
        parts.append(_indices(value, num_nodes, name))
    return parts[0], parts[1], parts[2]


class NodeBatches:
    """Seed batches and sampled subgraphs of one graph for one process.

    Args:
        data: the graph (``x``, ``edge_index``, ``y``), on the CPU.
        model: the model to feed (decides the hops and whether to sample).
        batch_size: seed nodes per training batch (and nodes per inference batch).
        num_neighbors: fan-out per hop (``None``: all neighbours), see :func:`resolve_num_neighbors`.
        train_nodes: the nodes to train on.
        rank, world_size: this process and the number of processes (each draws its own share of the seeds).
        seed: seeds the per-epoch shuffle (the same on every rank, so the shares partition the nodes).
        device: where the model runs (batches are sampled on the CPU and moved there). (default: CPU)
    """

    def __init__(
        self,
        data: Data,
        model: nn.Module,
        batch_size: int,
        num_neighbors: Sequence[int] | None,
        train_nodes: Tensor,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        device: torch.device | str | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank!r}")
        self.kind = _kind(model)
        self.data, self.batch_size, self.rank, self.world_size = data, batch_size, rank, world_size
        self.num_nodes = int(data.num_nodes)
        self.train_nodes = train_nodes
        self.device = torch.device("cpu") if device is None else torch.device(device)
        # the graph as the model reads it (the same objects on the CPU, so per-input caches hold)
        self.graph = data if self.device.type == "cpu" else Data(
            x=data.x.to(self.device), edge_index=data.edge_index.to(self.device), y=data.y.to(self.device)
        )
        self.sampler = DistributedSampler(
            range(train_nodes.numel()), num_replicas=world_size, rank=rank, shuffle=True, seed=seed
        )
        if self.kind in NODE_BATCH_MODELS:
            if num_neighbors is not None:
                raise ValueError(
                    f"num_neighbors must be None for {self.kind}: it precomputes its propagation on the whole graph "
                    f"and batches over nodes without sampling, got {num_neighbors!r}"
                )
            self.num_neighbors: list[int] = []
            self._train = DataLoader(train_nodes, batch_size=batch_size, sampler=self.sampler)
            return
        require_neighbor_loader()
        from torch_geometric.loader import NeighborLoader
        from torch_geometric.sampler import NeighborSampler

        self.num_neighbors = resolve_num_neighbors(num_neighbors, model_hops(model))
        degree = gcn_degree(data.edge_index, self.num_nodes)
        self.structure = Data(edge_index=data.edge_index, deg=degree, num_nodes=self.num_nodes)
        with warnings.catch_warnings():  # "without pyg-lib ... deprecated": torch-sparse samples here, as intended
            warnings.simplefilter("ignore", UserWarning)
            node_sampler = NeighborSampler(self.structure, num_neighbors=self.num_neighbors)  # one CSC for both
        self._one_hop = copy.copy(node_sampler)
        self._one_hop.num_neighbors = [-1]
        self.train_data = Data(x=data.x, y=data.y, edge_index=data.edge_index, deg=degree, num_nodes=self.num_nodes)
        self._train = NeighborLoader(
            self.train_data, self.num_neighbors, input_nodes=train_nodes, batch_size=batch_size,
            sampler=self.sampler, neighbor_sampler=node_sampler,
        )

    def train_batches(self, epoch: int) -> DataLoader:
        """This rank's batches of one epoch (a fresh shuffle per epoch, the same partition across ranks)."""
        self.sampler.set_epoch(epoch)
        return self._train

    def __len__(self) -> int:
        return len(self._train)

    def share(self, nodes: Tensor) -> Tensor:
        """This rank's contiguous share of ``nodes``."""
        return nodes.tensor_split(self.world_size)[self.rank]

    def subgraphs(self, nodes: Tensor) -> Iterator[Subgraph]:
        """The 1-hop subgraphs (all in-neighbours, full-graph degrees) of batches of ``nodes``, in order."""
        from torch_geometric.loader import NeighborLoader

        loader = NeighborLoader(
            self.structure, [-1], input_nodes=nodes, batch_size=self.batch_size, neighbor_sampler=self._one_hop
        )
        for batch in loader:
            batch = batch.to(self.device)
            yield Subgraph(batch.edge_index, batch.n_id, int(batch.batch_size), batch.deg)


def batch_forward(net: nn.Module, model: nn.Module, batch: Any, data: Data) -> tuple[Tensor, Tensor]:
    """(logits, labels) of a training batch's seed nodes; ``net`` is ``model`` or its DDP wrapper, ``data`` the
    graph on the model's device (:attr:`NodeBatches.graph`) and ``batch`` on that device too."""
    kind = _kind(model)
    if kind == "spiking_gcn":
        return net(data.x, data.edge_index, batch), data.y[batch]
    seeds = int(batch.batch_size)
    if kind == "msg":  # each layer only on the nodes the next one reads (half of a 3-hop sample is its outer hop)
        sub = Subgraph(batch.edge_index, batch.n_id, seeds, batch.deg)
        out = net(batch.x, sub.layer_adjacencies(model.num_hops) or sub.adjacency())
    else:
        out = net(batch.x, batch.edge_index, batch.n_id)
    return out[:seeds], batch.y[:seeds]


@torch.no_grad()
def layerwise_logits(
    model: nn.Module, batches: NodeBatches, nodes: Tensor, sync: Callable[[Tensor], None] | None = None
) -> Tensor:
    """Eval-mode logits of ``nodes`` (this rank computes the ones of ``batches.share(nodes)``, returned in that
    order) by layer-wise full inference; with several ranks, ``sync`` sums a layer's output across them."""
    model.eval()
    data, mine = batches.graph, batches.share(nodes)
    if batches.kind == "spiking_gcn":
        parts = [model(data.x, data.edge_index, chunk.to(data.x.device)) for chunk in mine.split(batches.batch_size)]
        return torch.cat(parts) if parts else data.x.new_zeros(0, model.out_channels)
    everyone = batches.share(torch.arange(batches.num_nodes))
    last = model.num_hops - 1

    def subgraphs(layer: int) -> Iterable[Subgraph]:
        return batches.subgraphs(mine if layer == last else everyone)

    return model.inference(data.x, subgraphs, sync)


def train_step(
    net: nn.Module, model: nn.Module, optimizer: torch.optim.Optimizer, batch: Any, graph: Data, world_size: int = 1
) -> Tensor:
    """One optimizer step on a batch; returns this rank's ``[loss sum, seeds]`` (float64).

    The loss is the cross-entropy summed over this rank's seeds, times ``world_size / (all ranks' seeds)``: DDP
    averages the ranks' gradients, which makes the step's gradient that of the mean loss over the union of the
    ranks' seeds (exactly, even when the ranks' batches differ in size)."""
    logits, labels = batch_forward(net, model, batch, graph)
    count = _all_reduce(torch.tensor(float(labels.numel()), dtype=torch.float64, device=logits.device), world_size)
    loss_sum = F.cross_entropy(logits, labels, reduction="sum")
    optimizer.zero_grad()
    (loss_sum * (world_size / float(count))).backward()
    optimizer.step()
    return torch.tensor([loss_sum.item(), labels.numel()], dtype=torch.float64)


def _all_reduce(tensor: Tensor, world_size: int) -> Tensor:
    if world_size > 1:
        import torch.distributed as dist

        dist.all_reduce(tensor)
    return tensor


def _no_buffer_sync() -> dict[str, bool]:
    """DDP's option for not broadcasting buffers before each forward (renamed in recent torch)."""
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    parameters = inspect.signature(DistributedDataParallel.__init__).parameters
    return {"forward_sync_buffers": False} if "forward_sync_buffers" in parameters else {"broadcast_buffers": False}


def _device(world_size: int) -> torch.device:
    """The CUDA device of this rank under an NCCL process group, else the CPU (as the full-batch runner)."""
    import torch.distributed as dist

    if world_size > 1 and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _resolve_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    import torch.distributed as dist

    initialised = dist.is_available() and dist.is_initialized()
    if world_size is None:
        world_size = dist.get_world_size() if initialised else 1
    if rank is None:
        rank = dist.get_rank() if initialised else 0
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size) with world_size >= 1, got rank={rank}, "
                         f"world_size={world_size}")
    if world_size > 1 and not initialised:
        raise RuntimeError(
            f"world_size={world_size} needs an initialised torch.distributed process group "
            "(use msg.tasks.distributed.launch or torchrun)"
        )
    return rank, world_size


def train_node_classification_minibatch(
    cfg: Any, data: Data, split: Any, seed: int, *, rank: int | None = None, world_size: int | None = None
) -> dict:
    """One run of mini-batch node classification; the same result dict as
    :func:`msg.tasks.runner.train_node_classification` (seed, val, test, best_epoch, epoch_time_s, history,
    num_params, model).

    Args:
        cfg: a :class:`~msg.tasks.config.TrainConfig`; uses ``batch_size`` (required), ``num_neighbors`` (one fan-out
            per hop of the model, -1 = all; ``None``: all neighbours), the model settings, ``lr``,
            ``weight_decay``, ``epochs``, ``eval_every`` and ``patience``.
        data: the whole graph (CPU tensors).
        split: boolean ``train_mask``, ``val_mask``, ``test_mask`` (attributes or dict keys) or index tensors.
        seed: seeds the parameters, the shuffles and the samples.
        rank, world_size: this process among ``world_size`` data-parallel ones; ``None`` reads them from the
            initialised ``torch.distributed`` process group (1 process without one).

    Every rank returns the same metrics (counts are all-reduced); the model is the unwrapped module at the
    best validation evaluation, identical on every rank.
    """
    from msg.tasks.runner import _loop, _optimizer, build_model, count_parameters

    rank, world_size = _resolve_world(rank, world_size)
    if cfg.batch_size is None:
        raise ValueError("mini-batch training needs batch_size (seed nodes per batch), got None")
    if getattr(cfg, "task", "nc") != "nc":
        raise ValueError(f"mini-batch training covers node classification (task 'nc'), got task={cfg.task!r}")
    train_nodes, val_nodes, test_nodes = split_indices(split, int(data.num_nodes))
    device = _device(world_size)
    torch.manual_seed(seed)
    model = build_model(cfg, data.num_features, int(data.y.max()) + 1).to(device)
    if getattr(model, "auxiliary_loss", None) is not None:
        raise ValueError(f"mini-batch training does not support a model with an auxiliary loss ({cfg.model!r})")
    batches = NodeBatches(data, model, cfg.batch_size, cfg.num_neighbors, train_nodes, rank, world_size, seed, device)
    graph = batches.graph
    net: nn.Module = model
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        # neuron state buffers are per batch (reset in every forward): nothing to broadcast
        net = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, **_no_buffer_sync()
        )
        torch.manual_seed(seed + 1_000_003 * rank)  # own dropout masks and samples per rank
    optimizer = _optimizer(cfg, model.parameters())
    epoch = [0]

    def step() -> float:
        net.train()
        total = torch.zeros(2, dtype=torch.float64)  # loss sum, seeds
        show = rank == 0 and len(batches) > 1
        for batch in tqdm(batches.train_batches(epoch[0]), desc="batches", leave=False, disable=None if show else True):
            total += train_step(net, model, optimizer, batch.to(device), graph, world_size)
        epoch[0] += 1
        total = _all_reduce(total.to(device), world_size).cpu()
        return float(total[0] / total[1]) if total[1] > 0 else math.nan

    eval_nodes = torch.cat([val_nodes, test_nodes])
    is_val = torch.zeros(eval_nodes.numel(), dtype=torch.bool)
    is_val[: val_nodes.numel()] = True

    @torch.no_grad()
    def evaluate() -> tuple[float, float]:
        sync = (lambda t: _all_reduce(t, world_size)) if world_size > 1 else None
        logits = layerwise_logits(model, batches, eval_nodes, sync).cpu()
        mine_val = batches.share(is_val)
        correct = logits.argmax(-1) == data.y[batches.share(eval_nodes)]
        counts = torch.tensor(
            [correct[mine_val].sum(), mine_val.sum(), correct[~mine_val].sum(), (~mine_val).sum()],
            dtype=torch.float64,
        )
        counts = _all_reduce(counts.to(device), world_size).cpu()
        val = float(counts[0] / counts[1]) if counts[1] else math.nan
        test = float(counts[2] / counts[3]) if counts[3] else math.nan
        return val, test

    start = time.perf_counter()
    result = _loop(cfg, model, step, evaluate, f"run seed={seed}" + (f" rank={rank}" if world_size > 1 else ""))
    result["total_time_s"] = time.perf_counter() - start
    return {"seed": seed, **result, "num_params": count_parameters(model), "model": model}
