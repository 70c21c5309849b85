r"""SpikeNet on a static graph: sampled neighbourhood aggregation feeding spiking neurons at every time step, and a
linear readout of the spike trains (Li, Yu, Zheng & Li, "Scaling Up Dynamic Graph Representation Learning via
Spiking Neural Networks", AAAI 2023, https://arxiv.org/abs/2208.10364).

SpikeNet reads one snapshot of a dynamic graph per time step. On a static graph (the form the MSG paper compares
with) every step sees the same graph and the same features, and what changes from step to step is the neighbour
sample: at step :math:`t`, layer :math:`l` draws :math:`k_l` in-neighbours of each node uniformly with replacement,
:math:`\mathcal{N}_t(i)`, and

.. math::
    I^{l}_{t,i} = W^{l}_{self}\, s^{l-1}_{t,i} + b^{l} + W^{l}_{neigh}\,
    \frac{1}{k_l}\sum_{j \in \mathcal{N}_t(i)} s^{l-1}_{t,j}, \qquad
    s^{l}_{1..T} = \text{Neuron}\big(I^{l}_{1..T}\big), \qquad s^{0}_{t} = x, \qquad
    \hat y_i = W_{out}\,\big[s^{L}_{1,i} \,\|\, \dots \,\|\, s^{L}_{T,i}\big] + b_{out}

(the GraphSAGE-style aggregator of SpikeNet with self and neighbour weights; the readout concatenates the last
layer's spikes over time). The T samples of a layer form one block-diagonal sparse matrix over the :math:`T |V|`
node-steps, so each layer aggregates all steps in one sparse product (:func:`msg.ops.aggregate.propagate`); the
neighbour projection is applied before the aggregation (it commutes with the mean). Samples are drawn in eval
mode as well, as SpikeNet does at inference. Nodes without in-neighbours aggregate zero. Given the global ids of
a (sub)graph's nodes, the samples are keyed by node id instead of drawn in sequence (:meth:`SpikeNet.sample`), so
mini-batches and layer-wise inference (:mod:`msg.tasks.minibatch`) draw what the whole graph would.

The neurons are :mod:`msg.neurons`' LIF or IF with a fixed time constant and a fixed threshold. SpikeNet's own
neurons lower their threshold by a factor 0.7 per silent step from 1 (to 0.17 after five steps); a fixed threshold
of 1 left every neuron silent on Cora (currents of about 0.07 at initialisation, 32% accuracy after 30 epochs,
the majority class), hence the low default threshold 0.1 (78.5% after 30 epochs).

The time loop of every layer is the credit method's (:mod:`msg.credit`): ``bptt``, ``tbptt:k``,
``checkpoint:m``, ``ottt`` or ``rate`` differentiate each layer's neuron loop (through
:meth:`~msg.credit.CreditMethod.spike`: the sampled aggregation changes from step to step, so it is not a
step-invariant transform, and the currents before the neurons stay in autograd); ``dvm`` is refused (no manifold
path). Node classification only (as in the MSG paper's comparison).

Shapes:
    - **input:** x :math:`(|V|, F)`, ``edge_index`` :math:`(2, |E|)`
    - **output:** logits :math:`(|V|, C)`; :meth:`SpikeNet.spikes` gives the last layer's spikes
      :math:`(T, |V|, D)`
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from msg.credit import CreditMethod, get_credit
from msg.neurons import get_neuron
from msg.ops.aggregate import Adjacency, Subgraph, propagate, to_edge_index

_MASK32 = 0xFFFFFFFF


def _mix32(x: Tensor) -> Tensor:
    """An integer hash of 32-bit values held in int64 (xor-shift and multiply rounds; products wrap in int64 and
    the mask keeps their exact low 32 bits)."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _MASK32
    return x ^ (x >> 16)

__all__ = ["SpikeNet", "build"]


class SpikeNet(nn.Module):
    r"""Static-graph SpikeNet (module docstring).

    Args:
        in_channels (int): input features F.
        hidden_channels (int): spiking neurons D per layer.
        out_channels (int): classes C.
        T (int): time steps. (default: :obj:`5`)
        num_layers (int): spiking layers L >= 1. (default: :obj:`2`)
        num_neighbors (int or sequence of int): neighbours sampled per node and step, one value for every layer
            or one per layer (first layer first). (default: :obj:`5`)
        neuron (str): ``"LIF"`` or ``"IF"``. (default: :obj:`"LIF"`)
        tau (float): LIF membrane time constant. (default: :obj:`2.0`)
        v_threshold (float): firing threshold (module docstring). (default: :obj:`0.1`)
        dropout (float): dropout on the concatenated spike trains before the readout. (default: :obj:`0.5`)
        credit (str or CreditMethod): temporal credit assignment, see :func:`msg.credit.get_credit`.
            (default: :obj:`"bptt"`)

    Shapes:
        - **input:** x :math:`(|V|, F)`, ``edge_index`` :math:`(2, |E|)`; **output:** :math:`(|V|, C)`
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        T: int = 5,
        num_layers: int = 2,
        num_neighbors: int | Sequence[int] = 5,
        neuron: str = "LIF",
        tau: float = 2.0,
        v_threshold: float = 0.1,
        dropout: float = 0.5,
        credit: str | CreditMethod = "bptt",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        sizes = {"in_channels": in_channels, "hidden_channels": hidden_channels, "out_channels": out_channels,
                 "T": T, "num_layers": num_layers}
        for arg, value in sizes.items():
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name}: {arg} must be an integer >= 1, got {value!r}")
        counts = [num_neighbors] * num_layers if isinstance(num_neighbors, int) else list(num_neighbors)
        if len(counts) != num_layers or any(isinstance(k, bool) or int(k) != k or k < 1 for k in counts):
            raise ValueError(
                f"{name}: num_neighbors must be an integer >= 1 or {num_layers} of them, got {num_neighbors!r}"
            )
        if neuron.lower() not in ("lif", "if"):
            raise ValueError(f"{name}: neuron must be 'LIF' or 'IF', got {neuron!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout!r}")
        self.credit = get_credit(credit)
        self.credit.check_model(name, has_manifold=False)
        self.in_channels, self.hidden_channels, self.out_channels = in_channels, hidden_channels, out_channels
        self.T, self.num_neighbors, self.dropout = int(T), counts, float(dropout)
        kwargs: dict[str, Any] = {"v_threshold": v_threshold}
        if neuron.lower() == "lif":
            kwargs["tau"] = tau
        widths = [in_channels, *[hidden_channels] * num_layers]
        pairs = list(zip(widths, widths[1:], strict=False))
        self.self_lins = nn.ModuleList(nn.Linear(a, b) for a, b in pairs)
        self.neigh_lins = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in pairs)
        self.neurons = nn.ModuleList(get_neuron(neuron, step_mode="m", **kwargs) for _ in pairs)
        self.readout = nn.Linear(self.T * hidden_channels, out_channels)
        self._graph: tuple[Any, int, Tensor | None, Tensor, Tensor] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (*self.self_lins, *self.neigh_lins, self.readout):
            lin.reset_parameters()

    @property
    def num_hops(self) -> int:
        """Graph hops a node's output depends on: one per spiking layer."""
        return len(self.self_lins)

    def _in_neighbours(self, edge_index: Any, num_nodes: int, node_ids: Tensor | None) -> tuple[Tensor, Tensor]:
        """``(rowptr, sources)``: the in-neighbours of node i are ``sources[rowptr[i]:rowptr[i + 1]]``, in edge
        order, or with ``node_ids`` ordered by global node id (so a subgraph holding all of a node's in-edges lists
        them as the full graph does); cached for the last graph input object."""
        graph = self._graph
        if graph is None or graph[0] is not edge_index or graph[1] != num_nodes or graph[2] is not node_ids:
            ei, _, n = to_edge_index(edge_index, num_nodes)
            src, dst = ei
            if node_ids is None:
                order = torch.argsort(dst, stable=True)
            else:
                order = torch.argsort(node_ids[src], stable=True)
                order = order[torch.argsort(dst[order], stable=True)]
            counts = torch.bincount(dst, minlength=n)
            rowptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
            self._graph = graph = (edge_index, num_nodes, node_ids, rowptr, src[order])
        return graph[3], graph[4]

    @staticmethod
    def _draw_key() -> int:
        """The key of one forward's neighbour samples, drawn from the global generator."""
        return int(torch.randint(0, _MASK32, ()))

    def sample(
        self, edge_index: Any, num_nodes: int, k: int, node_ids: Tensor | None = None, key: int | None = None
    ) -> Adjacency:
        r"""The T neighbour samples of one layer as a block-diagonal mean-aggregation matrix over the :math:`T |V|`
        node-steps (row :math:`t|V| + i` holds weight :math:`1/k` per draw of :math:`j` at column :math:`t|V| + j`).

        Without ``node_ids`` the draws come from the global generator (``torch.rand``). With ``node_ids`` (the
        global ids of a subgraph's nodes; ``arange(N)`` for the whole graph), draw :math:`d` of node :math:`i` at
        step :math:`t` is a hash of (``key``, t, d, ``node_ids[i]``) into the node's in-neighbours ordered by global
        id: a subgraph holding all in-edges of a node draws the same neighbours for it as the whole graph, which
        makes mini-batch training and layer-wise inference equal the full-batch forward with ``node_ids``.
        ``key`` defaults to a fresh draw from the global generator."""
        rowptr, sources = self._in_neighbours(edge_index, num_nodes, node_ids)
        degree = rowptr[1:] - rowptr[:-1]
        scale = degree.view(1, -1, 1)
        if node_ids is None:
            draws = torch.minimum((torch.rand(self.T, num_nodes, k) * scale).long(), scale - 1)  # rounding can hit 1
        else:
            key = self._draw_key() if key is None else int(key)
            salt = _mix32((_mix32(torch.arange(1, self.T * k + 1, device=degree.device)) + key) & _MASK32)
            bits = _mix32(_mix32(node_ids & _MASK32).view(1, -1, 1) ^ salt.view(self.T, 1, k))  # [T, N, k] 32 bits
            draws = (bits * scale) >> 32  # uniform in [0, degree) (degree < 2^31)
        has = (degree > 0).view(1, -1, 1).expand_as(draws)
        picked = sources[(rowptr[:-1].view(1, -1, 1) + draws)[has]]
        step = torch.arange(self.T, device=degree.device).view(-1, 1, 1).expand_as(draws)[has] * num_nodes
        row = step + torch.arange(num_nodes, device=degree.device).view(1, -1, 1).expand_as(draws)[has]
        size = self.T * num_nodes
        matrix = torch.sparse_coo_tensor(
            torch.stack([row, step + picked]), torch.full((row.numel(),), 1.0 / k, device=degree.device),
            (size, size), check_invariants=False,  # indices are in range by construction
        )
        return Adjacency(matrix, size, normalize="none")

    def _layer(
        self, index: int, s: Tensor, edge_index: Any, node_ids: Tensor | None, key: int | None,
        num_seeds: int | None = None,
    ) -> Tensor:
        """Spikes [T, num_seeds, D] of layer ``index`` for the first ``num_seeds`` nodes (default all) of a graph
        whose layer input is ``s`` ([N, F] features or [T, N, D] spikes); ``key``: the forward's sample key."""
        n = s.size(-2)
        layer_key = None if key is None else int(_mix32(torch.tensor((key + index) & _MASK32)))
        graph = self.sample(edge_index, n, self.num_neighbors[index], node_ids, layer_key)
        own, neigh = self.self_lins[index](s), self.neigh_lins[index](s)
        neigh = neigh.expand(self.T, n, neigh.size(-1)).reshape(self.T * n, -1)
        currents = own + propagate(graph, neigh).view(self.T, n, -1)
        if num_seeds is not None:
            currents = currents[:, :num_seeds]
        return self.credit.spike(self.neurons[index], currents)

    def spikes(self, x: Tensor, edge_index: Any, node_ids: Tensor | None = None) -> Tensor:
        """Spikes of the last layer, :math:`(T, |V|, D)`; ``node_ids`` are the global ids of a subgraph's nodes."""
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(f"SpikeNet: expected x of shape [N, {self.in_channels}], got {tuple(x.shape)}")
        if node_ids is not None and node_ids.shape != (x.size(0),):
            raise ValueError(f"SpikeNet: node_ids must have shape [{x.size(0)}], got {tuple(node_ids.shape)}")
        key, s = None if node_ids is None else self._draw_key(), x
        for index in range(self.num_hops):
            s = self._layer(index, s, edge_index, node_ids, key)
        return s

    def forward(self, x: Tensor, edge_index: Any, node_ids: Tensor | None = None) -> Tensor:
        s = self.spikes(x, edge_index, node_ids)
        features = s.permute(1, 0, 2).reshape(x.size(0), -1)
        return self.readout(F.dropout(features, p=self.dropout, training=self.training))

    @torch.no_grad()
    def inference(
        self,
        x: Tensor,
        subgraphs: Callable[[int], Iterable[Subgraph]],
        sync: Callable[[Tensor], None] | None = None,
    ) -> Tensor:
        """Layer-wise full inference in eval mode, one batch of nodes at a time (protocol of
        :meth:`msg.models.MSG.inference`: ``subgraphs(layer)`` yields 1-hop subgraphs whose seeds cover every node
        at the inner layers and the output nodes, in order, at the last; ``sync`` sums a layer's output across
        processes). Equals the rows of ``self(x, edge_index, torch.arange(N))`` (keyed samples, see :meth:`sample`)
        in eval mode under the same generator state."""
        if self.training:
            raise ValueError("SpikeNet: layer-wise inference is an eval-mode computation; call model.eval() first")
        n, last, key = x.size(0), self.num_hops - 1, self._draw_key()
        spikes, logits = torch.empty(0), []
        for index in range(self.num_hops):
            out = torch.zeros(self.T, n, self.hidden_channels, dtype=torch.uint8, device=x.device)
            for sub in subgraphs(index):
                s = x[sub.node_ids] if index == 0 else spikes[:, sub.node_ids].to(x.dtype)
                new = self._layer(index, s, sub.edge_index, sub.node_ids, key, sub.num_seeds)
                if index == last:
                    logits.append(self.readout(new.permute(1, 0, 2).reshape(sub.num_seeds, -1)))
                else:
                    out[:, sub.node_ids[: sub.num_seeds]] = new.to(torch.uint8)
            if index < last:
                if sync is not None:
                    sync(out)
                spikes = out
        return torch.cat(logits) if logits else x.new_zeros(0, self.out_channels)

    def __repr__(self) -> str:
        return (
            f"SpikeNet({self.in_channels}, {self.hidden_channels}, {self.out_channels}, T={self.T}, "
            f"num_neighbors={self.num_neighbors}, credit={self.credit!r})"
        )


def build(cfg: Any, in_channels: int, out_channels: int | None) -> SpikeNet:
    """Builder for ``msg train --model spikenet``: ``hidden``, ``T``, ``layers``, ``neuron``, ``tau``,
    ``v_threshold``, ``dropout`` and ``credit`` from the training config (the config's default threshold 1 is
    far above SpikeNet's, see the module docstring: pass ``--v-threshold 0.1``). Node classification only."""
    if out_channels is None:
        raise ValueError("SpikeNet: node classification only (the MSG paper compares it on that task alone)")
    return SpikeNet(
        in_channels, cfg.hidden, out_channels, T=cfg.T, num_layers=cfg.layers, neuron=cfg.neuron, tau=cfg.tau,
        v_threshold=cfg.v_threshold, dropout=cfg.dropout, credit=cfg.credit,
    )
