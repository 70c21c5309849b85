r"""MSG's layers: a spiking encoder and the manifold spiking graph convolution.

Sun, Huang, Wan, Peng, Yu, "Spiking Graph Neural Network on Riemannian Manifolds", NeurIPS 2024.

Each layer carries two things forward: spike trains :math:`S \in \{0,1\}^{T \times N \times D}` and a manifold
state :math:`z \in \mathcal{M}^N`. The state moves along the geodesic whose initial velocity is the layer's mean
current, read as a tangent vector at the origin and carried to :math:`z` by parallel transport:

.. math::
    v_l = \epsilon \, \hat{A} \, \bar{S}_{l-1} W_l, \qquad
    z_{l+1} = \operatorname{Exp}_{z_l}\!\big(\mathrm{PT}_{o \to z_l}(v_l)\big),

with :math:`\bar{S} = \frac{1}{T}\sum_t S_t`. Because the convolution is linear and has no bias,
:math:`\frac{1}{T}\sum_t \hat{A} S_t W = \hat{A} \bar{S} W`: the rate path is one aggregation of width D.

Credit assignment (``credit``):

- ``"dvm"`` (differentiation via manifold): the spike path runs without autograd (spikes are constants for the
  gradient); the gradient reaches :math:`W_l` only through :math:`v_l` and the exp maps. Memory and backward time do
  not grow with T.
- ``"bptt"``: the currents of all T steps stay in the graph and surrogate gradients flow through the neurons into
  earlier layers (the paper's "DvS" baseline).
- any other :mod:`msg.credit` method (``"tbptt:k"``, ``"checkpoint:m"``, ``"rate"``, ``"ottt"``): the spike path's
  time loop is handed to it (:meth:`~msg.credit.CreditMethod.spike` / :meth:`~msg.credit.CreditMethod.layer`); the
  rate path and the manifold path stay as they are. Without autograd (evaluation) the neuron module runs directly,
  so forward hooks (energy counting) see it.

The manifold path (exp, transport, log: N x (D+1) numbers) runs in ``manifold_dtype`` (float64 by default): in
float32 the hyperboloid loses its digits a few units from the origin (DESIGN.md, "Numerical range").
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from msg.credit import get_credit
from msg.manifolds import get_manifold
from msg.neurons import get_neuron
from msg.ops.aggregate import Adjacency, SparseFeatures, propagate

SPARSE_FEATURES_DENSITY = 0.1
"""Below this fraction of non-zeros, the encoder multiplies the features as a sparse matrix."""
CACHE_SIZE = 4
"""Graph inputs whose normalised adjacency a layer keeps (train, validation, test and one spare)."""


def _check_positive(owner: str, name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{owner}: {name} must be > 0, got {value!r}")


def make_neuron(owner: str, neuron: str, v_threshold: float, tau: float) -> nn.Module:
    """A multi-step IF or LIF node for MSG (soft reset by subtraction, as in the paper's IF neuron)."""
    if neuron.lower() not in ("if", "lif"):
        raise ValueError(f"{owner}: neuron must be 'IF' or 'LIF', got {neuron!r}")
    kwargs: dict[str, Any] = {"v_threshold": v_threshold, "v_reset": None, "step_mode": "m"}
    if neuron.lower() == "lif":
        kwargs["tau"] = tau
    return get_neuron(neuron, **kwargs)


def shared_dropout_mask(like: Tensor, p: float, training: bool) -> Tensor | None:
    """One inverted-dropout mask [N, D] shared by all T steps (so the mean over t commutes with dropout)."""
    if not training or p == 0.0:
        return None
    return torch.empty_like(like).bernoulli_(1.0 - p).div_(1.0 - p)


class _SpikingConvBase(MessagePassing):
    """Shared constructor (arguments as documented on :class:`SpikingEncoder`), validation, the graph-input and
    feature caches and the manifold move of the MSG layers."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        manifold: Any = "lorentz",
        T: int = 15,
        neuron: str = "IF",
        v_threshold: float = 1.0,
        tau: float = 2.0,
        step_size: float = 0.1,
        dropout: float = 0.0,
        credit: str = "dvm",
        cached: bool = True,
        manifold_dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__(aggr="add")
        name = type(self).__name__
        if int(T) < 1:
            raise ValueError(f"{name}: T must be >= 1, got {T!r}")
        _check_positive(name, "step_size", step_size)
        _check_positive(name, "v_threshold", v_threshold)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout!r}")
        self.credit_method = get_credit(credit)
        self.credit_method.check_model(name, has_manifold=True)
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"{name}: channels must be >= 1, got in={in_channels}, out={out_channels}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.manifold = get_manifold(manifold)
        self.T, self.step_size, self.dropout = int(T), float(step_size), float(dropout)
        self.credit = credit if isinstance(credit, str) else self.credit_method.name
        self.cached, self.manifold_dtype = cached, manifold_dtype
        self.neuron = make_neuron(name, neuron, v_threshold, tau)
        self.lin = nn.Linear(in_channels, out_channels, bias=False)
        self._cache: list[tuple[Any, Adjacency]] = []
        self._features: tuple[Tensor, Tensor | SparseFeatures] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()
        self._cache, self._features = [], None

    def adjacency(self, adj: Any, num_nodes: int) -> Adjacency:
        """The normalised adjacency for a graph input; with ``cached``, built once per input object.

        The cache keeps the last :data:`CACHE_SIZE` graph inputs (by identity, holding a reference so an id is
        never reused), so alternating train / validation / test graphs do not rebuild. As with PyG's
        ``cached=True``, an input tensor modified in place is not noticed: call :meth:`reset_parameters`."""
        if isinstance(adj, Adjacency):
            return adj
        for i, (key, built) in enumerate(self._cache):
            if key is adj:
                self._cache.append(self._cache.pop(i))
                return built
        built = Adjacency(adj, num_nodes)
        if self.cached:
            self._cache = [*self._cache[-(CACHE_SIZE - 1) :], (adj, built)]
        return built

    def message_and_aggregate(self, adj_t: Adjacency, x: Tensor) -> Tensor:  # type: ignore[override]
        """All time steps of ``x`` ([N, F] or [T, N, F]) aggregated with sparse products (no [E, F] messages)."""
        return propagate(adj_t, x)

    def _manifold_macs(self, z: Tensor) -> int:
        """Multiply-adds of one transport + exp map on [N, D'] states (about six inner products / axpys)."""
        return 6 * z.numel()

    def _spike(self, currents: Tensor) -> Tensor:
        self.neuron.reset()
        spikes = self.neuron(currents)
        self.neuron.reset()
        return spikes

    def _move(self, z: Tensor, v: Tensor) -> Tensor:
        """z' = Exp_z(PT_{o->z}(v)) with v an intrinsic [N, D] vector read at the origin."""
        u = self.manifold.tangent0(v.to(self.manifold_dtype))
        return self.manifold.expmap(z, self.manifold.transp0(z, u))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_channels}, {self.out_channels}, manifold={self.manifold!r}, "
            f"T={self.T})"
        )


class SpikingEncoder(_SpikingConvBase):
    r"""MSG's encoder: GCN currents, spikes over T steps, and the first manifold state.

    .. math::
        I = \hat{A} \, \mathrm{drop}(X W_0), \quad S_0 = \mathrm{Neuron}(I, \dots, I), \quad
        z_1 = \operatorname{Exp}_o(\epsilon I)

    Dropout acts after the projection (not on the raw, possibly large, feature matrix).

    Args:
        in_channels (int): input features F.
        out_channels (int): intrinsic dimension D of the state and spike width.
        manifold (str or Manifold): ``"lorentz"``, ``"sphere"``, ``"euclidean"``, a product such as
            ``"lorentz,sphere"``, or a manifold object.
        T (int): time steps. (default: :obj:`15`)
        neuron (str): ``"IF"`` or ``"LIF"``. (default: :obj:`"IF"`)
        v_threshold (float): firing threshold. (default: :obj:`1.0`)
        tau (float): LIF membrane time constant. (default: :obj:`2.0`)
        step_size (float): :math:`\epsilon`. (default: :obj:`0.1`)
        dropout (float): dropout after the projection. (default: :obj:`0.0`)
        credit (str or CreditMethod): ``"dvm"``, ``"bptt"`` or another :func:`msg.credit.get_credit` spec.
            (default: :obj:`"dvm"`)
        cached (bool): build the normalised adjacency once per graph input. (default: :obj:`True`)
        manifold_dtype (torch.dtype): dtype of the manifold path. (default: :obj:`torch.float64`)

    Shapes:
        - **input:** x :math:`(|V|, F)`, graph ``edge_index`` :math:`(2, |E|)` or a sparse adjacency
        - **output:** spikes :math:`(T, |V|, D)`, state :math:`(|V|, D')` with D' the manifold's ambient
          dimension (D + 1 for Lorentz and sphere)
    """

    def energy_ops(self, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> tuple[int, int]:
        """(ACs, MACs) of one forward for :class:`msg.ops.energy.EnergyMeter`: the projection of the real-valued
        features (non-zeros x D, as a sparse-aware kernel skips zeros), one weighted aggregation of the currents
        (nnz(A) x D) and the exp map; the neurons' own updates are counted by the meter's neuron hooks."""
        x, adj = inputs
        graph = self.adjacency(adj, x.size(0))
        nnz = x.nnz if isinstance(x, SparseFeatures) else int(torch.count_nonzero(x))
        macs = nnz * self.out_channels + graph.matrix._nnz() * self.out_channels
        return 0, macs + self._manifold_macs(output[1])

    def current(self, x: Tensor | SparseFeatures, graph: Adjacency) -> Tensor:
        """The encoder current I = A drop(X W_0), [N, D] (in autograd). ``x`` may be dense or
        :class:`~msg.ops.aggregate.SparseFeatures` (then the projection costs nnz(X) x D)."""
        if len(x.shape) != 2 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__}: expected x of shape [N, {self.in_channels}], got {tuple(x.shape)}"
            )
        x = self.features(x)
        projected = x.matmul(self.lin.weight.t()) if isinstance(x, SparseFeatures) else self.lin(x)
        current = self.message_and_aggregate(graph, nn.functional.dropout(projected, self.dropout, self.training))
        if not torch.isfinite(current).all():  # O(N*D); the (often large) feature matrix is scanned only now
            # SparseFeatures rejects non-finite values when it is built
            if not (isinstance(x, SparseFeatures) or bool(torch.isfinite(x).all())):
                raise ValueError(f"{type(self).__name__}: the node features x contain NaN or Inf")
            raise FloatingPointError(
                f"{type(self).__name__}: the current is not finite although x is: the weights diverged "
                "(lower the learning rate or the step size)"
            )
        return current

    def features(self, x: Tensor | SparseFeatures) -> Tensor | SparseFeatures:
        """``x`` as :class:`~msg.ops.aggregate.SparseFeatures` when it is mostly zeros (density below
        :data:`SPARSE_FEATURES_DENSITY`), built once per input object when ``cached`` (like the adjacency)."""
        if isinstance(x, SparseFeatures) or x.layout != torch.strided:
            return x if isinstance(x, SparseFeatures) else SparseFeatures(x)
        if not self.cached:
            return x
        if self._features is not None and self._features[0] is x:
            return self._features[1]
        dense = x.numel() and int(torch.count_nonzero(x)) >= SPARSE_FEATURES_DENSITY * x.numel()
        converted = x if dense else SparseFeatures(x)
        self._features = (x, converted)
        return converted

    def state(self, current: Tensor) -> Tensor:
        """The first manifold state z_1 = Exp_o(eps I)."""
        return self.manifold.expmap0(self.manifold.tangent0((self.step_size * current).to(self.manifold_dtype)))

    def forward(self, x: Tensor, adj: Any) -> tuple[Tensor, Tensor]:
        current = self.current(x, self.adjacency(adj, x.size(0)))
        repeated = current.unsqueeze(0).expand(self.T, *current.shape)
        if torch.is_grad_enabled():
            spikes = self.credit_method.spike(self.neuron, repeated)
        else:
            spikes = self._spike(repeated)
        return spikes, self.state(current)


class ManifoldSpikingConv(_SpikingConvBase):
    r"""A manifold spiking graph convolution (MSG layer).

    .. math::
        I_t = m \odot \hat{A} S_{l-1,t} W_l, \quad S_l = \mathrm{Neuron}(I_1, \dots, I_T), \quad
        z_{l+1} = \operatorname{Exp}_{z_l}\big(\mathrm{PT}_{o \to z_l}(\epsilon \bar{I})\big), \quad
        \bar{I} = \tfrac{1}{T}\textstyle\sum_t I_t

    with one dropout mask :math:`m` shared by all steps. Under ``credit="dvm"`` the T-step currents are computed
    without autograd and the rate path :math:`\epsilon\, m \odot \hat{A} \bar{S} W` (equal to the mean current)
    carries the gradient; the result equals the autograd gradient of the same forward with spikes detached.

    Args:
        in_channels (int): spike width of the previous layer.
        out_channels (int): spike width of this layer; must equal the manifold path's intrinsic dimension D.
        manifold, T, neuron, v_threshold, tau, step_size, dropout, credit, cached, manifold_dtype: as in
            :class:`SpikingEncoder`.

    Shapes:
        - **input:** spikes :math:`(T, |V|, F_{in})`, state :math:`(|V|, D')`, graph
        - **output:** spikes :math:`(T, |V|, F_{out})`, state :math:`(|V|, D')`
    """

    def energy_ops(self, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> tuple[int, int]:
        """(ACs, MACs) of one forward: each input spike accumulates one weight row (spikes x F_out ACs), the T
        weighted aggregations of the currents (T x nnz(A) x F_out MACs), and the transport + exp map."""
        spikes, _, adj = inputs
        graph = self.adjacency(adj, spikes.size(1))
        acs = int(torch.count_nonzero(spikes)) * self.out_channels
        macs = self.T * graph.matrix._nnz() * self.out_channels + self._manifold_macs(output[1])
        return acs, macs

    def _check(self, spikes: Tensor, z: Tensor) -> None:
        name = type(self).__name__
        if spikes.dim() != 3 or spikes.size(0) != self.T or spikes.size(2) != self.in_channels:
            raise ValueError(
                f"{name}: expected spikes of shape [T={self.T}, N, {self.in_channels}], got {tuple(spikes.shape)}"
            )
        if z.dim() != 2 or z.size(0) != spikes.size(1):
            raise ValueError(f"{name}: expected a state of shape [N={spikes.size(1)}, D'], got {tuple(z.shape)}")

    def mask(self, num_nodes: int) -> Tensor | None:
        """The dropout mask [N, D] of one forward, shared by every time step and the rate path."""
        weight = self.lin.weight
        return shared_dropout_mask(weight.new_empty(num_nodes, self.out_channels), self.dropout, self.training)

    def currents(self, spikes: Tensor, graph: Adjacency, mask: Tensor | None) -> Tensor:
        """Step currents m * A S_t W for a block of steps [k, N, F_in] -> [k, N, F_out]."""
        currents = self.message_and_aggregate(graph, self.lin(spikes))
        return currents if mask is None else currents * mask

    def move_from_rate(self, rate: Tensor, z: Tensor, graph: Adjacency, mask: Tensor | None) -> Tensor:
        """z' from the rate path eps * m * A (mean_t S) W, one aggregation of width D, with ``rate`` = mean_t S.

        Under DvM the rate is a constant; under BPTT it carries gradient. By linearity it equals the mean of the
        step currents. With an adjacency trimmed to its first rows (``graph.num_rows``), only those nodes move."""
        mean_current = self.message_and_aggregate(graph, self.lin(rate))
        if graph.num_rows != graph.num_nodes:
            z = z[: graph.num_rows]
        if mask is not None:
            mean_current = mean_current * mask
        return self._move(z, self.step_size * mean_current)

    def move(self, spikes: Tensor, z: Tensor, adj: Any) -> Tensor:
        """Only the new state (for a last layer whose spikes feed nothing: skips the T-step spike path)."""
        self._check(spikes, z)
        graph = self.adjacency(adj, spikes.size(1))
        return self.move_from_rate(spikes.mean(0), z, graph, self.mask(graph.num_rows))

    def forward(self, spikes: Tensor, z: Tensor, adj: Any) -> tuple[Tensor, Tensor]:
        self._check(spikes, z)
        graph = self.adjacency(adj, spikes.size(1))
        mask = self.mask(graph.num_rows)
        if torch.is_grad_enabled():
            transform = lambda s: self.currents(s, graph, mask)  # noqa: E731
            out = self.credit_method.layer(self.neuron, spikes, transform, params=[self.lin.weight])
        else:
            out = self._spike(self.currents(spikes, graph, mask))
        return out, self.move_from_rate(spikes.mean(0), z, graph, mask)
