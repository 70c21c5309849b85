r"""Real-valued (ANN) reference GNNs over PyTorch Geometric's layers: GCN, GAT, SGC and GraphSAGE.

One family, :class:`GNN`: a stack of PyG convolutions with an activation and dropout between them; the subclasses
only say which convolution a layer is and how many multiply-accumulates it costs.

- :class:`GCN`: Kipf & Welling, "Semi-Supervised Classification with Graph Convolutional Networks", ICLR 2017
  (https://arxiv.org/abs/1609.02907), :class:`~torch_geometric.nn.conv.GCNConv`.
- :class:`GAT`: Veličković et al., "Graph Attention Networks", ICLR 2018 (https://arxiv.org/abs/1710.10903),
  :class:`~torch_geometric.nn.conv.GATConv`; hidden layers concatenate ``heads`` heads of
  ``hidden_channels // heads`` features, the last layer has one head; ELU between layers as in the paper.
- :class:`SGC`: Wu et al., "Simplifying Graph Convolutional Networks", ICML 2019 (https://arxiv.org/abs/1902.07153),
  one :class:`~torch_geometric.nn.conv.SGConv` with :math:`K` = ``num_layers`` propagation steps and no
  non-linearity.
- :class:`SAGE`: Hamilton et al., "Inductive Representation Learning on Large Graphs", NeurIPS 2017
  (https://arxiv.org/abs/1706.02216), :class:`~torch_geometric.nn.conv.SAGEConv` with mean aggregation over the
  full neighbourhood (no sampling: the graphs of the comparison fit in memory).

.. math::
    h^{(0)} = x, \qquad h^{(l)} = \mathrm{drop}\big(\sigma(\mathrm{Conv}_l(h^{(l-1)}, A))\big), \qquad
    \text{output} = \mathrm{Conv}_L(h^{(L-1)}, A)

Node classification reads the last layer as logits; link prediction (``out_channels=None``) reads it as
``hidden_channels`` Euclidean embeddings (:meth:`GNN.encode`, ``manifold`` is :class:`~msg.manifolds.Euclidean`).
Dropout acts between layers, not on the input features (DESIGN.md: dense input dropout dominated a Cora epoch).
Input features with few non-zeros (below :attr:`GNN.sparse_below`, e.g. bag-of-words rows) reach the first
convolution as a sparse matrix (:class:`~msg.ops.sparse_input.SparseInput`), so its product with the weight costs
the non-zeros times D rather than :math:`|V| F D` (SGC excepted: its propagation is computed once).

Shapes:
    - **input:** x :math:`(|V|, F)`, ``edge_index`` :math:`(2, |E|)`
    - **output:** :math:`(|V|, C)` logits, or :math:`(|V|, D)` embeddings without ``out_channels``
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv, SAGEConv, SGConv
from torch_geometric.nn.conv import MessagePassing

from msg.manifolds import get_manifold
from msg.ops.sparse_input import SparseInput

__all__ = ["GNN", "GCN", "GAT", "SGC", "SAGE", "ANN_MODELS", "build"]


class GNN(nn.Module):
    r"""A stack of PyG graph convolutions (module docstring); subclasses implement :meth:`conv` and
    :meth:`layer_macs`.

    Args:
        in_channels (int): input features F.
        hidden_channels (int): width D of the hidden layers (and of the embeddings for link prediction).
        out_channels (int, optional): classes C; ``None`` for link prediction. (default: :obj:`None`)
        num_layers (int): graph convolutions L >= 1. (default: :obj:`2`)
        dropout (float): dropout probability between layers, in [0, 1). (default: :obj:`0.5`)

    Shapes:
        - **input:** x :math:`(|V|, F)`, ``edge_index`` :math:`(2, |E|)`
        - **output:** :math:`(|V|, C)`, or :math:`(|V|, D)` without ``out_channels``
    """

    activation: ClassVar[str] = "relu"
    sparse_below: float = 0.1
    """Fraction of non-zero input features below which the first convolution takes them as a sparse (COO) matrix
    (module docstring). Coauthor CS (F = 6805, 0.9% non-zero), one thread, a shared machine, median training step
    dense -> sparse: node classification GCN 0.7-1.5 -> 0.3-0.6 s, GAT 1.7-2.1 -> 0.8 s, SAGE 5.7-6.2 -> 0.4 s;
    link prediction GCN 0.9 -> 0.4 s, GAT 1.1 -> 0.55 s, SAGE 5.0 -> 0.4 s."""

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int | None = None,
        num_layers: int = 2,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        sizes = {"in_channels": in_channels, "hidden_channels": hidden_channels, "num_layers": num_layers}
        for arg, value in sizes.items():
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name}: {arg} must be an integer >= 1, got {value!r}")
        if out_channels is not None and (int(out_channels) != out_channels or out_channels < 1):
            raise ValueError(f"{name}: out_channels must be an integer >= 1 or None, got {out_channels!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout!r}")
        self.in_channels, self.hidden_channels, self.out_channels = in_channels, hidden_channels, out_channels
        self.num_layers, self.dropout = num_layers, float(dropout)
        self.manifold = get_manifold("euclidean")
        dims = self.dims()
        pairs = list(zip(dims, dims[1:], strict=False))
        self.convs = nn.ModuleList(self.conv(a, b, last=i == len(pairs) - 1) for i, (a, b) in enumerate(pairs))
        self._input = SparseInput()
        self.reset_parameters()

    def dims(self) -> list[int]:
        """Feature widths ``[F, D, ..., D, C or D]`` between the convolutions."""
        last = self.hidden_channels if self.out_channels is None else self.out_channels
        return [self.in_channels, *[self.hidden_channels] * (self.num_layers - 1), last]

    def conv(self, in_channels: int, out_channels: int, last: bool) -> MessagePassing:
        """The convolution from ``in_channels`` to ``out_channels`` features (``last``: the output layer)."""
        raise NotImplementedError

    def layer_macs(self, num_nodes: int, num_edges: int, in_channels: int, out_channels: int) -> int:
        """Multiply-accumulates of one layer: dense transform plus one multiply-add per edge and aggregated
        feature (self-loops included where the layer adds them)."""
        raise NotImplementedError

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        name = type(self).__name__
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(f"{name}: expected x of shape [N, {self.in_channels}], got {tuple(x.shape)}")
        act = getattr(F, self.activation)
        x = self._input(x, self.sparse_below)
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_index)
            if i < len(self.convs) - 1:
                x = F.dropout(act(x), p=self.dropout, training=self.training)
        return x

    def encode(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """Node embeddings :math:`(|V|, D)` (the last layer's output; see the module docstring)."""
        return self(x, edge_index)

    def energy_ops(self, inputs: tuple[Any, ...], output: Tensor) -> tuple[int, int]:
        """``(0, MACs)`` of one forward pass for :class:`msg.ops.energy.EnergyMeter`: every operation of a
        real-valued network is a multiply-accumulate (PyG's linear layers are not :class:`torch.nn.Linear`, so
        the meter could not see them one by one)."""
        x, edge_index = inputs[0], inputs[1]
        n, e, dims = x.size(0), edge_index.size(1), self.dims()
        return 0, sum(self.layer_macs(n, e, fin, fout) for fin, fout in zip(dims, dims[1:], strict=False))

    def __repr__(self) -> str:
        out = "" if self.out_channels is None else f", {self.out_channels}"
        return f"{type(self).__name__}({self.in_channels}, {self.hidden_channels}{out}, num_layers={self.num_layers})"


class GCN(GNN):
    """Graph convolutional network (module docstring): :math:`\\hat A h W` per layer, ReLU between layers."""

    def conv(self, in_channels: int, out_channels: int, last: bool) -> MessagePassing:
        return GCNConv(in_channels, out_channels)

    def layer_macs(self, num_nodes: int, num_edges: int, in_channels: int, out_channels: int) -> int:
        return num_nodes * in_channels * out_channels + (num_edges + num_nodes) * out_channels


class GAT(GNN):
    """Graph attention network (module docstring).

    Args:
        heads (int): attention heads of the hidden layers; ``hidden_channels`` must be divisible by it.
            (default: :obj:`8`)
        **kwargs: as :class:`GNN`.
    """

    activation: ClassVar[str] = "elu"

    def __init__(self, in_channels: int, hidden_channels: int, *args: Any, heads: int = 8, **kwargs: Any) -> None:
        if isinstance(heads, bool) or int(heads) != heads or heads < 1 or hidden_channels % heads:
            raise ValueError(
                f"GAT: heads must be an integer >= 1 dividing hidden_channels={hidden_channels}, got {heads!r}"
            )
        self.heads = int(heads)
        super().__init__(in_channels, hidden_channels, *args, **kwargs)

    def conv(self, in_channels: int, out_channels: int, last: bool) -> MessagePassing:
        if last:
            return GATConv(in_channels, out_channels, heads=1, dropout=self.dropout)
        return GATConv(in_channels, out_channels // self.heads, heads=self.heads, dropout=self.dropout)

    def layer_macs(self, num_nodes: int, num_edges: int, in_channels: int, out_channels: int) -> int:
        # transform, two attention scores per node and head, weighted sum over edges and self-loops
        return num_nodes * in_channels * out_channels + 2 * num_nodes * out_channels + (
            num_edges + num_nodes
        ) * out_channels


class SGC(GNN):
    """Simplified graph convolution (module docstring): :math:`\\hat A^K x W`, ``num_layers`` is :math:`K`.

    :math:`\\hat A^K x` has no parameters and is computed once per ``(x, edge_index)`` input pair (PyG's cache,
    cleared when either input object changes): on Cora it took 0.6 s per epoch otherwise. Its input stays dense
    (``sparse_below = 0``): the propagation comes first and runs once."""

    sparse_below: float = 0.0

    def dims(self) -> list[int]:
        last = self.hidden_channels if self.out_channels is None else self.out_channels
        return [self.in_channels, last]

    def conv(self, in_channels: int, out_channels: int, last: bool) -> MessagePassing:
        return SGConv(in_channels, out_channels, K=self.num_layers, cached=True)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self._inputs: tuple[Tensor, Tensor] | None = None

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        if self._inputs is None or self._inputs[0] is not x or self._inputs[1] is not edge_index:
            self.convs[0]._cached_x = None
            self._inputs = (x, edge_index)
        return super().forward(x, edge_index)

    def layer_macs(self, num_nodes: int, num_edges: int, in_channels: int, out_channels: int) -> int:
        return self.num_layers * (num_edges + num_nodes) * in_channels + num_nodes * in_channels * out_channels


class SAGE(GNN):
    """GraphSAGE with mean aggregation (module docstring): :math:`W_1 h_i + W_2 \\operatorname{mean}_{j} h_j`."""

    def conv(self, in_channels: int, out_channels: int, last: bool) -> MessagePassing:
        return _SAGEConv(in_channels, out_channels, aggr="mean")

    def layer_macs(self, num_nodes: int, num_edges: int, in_channels: int, out_channels: int) -> int:
        return num_edges * in_channels + 2 * num_nodes * in_channels * out_channels


class _SAGEConv(SAGEConv):
    r""":class:`~torch_geometric.nn.conv.SAGEConv` (mean aggregation) that also takes a sparse (COO) input: the mean
    over the neighbours is linear, so :math:`W_1 \operatorname{mean}_j x_j = \operatorname{mean}_j W_1 x_j` (0 for
    a node without neighbours, either way), and the sparse rows are transformed before they are aggregated (PyG
    would aggregate the F-wide rows first, which a sparse tensor cannot go through)."""

    def forward(self, x: Any, edge_index: Any, size: Any = None) -> Tensor:
        if not (isinstance(x, Tensor) and x.is_sparse):
            return super().forward(x, edge_index, size)
        if self.project or self.aggr != "mean":
            return super().forward(x.to_dense(), edge_index, size)
        h = F.linear(x, self.lin_l.weight)
        out = self.propagate(edge_index, x=(h, h), size=size)
        if self.lin_l.bias is not None:
            out = out + self.lin_l.bias
        if self.root_weight:
            out = out + self.lin_r(x)
        return F.normalize(out, p=2.0, dim=-1) if self.normalize else out


ANN_MODELS: dict[str, type[GNN]] = {"gcn": GCN, "gat": GAT, "sgc": SGC, "sage": SAGE}
"""``msg train --model`` names of the reference GNNs."""


def build(cfg: Any, in_channels: int, out_channels: int | None) -> GNN:
    """Builder for ``msg train --model gcn|gat|sgc|sage`` (the model is ``cfg.model``): ``hidden``, ``layers``
    and ``dropout`` from the training config; the spiking and manifold settings do not apply."""
    name = cfg.model.lower()
    if name not in ANN_MODELS:
        raise ValueError(f"ann.build: unknown model {cfg.model!r}; known: {', '.join(ANN_MODELS)}")
    return ANN_MODELS[name](in_channels, cfg.hidden, out_channels, num_layers=cfg.layers, dropout=cfg.dropout)
