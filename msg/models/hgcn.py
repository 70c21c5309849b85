r"""HGCN: hyperbolic graph convolutional network on the hyperboloid (Chami, Ying, Ré & Leskovec, "Hyperbolic Graph
Convolutional Neural Networks", NeurIPS 2019, https://arxiv.org/abs/1910.12933), on :class:`msg.manifolds.Lorentz`.

The variant implemented: aggregation in the tangent space at the origin without attention (the default of the
paper's public code; the paper also describes attention and aggregation at each node's own tangent space, not
implemented here) and one fixed curvature :math:`K` shared by every layer (the paper can learn one per layer).

With :math:`o` the origin, :math:`\log_o, \exp_o` read in intrinsic coordinates (the zero time coordinate of
:math:`T_o\mathbb{H}` dropped and restored) and :math:`\hat A = \tilde D^{-1/2}(A + I)\tilde D^{-1/2}`, layer
:math:`l` maps :math:`h^{l-1} \in \mathbb{H}^{D}_K` to

.. math::
    \underbrace{m_i = \exp_{u_i}\big(\mathrm{PT}_{o \to u_i}(b)\big),\ u_i = \exp_o\big(W \log_o(h_i)\big)}_{
    \text{hyperbolic linear } W \otimes h \oplus b}, \qquad
    \underbrace{a_i = \exp_o\Big(\textstyle\sum_j \hat A_{ij} \log_o(m_j)\Big)}_{\text{aggregation}}, \qquad
    \underbrace{h_i = \exp_o\big(\sigma(\log_o(a_i))\big)}_{\text{hyperbolic activation}}

(the paper's equations (4)-(8) with :math:`K_{l-1} = K_l`). The input features are lifted by
:math:`h^0 = \exp_o(x)`; node classification reads :math:`W_{out} \log_o(h^L) + b_{out}` (the paper's
Euclidean decoder on the tangent space at the origin), link prediction scores the hyperbolic distance of
:meth:`HGCN.encode`'s points with the Fermi-Dirac decoder. The last layer has no activation. Every tangent vector
mapped onto the hyperboloid (:math:`W \log_o h`, :math:`b`, the aggregate) is clipped to norm
:data:`MAX_TANGENT_NORM` (:func:`clip_norm`). Dropout acts on the
tangent vector entering each hyperbolic linear map except the first (DESIGN.md: no dense input dropout).

Shapes:
    - **input:** x :math:`(|V|, F)`, ``edge_index`` :math:`(2, |E|)` or a sparse adjacency
    - **output:** logits :math:`(|V|, C)`; :meth:`HGCN.encode` gives points :math:`(|V|, D+1)` on the hyperboloid
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from msg.manifolds import Lorentz
from msg.ops.aggregate import Adjacency, propagate
from msg.ops.sparse_input import SparseInput

__all__ = ["HGCN", "HypLinear", "build"]

MAX_TANGENT_NORM = 15.0
r"""Largest norm of a tangent vector mapped onto the hyperboloid (:func:`clip_norm`): the points then stay within
distance 15 of the origin (:math:`K = -1`), as the :math:`\cosh`/:math:`\sinh` clamp at 15 of Chami et al.'s code
keeps them. Unbounded, on Photo (lr 0.01, float64) the second layer's :math:`|W \log_o h|` reached 27 by epoch 40,
the loss jumped from 0.74 to 3.1 and one run of three (seed 2) became NaN at epoch 153."""


def clip_norm(v: Tensor, max_norm: float = MAX_TANGENT_NORM) -> Tensor:
    """``v`` with each row's norm limited to ``max_norm`` (the direction kept)."""
    norm = v.norm(dim=-1, keepdim=True)
    return v * (max_norm / norm.clamp_min(max_norm))


class HypLinear(nn.Module):
    r"""Hyperbolic linear map :math:`W \otimes h \oplus b = \exp_u(\mathrm{PT}_{o\to u}(b))`,
    :math:`u = \exp_o(W \log_o h)` (Chami et al., NeurIPS 2019, eqs. 4-5) on ``manifold``.

    Args:
        in_channels (int): intrinsic input dimension.
        out_channels (int): intrinsic output dimension.
        manifold (Lorentz): the hyperboloid.

    Shapes:
        - **input:** tangent vectors at the origin in intrinsic coordinates :math:`(|V|, D_{in})`
        - **output:** points :math:`(|V|, D_{out} + 1)`
    """

    def __init__(self, in_channels: int, out_channels: int, manifold: Lorentz) -> None:
        super().__init__()
        self.manifold = manifold
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Chami et al.'s initialisation (their HypLinear): Xavier-uniform weights with gain :math:`\sqrt 2`, zero
        bias. On Photo (F = 745) its bound, 0.12, is 3.3 times torch.nn.Linear's :math:`1/\sqrt F`, used before:
        the input rows sum to 1, so the feature part of the first layer's output is small beside its bias (which
        Adam moves by lr per step whatever the input), and the validation accuracy stayed at one or two classes'
        share (0.24-0.45) for 30 epochs (Photo, seed 0, 50 epochs: test 53.9 with torch's initialisation, 77.2
        with this one)."""
        nn.init.xavier_uniform_(self.weight, gain=2**0.5)
        nn.init.zeros_(self.bias)

    def forward(self, v: Tensor) -> Tensor:
        r"""Points :math:`W \otimes \exp_o(v) \oplus b`, computed in ``v``'s dtype (the parameters are cast); a
        sparse ``v`` (COO) is multiplied as one. :math:`W v` and :math:`b` are clipped to :data:`MAX_TANGENT_NORM`."""
        m = self.manifold
        weight = self.weight.to(v.dtype)
        mv = torch.sparse.mm(v, weight.t()) if v.is_sparse else F.linear(v, weight)
        u = m.expmap0(m.tangent0(clip_norm(mv)))
        b = clip_norm(self.bias.to(v.dtype)).expand(*u.shape[:-1], self.bias.numel())
        return m.expmap(u, m.transp0(u, m.tangent0(b)))

    def energy_ops(self, inputs: tuple[Tensor, ...], output: Tensor) -> tuple[int, int]:
        """``(0, MACs)`` of the matrix product (the exp/log maps, O(|V| D) each, are not counted)."""
        return 0, inputs[0].numel() * self.weight.size(0)


class HGCN(nn.Module):
    r"""Hyperbolic GCN on the hyperboloid (module docstring for the exact variant).

    Args:
        in_channels (int): input features F.
        hidden_channels (int): intrinsic dimension D of every layer.
        out_channels (int, optional): classes C; ``None`` for link prediction. (default: :obj:`None`)
        num_layers (int): hyperbolic graph convolutions L >= 1. (default: :obj:`2`)
        dropout (float): dropout probability, in [0, 1). (default: :obj:`0.5`)
        curvature (float): sectional curvature :math:`K < 0`. (default: :obj:`-1.0`)
        manifold_dtype (torch.dtype): dtype of the hyperbolic path; the readout is cast back to the input's
            dtype. In float32 the first layers' tangent norms (about 10 on Cora within ten epochs) made the exp
            map's gradients overflow, as DESIGN.md describes for MSG. (default: :obj:`torch.float64`)
        normalize_input (bool): divide each feature row by its sum of absolute values before the lift (Chami et
            al.'s code normalises the feature rows by default). On Cora's raw bag-of-words rows (norm
            about 4.5) the second layer's :math:`|W \log_o h|` passed 300 within 40 epochs and the hyperboloid
            overflowed even in float64; with it, it stayed below 15 over 200 epochs. (default: :obj:`True`)

    Shapes:
        - **input:** x :math:`(|V|, F)`, graph
        - **output:** :math:`(|V|, C)`; :meth:`encode`: :math:`(|V|, D+1)`
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int | None = None,
        num_layers: int = 2,
        dropout: float = 0.5,
        curvature: float = -1.0,
        manifold_dtype: torch.dtype = torch.float64,
        normalize_input: bool = True,
    ) -> None:
        super().__init__()
        sizes = {"in_channels": in_channels, "hidden_channels": hidden_channels, "num_layers": num_layers}
        for arg, value in sizes.items():
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"HGCN: {arg} must be an integer >= 1, got {value!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"HGCN: dropout must be in [0, 1), got {dropout!r}")
        if not curvature < 0:
            raise ValueError(f"HGCN: curvature must be < 0 (hyperbolic), got {curvature!r}")
        self.in_channels, self.hidden_channels, self.out_channels = in_channels, hidden_channels, out_channels
        self.dropout, self.manifold_dtype, self.normalize_input = float(dropout), manifold_dtype, normalize_input
        self.manifold = Lorentz(curvature)
        widths = [in_channels, *[hidden_channels] * num_layers]
        self.layers = nn.ModuleList(HypLinear(a, b, self.manifold) for a, b in zip(widths, widths[1:], strict=False))
        self.readout = nn.Linear(hidden_channels, out_channels) if out_channels is not None else None
        self._graph: tuple[Any, int, Adjacency] | None = None
        self._input = SparseInput()

    sparse_below: float = 0.1
    """Fraction of non-zero input features below which the first layer multiplies the (normalised) input rows as a
    sparse matrix. Coauthor CS (F = 6805, 0.9% non-zero): one training epoch took 21.5 s dense in float64 on one
    thread (a loaded machine), the dense product being nearly all of it."""

    def reset_parameters(self) -> None:
        for layer in self.layers:
            layer.reset_parameters()
        if self.readout is not None:
            self.readout.reset_parameters()

    def adjacency(self, edge_index: Any, num_nodes: int) -> Adjacency:
        """:math:`\\hat A` of the graph, cached for the last graph input object."""
        if self._graph is None or self._graph[0] is not edge_index or self._graph[1] != num_nodes:
            self._graph = (edge_index, num_nodes, Adjacency(edge_index, num_nodes))
        return self._graph[2]

    def log0(self, h: Tensor) -> Tensor:
        """:math:`\\log_o(h)` in intrinsic coordinates, :math:`(|V|, D)`."""
        return self.manifold.untangent0(self.manifold.logmap0(h))

    def tangent_input(self, x: Tensor) -> Tensor:
        """The first layer's input :math:`\\log_o(h^0) = x` (row-normalised with ``normalize_input``) in
        ``manifold_dtype``: the lift :math:`h^0 = \\exp_o(x)` and the layer's log map cancel, so neither is
        computed. Sparse (COO) below :attr:`sparse_below` non-zeros, kept for the last input object that needs no
        gradient (:class:`~msg.ops.sparse_input.SparseInput`)."""
        return self._input(x, self.sparse_below, self._prepare)

    def _prepare(self, x: Tensor) -> Tensor:
        v = x.to(self.manifold_dtype)
        if self.normalize_input:
            v = v / v.abs().sum(1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)
        return v

    def encode(self, x: Tensor, edge_index: Any) -> Tensor:
        """Points :math:`h^L` on the hyperboloid, :math:`(|V|, D+1)`, in ``manifold_dtype``."""
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(f"HGCN: expected x of shape [N, {self.in_channels}], got {tuple(x.shape)}")
        graph = self.adjacency(edge_index, x.size(0))
        m = self.manifold
        v = self.tangent_input(x)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            a = propagate(graph, self.log0(layer(v)))  # log_o of the aggregated point a_i
            h = m.expmap0(m.tangent0(clip_norm(torch.relu(a) if i < last else a)))
            if i < last:
                v = F.dropout(self.log0(h), p=self.dropout, training=self.training)
        return h

    def forward(self, x: Tensor, edge_index: Any) -> Tensor:
        if self.readout is None:
            raise ValueError("HGCN: built without out_channels; call encode() for points")
        return self.readout(self.log0(self.encode(x, edge_index)).to(x.dtype))

    def __repr__(self) -> str:
        out = "" if self.out_channels is None else f", {self.out_channels}"
        return (
            f"HGCN({self.in_channels}, {self.hidden_channels}{out}, num_layers={len(self.layers)}, "
            f"manifold={self.manifold!r})"
        )


def build(cfg: Any, in_channels: int, out_channels: int | None) -> HGCN:
    """Builder for ``msg train --model hgcn``: ``hidden``, ``layers`` and ``dropout`` from the training config;
    the manifold is always the hyperboloid of curvature -1 (``cfg.manifold`` must be ``"lorentz"``)."""
    if cfg.manifold.lower() != "lorentz":
        raise ValueError(f"HGCN: runs on the Lorentz model only, got manifold {cfg.manifold!r}")
    return HGCN(in_channels, cfg.hidden, out_channels, num_layers=cfg.layers, dropout=cfg.dropout)
