"""Convergent recurrent networks with static input, defined by a primitive function (for ``msg.credit.ep``).

- :class:`LayeredEnergyRNN`: the fully connected layered network of Ernoult et al., "Updates of Equilibrium Prop
  Match Gradients of Backprop Through Time in an RNN with Static Input" (NeurIPS 2019), Sec. 4 (prototypical
  setting), with every connection used in both directions.
- :class:`GraphEnergyRNN`: an equilibrium graph layer (beyond the paper): node states coupled through the
  symmetric normalised adjacency and one shared symmetric weight matrix, for node classification.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch_geometric.utils import coalesce

from msg.credit.ep import EnergyModel

__all__ = ["GraphEnergyRNN", "LayeredEnergyRNN", "make_activation", "normalized_adjacency"]

_ACTIVATIONS = ("linear", "tanh", "hardsigmoid")


def make_activation(owner: str, name: str) -> nn.Module:
    r"""The state activation :math:`\sigma`: ``linear`` (identity), ``tanh``, or ``hardsigmoid``
    (:math:`\min(\max(u, 0), 1)`, the :math:`\rho` of Ernoult et al.)."""
    if name == "linear":
        return nn.Identity()
    if name == "tanh":
        return nn.Tanh()
    if name == "hardsigmoid":
        return nn.Hardtanh(0.0, 1.0)
    raise ValueError(f"{owner}: `activation` must be one of {_ACTIVATIONS}, got {name!r}")


class LayeredEnergyRNN(EnergyModel):
    r"""Layered convergent RNN with static input (Ernoult et al., NeurIPS 2019, prototypical setting).

    With :math:`s_0 = x` (clamped) and state layers :math:`s_1, \dots, s_L` (:math:`s_L` is the output):

    .. math::
        \Phi(x, s) = \sum_{n=1}^{L} s_n^\top (W_n s_{n-1} + b_n), \qquad
        s_{n, t+1} = \sigma\big(W_n s_{n-1, t} + b_n + W_{n+1}^\top s_{n+1, t}\big),

    so each weight matrix carries the forward and the backward connection (symmetric connectivity). With
    ``activation="linear"`` the dynamics are exactly :math:`s_{t+1} = \partial\Phi/\partial s`.

    Args:
        sizes: layer widths :math:`(F, D_1, \dots, D_L)`, input first, output last (at least two).
        activation: ``"linear"``, ``"tanh"`` or ``"hardsigmoid"`` (default ``"tanh"``).
        gain: factor on PyTorch's default ``nn.Linear`` initialisation (default 1.0); small gains make the
            linear dynamics contractive.

    Shapes:
        - **x**: :math:`(B, F)`; **state**: :math:`[(B, D_1), \dots, (B, D_L)]`; **output**: :math:`(B, D_L)`.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "tanh", gain: float = 1.0) -> None:
        super().__init__()
        if len(sizes) < 2 or any(int(d) < 1 for d in sizes):
            raise ValueError(f"LayeredEnergyRNN: `sizes` must be at least two positive widths, got {list(sizes)}")
        if not gain > 0.0:
            raise ValueError(f"LayeredEnergyRNN: `gain` must be positive, got {gain}")
        self.sizes = [int(d) for d in sizes]
        self.activation_name = activation
        self.activation = make_activation("LayeredEnergyRNN", activation)
        self.gain = float(gain)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in self.layers:
            layer.reset_parameters()
            with torch.no_grad():
                layer.weight.mul_(self.gain)
                layer.bias.mul_(self.gain)

    def init_state(self, x: Tensor) -> list[Tensor]:
        return [x.new_zeros(x.shape[0], d) for d in self.sizes[1:]]

    def forward(self, x: Tensor, state: list[Tensor]) -> Tensor:
        below = [x, *state[:-1]]
        return sum((s * layer(b)).sum() for s, b, layer in zip(state, below, self.layers, strict=True))

    def output(self, state: list[Tensor]) -> Tensor:
        return state[-1]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.sizes}, activation={self.activation_name!r})"


def normalized_adjacency(edge_index: Tensor, num_nodes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    r"""Symmetric normalised adjacency with self-loops, as a sparse COO tensor.

    .. math::
        \hat A = \tilde D^{-1/2} (A + I) \tilde D^{-1/2}, \qquad \lVert \hat A \rVert_2 \le 1 .

    Shapes:
        - **edge_index**: :math:`(2, |E|)`; **output**: :math:`(|V|, |V|)` sparse.
    """
    loops = torch.arange(num_nodes, device=edge_index.device)
    rows = torch.cat([edge_index[0], edge_index[1], loops])
    cols = torch.cat([edge_index[1], edge_index[0], loops])
    index = coalesce(torch.stack([rows, cols]), num_nodes=num_nodes)  # also drops duplicate edges
    deg = torch.bincount(index[0], minlength=num_nodes).to(dtype)
    inv = deg.pow(-0.5)
    values = inv[index[0]] * inv[index[1]]
    return torch.sparse_coo_tensor(index, values, (num_nodes, num_nodes), is_coalesced=True, check_invariants=False)


class GraphEnergyRNN(EnergyModel):
    r"""Equilibrium graph layer: node states at a fixed point of a symmetric graph-coupled energy.

    Hidden node states :math:`H` are driven by the node features, by their neighbours through the symmetric
    normalised adjacency :math:`\hat A` and one shared symmetric weight :math:`W = (A_W + A_W^\top)/2`, and
    by the output states :math:`O`:

    .. math::
        \Phi(X, H, O) = \langle H, X U^\top + b \rangle + \tfrac12 \langle H, \hat A H W \rangle
        + \langle O, H V^\top + c \rangle,

    .. math::
        H_{t+1} = \sigma(X U^\top + b + \hat A H_t W + O_t V), \qquad O_{t+1} = \sigma(H_t V^\top + c).

    Because :math:`\hat A` and :math:`W` are symmetric, these dynamics are exactly :math:`\sigma(\partial\Phi/
    \partial s)`, so the network can be trained by equilibrium propagation (``msg.credit.ep``) or by BPTT.

    Args:
        in_features: node feature width :math:`F`.
        hidden: hidden state width :math:`D`.
        num_classes: output width :math:`C`.
        edge_index: the graph, :math:`(2, |E|)`; made symmetric, self-loops added.
        num_nodes: :math:`|V|`.
        activation: ``"linear"``, ``"tanh"`` or ``"hardsigmoid"`` (default ``"hardsigmoid"``).
        coupling_gain: initial scale of :math:`W` (default 0.1): keep it small, the coupling's spectral
            norm bounds the contraction.
        damping: :math:`d` of :class:`~msg.credit.ep.EnergyModel` (default 0.0; 0.5 rules out period-2
            oscillations of the free phase).

    Shapes:
        - **x**: :math:`(|V|, F)`, dense or sparse; **state**: :math:`[(|V|, D), (|V|, C)]`;
          **output**: :math:`(|V|, C)`.
    """

    def __init__(
        self,
        in_features: int,
        hidden: int,
        num_classes: int,
        edge_index: Tensor,
        num_nodes: int,
        activation: str = "hardsigmoid",
        coupling_gain: float = 0.1,
        damping: float = 0.0,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_features", in_features),
            ("hidden", hidden),
            ("num_classes", num_classes),
            ("num_nodes", num_nodes),
        ):
            if value < 1:
                raise ValueError(f"GraphEnergyRNN: `{name}` must be a positive integer, got {value}")
        self.in_features, self.hidden, self.num_classes = in_features, hidden, num_classes
        self.activation_name = activation
        self.activation = make_activation("GraphEnergyRNN", activation)
        self.coupling_gain = float(coupling_gain)
        if not 0.0 <= damping < 1.0:
            raise ValueError(f"GraphEnergyRNN: `damping` must lie in [0, 1), got {damping}")
        self.damping = float(damping)
        self.register_buffer("adj", normalized_adjacency(edge_index, num_nodes))
        self.inp = nn.Linear(in_features, hidden)
        self.out = nn.Linear(hidden, num_classes)
        self.coupling = nn.Parameter(torch.empty(hidden, hidden))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.inp.reset_parameters()
        self.out.reset_parameters()
        nn.init.normal_(self.coupling, std=self.coupling_gain / self.hidden**0.5)

    def init_state(self, x: Tensor) -> list[Tensor]:
        n = x.shape[0]
        return [self.out.weight.new_zeros(n, self.hidden), self.out.weight.new_zeros(n, self.num_classes)]

    def forward(self, x: Tensor, state: list[Tensor]) -> Tensor:
        h, o = state
        w = 0.5 * (self.coupling + self.coupling.t())
        drive = (torch.sparse.mm(x, self.inp.weight.t()) if x.is_sparse else x @ self.inp.weight.t()) + self.inp.bias
        return (h * drive).sum() + 0.5 * (h * torch.sparse.mm(self.adj, h @ w)).sum() + (o * self.out(h)).sum()

    def output(self, state: list[Tensor]) -> Tensor:
        return state[-1]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_features}, {self.hidden}, {self.num_classes}, "
            f"activation={self.activation_name!r})"
        )
