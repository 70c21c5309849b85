r"""MSG: the manifold-valued spiking GNN (Sun et al., "Spiking Graph Neural Network on Riemannian Manifolds",
NeurIPS 2024), trained by differentiation via manifold (DvM) or, for comparison, by BPTT."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from msg.credit import DvM
from msg.manifolds import get_manifold
from msg.nn.manifold_conv import ManifoldSpikingConv, SpikingEncoder
from msg.ops.aggregate import BLOCK_WIDTH, Adjacency, Subgraph


class MSG(nn.Module):
    r"""Manifold-valued spiking GNN: a spiking encoder and ``num_layers`` manifold spiking convolutions.

    .. math::
        z_1 = \operatorname{Exp}_o(\epsilon I), \quad
        z_{l+1} = \operatorname{Exp}_{z_l}\!\big(\mathrm{PT}_{o \to z_l}(v_l)\big), \quad
        \hat{y} = W_{out} \operatorname{Log}_o(z_{L+1}) + b

    Args:
        in_channels (int): input features F.
        hidden_channels (int): intrinsic dimension D of the states and spike width of every layer.
        out_channels (int, optional): classes; ``None`` builds an encoder only (link prediction reads
            :meth:`encode`). (default: :obj:`None`)
        manifold (str or Manifold): ``"lorentz"``, ``"sphere"``, ``"euclidean"`` or a product such as
            ``"lorentz,sphere"``. (default: :obj:`"lorentz"`)
        T (int): time steps. (default: :obj:`15`)
        num_layers (int): manifold spiking layers after the encoder. (default: :obj:`2`)
        step_size (float): :math:`\epsilon`. (default: :obj:`0.1`)
        neuron (str): ``"IF"`` or ``"LIF"``. (default: :obj:`"IF"`)
        v_threshold (float): firing threshold. (default: :obj:`1.0`)
        tau (float): LIF time constant. (default: :obj:`2.0`)
        dropout (float): dropout after each projection (one mask for all steps). (default: :obj:`0.1`)
        credit (str): ``"dvm"``, ``"bptt"`` or another :func:`msg.credit.get_credit` spec for the spike path.
            (default: :obj:`"dvm"`)
        manifold_dtype (torch.dtype): dtype of the manifold path. (default: :obj:`torch.float64`)

    Shapes:
        - **input:** x :math:`(|V|, F)`, ``edge_index`` :math:`(2, |E|)` or a sparse adjacency
        - **output:** logits :math:`(|V|, C)`; :meth:`encode` gives states :math:`(|V|, D')`
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int | None = None,
        manifold: Any = "lorentz",
        T: int = 15,
        num_layers: int = 2,
        step_size: float = 0.1,
        neuron: str = "IF",
        v_threshold: float = 1.0,
        tau: float = 2.0,
        dropout: float = 0.1,
        credit: str = "dvm",
        manifold_dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        if num_layers < 0:
            raise ValueError(f"MSG: num_layers must be >= 0, got {num_layers!r}")
        self.manifold = get_manifold(manifold)
        self.in_channels, self.hidden_channels, self.out_channels = in_channels, hidden_channels, out_channels
        self.T, self.credit = int(T), credit
        shared = dict(
            manifold=self.manifold, T=T, neuron=neuron, v_threshold=v_threshold, tau=tau, step_size=step_size,
            dropout=dropout, credit=credit, manifold_dtype=manifold_dtype,
        )
        self.encoder = SpikingEncoder(in_channels, hidden_channels, **shared)
        self.convs = nn.ModuleList(
            ManifoldSpikingConv(hidden_channels, hidden_channels, **shared) for _ in range(num_layers)
        )
        self.readout = nn.Linear(hidden_channels, out_channels) if out_channels is not None else None
        self.spikes: list[Tensor] = []

    def reset_parameters(self) -> None:
        self.encoder.reset_parameters()
        for conv in self.convs:
            conv.reset_parameters()
        if self.readout is not None:
            self.readout.reset_parameters()

    def encode(self, x: Tensor, edge_index: Any, record_spikes: bool = False) -> Tensor:
        """Node states on the manifold, shape [N, D'] in the manifold dtype.

        With ``record_spikes`` or in eval mode, ``self.spikes`` then holds every layer's spikes [T, N, D], encoder
        first. Otherwise (training) the last layer's spikes, which feed nothing, are not computed, and under DvM
        the spike path streams through time (see :meth:`_stream_rates`).

        ``edge_index`` may also be a list of :attr:`num_hops` adjacencies, one per layer (encoder first), each
        trimmed to the nodes the next layer reads (:meth:`msg.ops.aggregate.Subgraph.layer_adjacencies`): every
        layer then runs on fewer nodes and the states come out for the last one's rows (a mini-batch's seeds)."""
        graphs = self._layer_graphs(edge_index, x.size(0))
        if not (record_spikes or not self.training):
            self.spikes = []
            if isinstance(self.encoder.credit_method, DvM):
                return self._encode_streamed(x, graphs)
        spikes, z = self.encoder(x, graphs[0])
        self.spikes = [spikes.detach()]
        for i, conv in enumerate(self.convs):
            if i == len(self.convs) - 1 and not (record_spikes or not self.training):
                return conv.move(spikes, z, graphs[i + 1])
            spikes, z = conv(spikes, z, graphs[i + 1])
            self.spikes.append(spikes.detach())
        return z

    def _layer_graphs(self, edge_index: Any, num_nodes: int) -> list[Adjacency]:
        """The adjacency each layer reads: one graph for all, or the given per-layer trimmed ones."""
        if not isinstance(edge_index, list | tuple):
            return [self.encoder.adjacency(edge_index, num_nodes)] * self.num_hops
        if len(edge_index) != self.num_hops or not all(isinstance(g, Adjacency) for g in edge_index):
            raise ValueError(
                f"MSG: per-layer graphs must be a list of {self.num_hops} Adjacency objects (encoder first), got "
                f"{[type(g).__name__ for g in edge_index]}"
            )
        if edge_index[0].num_nodes != num_nodes:
            raise ValueError(f"MSG: the first layer's graph has {edge_index[0].num_nodes} nodes, x has {num_nodes}")
        for i, (below, above) in enumerate(zip(edge_index, edge_index[1:], strict=False)):
            if above.num_nodes != below.num_rows:
                raise ValueError(
                    f"MSG: layer {i + 1}'s graph reads {above.num_nodes} nodes, layer {i} gives {below.num_rows}"
                )
        return list(edge_index)

    def _encode_streamed(self, x: Tensor, graphs: list[Adjacency]) -> Tensor:
        """DvM training forward: spike path without autograd, manifold path from each layer's input rate."""
        current = self.encoder.current(x, graphs[0])
        masks = [conv.mask(graph.num_rows) for conv, graph in zip(self.convs, graphs[1:], strict=True)]
        z = self.encoder.state(current)
        if self.convs:
            rates = self._stream_rates(current.detach(), graphs, masks)
            for conv, graph, rate, mask in zip(self.convs, graphs[1:], rates, masks, strict=True):
                z = conv.move_from_rate(rate, z, graph, mask)
        return z

    @torch.no_grad()
    def _stream_rates(self, current: Tensor, graphs: list[Adjacency], masks: list[Tensor | None]) -> list[Tensor]:
        """The mean spikes entering each manifold layer, computed block of steps by block of steps through all
        layers (neurons keep their state across blocks), so memory is O(block x N x D) whatever T is.

        A block holds ``BLOCK_WIDTH // D`` steps, the width at which one sparse product per block is efficient."""
        neurons = [self.encoder.neuron, *(conv.neuron for conv in self.convs[:-1])]
        for neuron in neurons:
            neuron.reset()
        sums = [current.new_zeros(graph.num_rows, current.size(1)) for graph in graphs[:-1]]
        block = max(1, BLOCK_WIDTH // self.hidden_channels)
        for start in range(0, self.T, block):
            spikes = self.encoder.neuron(current.expand(min(block, self.T - start), *current.shape))
            for layer, conv in enumerate(self.convs):
                sums[layer] += spikes.sum(0)
                if layer < len(self.convs) - 1:
                    spikes = conv.neuron(conv.currents(spikes, graphs[layer + 1], masks[layer]))
        for neuron in neurons:
            neuron.reset()
        return [total / self.T for total in sums]

    def embed(self, z: Tensor) -> Tensor:
        """The readout features Log_o(z) as intrinsic vectors [N, D] in x's float dtype."""
        return self.manifold.untangent0(self.manifold.logmap0(z)).to(self.encoder.lin.weight.dtype)

    @property
    def num_hops(self) -> int:
        """Graph hops a node's output depends on: the encoder's aggregation and one per manifold layer."""
        return 1 + len(self.convs)

    @torch.no_grad()
    def inference(
        self,
        x: Tensor,
        subgraphs: Callable[[int], Iterable[Subgraph]],
        sync: Callable[[Tensor], None] | None = None,
    ) -> Tensor:
        """Layer-wise full inference in eval mode: each layer for all nodes, one batch of nodes at a time, so memory
        holds one layer's spikes and states for every node ([T, |V|, D] as bytes) but never an L-hop subgraph.

        ``subgraphs(layer)`` (layer ``0`` = encoder, ``1..num_hops-1`` = the manifold layers) yields the 1-hop
        :class:`~msg.ops.aggregate.Subgraph` of each node batch (full-graph degrees); their seeds cover every node
        at the inner layers and, at the last layer, the nodes whose logits are returned, in that order. With
        several processes each may cover its own share of the nodes: ``sync`` then receives every full-size
        layer output (zeros where another process computed) and must sum it across processes in place.
        The result equals the rows of ``self(x, edge_index)`` in eval mode (up to the summation order)."""
        if self.readout is None:
            raise ValueError("MSG: built without out_channels; layer-wise inference gives logits")
        if self.training:
            raise ValueError("MSG: layer-wise inference is an eval-mode computation; call model.eval() first")
        n, T, last = x.size(0), self.T, self.num_hops - 1
        width = self.encoder.state(x.new_zeros(1, self.hidden_channels)).size(1)  # D' of the manifold
        spikes = z = torch.empty(0)
        logits: list[Tensor] = []
        for layer in range(self.num_hops):
            module = self.encoder if layer == 0 else self.convs[layer - 1]
            if layer < last:
                new_spikes = torch.zeros(T, n, self.hidden_channels, dtype=torch.uint8, device=x.device)
                new_z = torch.zeros(n, width, dtype=self.encoder.manifold_dtype, device=x.device)
            for sub in subgraphs(layer):
                graph, ids, seeds = sub.adjacency(), sub.node_ids, sub.node_ids[: sub.num_seeds]
                if layer == 0:
                    current = module.current(x[ids], graph)[: sub.num_seeds]
                    state = module.state(current)
                    currents = current.unsqueeze(0).expand(T, *current.shape) if layer < last else None
                else:
                    s = spikes[:, ids].to(x.dtype)
                    mean = module.message_and_aggregate(graph, module.lin(s.mean(0)))[: sub.num_seeds]
                    state = module._move(z[seeds], module.step_size * mean)
                    currents = module.currents(s, graph, None)[:, : sub.num_seeds] if layer < last else None
                if layer == last:
                    logits.append(self.readout(self.embed(state)))
                    continue
                new_spikes[:, seeds] = module._spike(currents).to(torch.uint8)
                new_z[seeds] = state
            if layer < last:
                if sync is not None:
                    sync(new_spikes)
                    sync(new_z)
                spikes, z = new_spikes, new_z
        return torch.cat(logits) if logits else x.new_zeros(0, self.out_channels)

    def forward(self, x: Tensor, edge_index: Any) -> Tensor:
        if self.readout is None:
            raise ValueError("MSG: built without out_channels; call encode() for states")
        return self.readout(self.embed(self.encode(x, edge_index)))

    def __repr__(self) -> str:
        out = "" if self.out_channels is None else f", {self.out_channels}"
        return (
            f"MSG({self.in_channels}, {self.hidden_channels}{out}, manifold={self.manifold!r}, T={self.T}, "
            f"num_layers={len(self.convs)}, credit={self.credit!r})"
        )
