r"""SpikingGCN: spike-encoded SGC features through one layer of spiking neurons (Zhu, Sun, Zhang, Li, Wang & Xu,
"Spiking Graph Convolutional Networks", IJCAI 2022).

.. math::
    \tilde X = \hat A^K X, \qquad P = \operatorname{diag}\bigl(\max_j \tilde X_{ij}\bigr)^{-1} \tilde X \in [0, 1],
    \qquad s_t \sim \operatorname{Bernoulli}(P), \qquad z = \text{Neuron}(W s_1 + b, \dots, W s_T + b), \qquad
    \hat y = \sum_{t=1}^{T} z_t

with :math:`\hat A = \tilde D^{-1/2}(A + I)\tilde D^{-1/2}` (SGC's propagation, Wu et al., ICML 2019, computed once
per graph input and cached), the rows of :math:`\tilde X` scaled so that each node's strongest feature fires at
every step (Bernoulli rate coding), one output neuron per class and the spike count as the logits. The time loop is
the credit method's (:mod:`msg.credit`): ``credit`` picks BPTT, TBPTT, checkpointing, OTTT or rate-based backprop;
``dvm`` is refused (no manifold path).

Link prediction (not in Zhu et al., who classify nodes only; the MSG paper reports it): built with D output neurons
instead of C, :meth:`SpikingGCN.encode` gives each node's firing rates :math:`\hat y / T \in [0, 1]^D` as a
Euclidean embedding, scored by the runner's Fermi-Dirac decoder on the Euclidean distance. Rates rather than
counts keep the squared distances in :math:`[0, D]` whatever T, so the decoder's radius does not depend on T.

In training under ``bptt`` or ``tbptt:k``, which differentiate the neurons given their currents, and when few
entries fire (:attr:`SpikingGCN.sparse_below`), the currents come from the spike trains as a sparse matrix
(:meth:`SpikingGCN.sparse_currents`: the same draws, values and gradients as the dense product, its cost
proportional to the spikes); otherwise, and for the credit methods that need the input spikes themselves, from
the dense trains. Without gradients (evaluation), the nodes are encoded in blocks so that the
:math:`(T, |V|, F)` spike trains are never held at once (on Coauthor CS, F = 6805, they would take 5 GB at
T = 10; 1.3% of the entries fire there at K = 2).

Shapes:
    - **input:** x :math:`(|V|, F)`, ``edge_index`` :math:`(2, |E|)` or a sparse adjacency
    - **output:** spike counts :math:`(|V|, C)`, or :math:`(|I|, C)` for the nodes of ``index`` (logits for the
      cross-entropy), values in :math:`\{0, \dots, T\}`; :meth:`SpikingGCN.encode`: rates :math:`(|V|, D)`
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn

from msg.credit import BPTT, CreditMethod, get_credit
from msg.manifolds import get_manifold
from msg.neurons import get_neuron
from msg.ops.aggregate import Adjacency, propagate

__all__ = ["SpikingGCN", "build"]


class SpikingGCN(nn.Module):
    r"""Spiking graph convolutional network (module docstring).

    Args:
        in_channels (int): input features F.
        out_channels (int): classes C (one output neuron each), or the embedding width D for link prediction.
        T (int): time steps of the rate code. (default: :obj:`10`)
        K (int): propagation steps of :math:`\hat A^K X`, :math:`K \ge 0`. (default: :obj:`2`)
        neuron (str): ``"LIF"`` or ``"IF"``. (default: :obj:`"LIF"`)
        tau (float): LIF membrane time constant. (default: :obj:`2.0`)
        v_threshold (float): firing threshold. (default: :obj:`1.0`)
        v_reset (float, optional): hard-reset potential, ``None`` for soft reset. (default: :obj:`None`)
        detach_reset (bool): treat the reset as a constant for the gradient. (default: :obj:`False`)
        credit (str or CreditMethod): temporal credit assignment, see :func:`msg.credit.get_credit`.
            (default: :obj:`"bptt"`)
        bias (bool): bias of the linear layer. (default: :obj:`True`)
        cached (bool): compute :math:`P` once per graph input object. (default: :obj:`True`)

    Shapes:
        - **input:** x :math:`(|V|, F)`, graph; **output:** :math:`(|V|, C)`; :meth:`encode`: :math:`(|V|, D)`
    """

    computes_node_subset: bool = True
    """``forward(x, adj, index)`` computes the nodes in ``index`` only: once :math:`P` is computed (for the whole
    graph), a node's output depends on its own row of :math:`P` and its own draws, so the node-classification loss
    (msg.tasks.runner) encodes the training nodes alone. Same loss and gradient as encoding every node and keeping
    the training ones, for other random numbers (the other nodes' draws are not made). Measured (one thread, T = 5,
    shared machine, compare_models' settings), median training step, every node -> the training nodes: Photo
    0.5-1.0 -> 0.08 s, Coauthor CS 5.8-8.4 -> 0.55-0.87 s."""
    eval_block_elements: int = 1 << 24
    """Spike-train entries (T x nodes x F) encoded at once when no gradient is taken (module docstring)."""
    sparse_below: float = 0.05
    """Mean firing probability of the input below which training under ``bptt``/``tbptt`` takes the sparse path.
    Measured (one thread, T = 5, loaded machine): Photo, mean 0.42, one forward and backward took 13.3 s sparse
    and 1.6 s dense; Coauthor CS, mean 0.013, 15.5 s sparse, while the dense trains alone take 2.5 GB."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        T: int = 10,
        K: int = 2,
        neuron: str = "LIF",
        tau: float = 2.0,
        v_threshold: float = 1.0,
        v_reset: float | None = None,
        detach_reset: bool = False,
        credit: str | CreditMethod = "bptt",
        bias: bool = True,
        cached: bool = True,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"{name}: channels must be >= 1, got in={in_channels}, out={out_channels}")
        if isinstance(T, bool) or int(T) != T or T < 1:
            raise ValueError(f"{name}: T must be an integer >= 1, got {T!r}")
        if isinstance(K, bool) or int(K) != K or K < 0:
            raise ValueError(f"{name}: K must be an integer >= 0, got {K!r}")
        if neuron.lower() not in ("lif", "if"):
            raise ValueError(f"{name}: neuron must be 'LIF' or 'IF', got {neuron!r}")
        self.credit = get_credit(credit)
        self.credit.check_model(name, has_manifold=False)
        self.in_channels, self.out_channels, self.T, self.K = int(in_channels), int(out_channels), int(T), int(K)
        kwargs: dict[str, Any] = dict(v_threshold=v_threshold, v_reset=v_reset, detach_reset=detach_reset)
        if neuron.lower() == "lif":
            kwargs["tau"] = tau
        self.neuron = get_neuron(neuron, step_mode="m", **kwargs)
        self.lin = nn.Linear(in_channels, out_channels, bias=bias)
        self.manifold = get_manifold("euclidean")
        self.cached = cached
        self._cache: tuple[Tensor, Any, tuple[Tensor, Tensor, Tensor]] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()
        self._cache = None

    def rates(self, x: Tensor, adj: Any) -> Tensor:
        """Firing probabilities :math:`P` of the encoder, :math:`(|V|, F)` in [0, 1] (no gradient)."""
        return self._rates(x, adj)[0]

    def _rates(self, x: Tensor, adj: Any) -> tuple[Tensor, Tensor, Tensor]:
        """``(P, flat indices of its non-zeros, their values)``, cached per graph input."""
        name = type(self).__name__
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(f"{name}: expected x of shape [N, {self.in_channels}], got {tuple(x.shape)}")
        if self.cached and self._cache is not None and self._cache[0] is x and self._cache[1] is adj:
            return self._cache[2]
        with torch.no_grad():
            graph = adj if isinstance(adj, Adjacency) else Adjacency(adj, x.size(0), dtype=x.dtype)
            h = x
            for _ in range(self.K):
                h = propagate(graph, h)
            if not torch.isfinite(h).all() or (h < 0).any():
                raise ValueError(f"{name}: propagated features must be finite and >= 0 for rate coding")
            p = h / h.amax(dim=1, keepdim=True).clamp_min(torch.finfo(h.dtype).tiny)
            index = torch.nonzero(p.flatten()).squeeze(1)
            rates = (p, index, p.flatten()[index])
        if self.cached:
            self._cache = (x, adj, rates)
        return rates

    def _draw(self, x: Tensor, adj: Any, index: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """``(P, flat indices of its non-zeros, fired (T, nnz) bool)``: one Bernoulli draw per step and non-zero
        rate, from the global generator (the same draws for the dense and the sparse spike trains)."""
        p, flat, values = self._rates(x, adj)
        if index is not None:
            p = p[index]
            flat = torch.nonzero(p.flatten()).squeeze(1)
            values = p.flatten()[flat]
        return p, flat, torch.rand(self.T, flat.numel(), dtype=p.dtype) < values

    def _mean_rate(self, x: Tensor, adj: Any) -> float:
        """The mean of :math:`P`: the expected fraction of spike-train entries that fire."""
        p, _, values = self._rates(x, adj)
        return float(values.sum()) / max(p.numel(), 1)

    def spike_trains(self, x: Tensor, adj: Any, index: Tensor | None = None) -> Tensor:
        """Bernoulli spike trains :math:`(T, |V|, F)` (or of the nodes in ``index``) drawn from :meth:`rates` with
        the global generator; only the non-zero rates are sampled (on Cora with K = 2, 19% of them; drawing every
        entry took twice as long)."""
        p, flat, fired = self._draw(x, adj, index)
        spikes = p.new_zeros(self.T, p.numel())
        spikes.index_copy_(1, flat, fired.to(p.dtype))
        return spikes.view(self.T, *p.shape)

    def sparse_currents(self, x: Tensor, adj: Any, index: Tensor | None = None) -> Tensor:
        """The currents :math:`W s_t + b`, :math:`(T, |V|, C)`, of the same draws as :meth:`spike_trains`, from the
        spike trains as a sparse CSR matrix (a product over the spikes only; on Coauthor CS a few percent of the
        :math:`T |V| F` entries fire, and the dense trains would not fit in memory at T = 10)."""
        p, flat, fired = self._draw(x, adj, index)
        n, f = p.shape
        step, j = fired.nonzero(as_tuple=True)  # ordered by step, then position: rows of the CSR matrix in order
        position = flat[j]
        row, col = step * n + torch.div(position, f, rounding_mode="floor"), position % f
        crow = torch.zeros(self.T * n + 1, dtype=torch.long)
        crow[1:] = torch.bincount(row, minlength=self.T * n).cumsum(0)
        with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta": used as in msg.ops.aggregate
            warnings.simplefilter("ignore", UserWarning)
            spikes = torch.sparse_csr_tensor(crow, col, p.new_ones(col.numel()), (self.T * n, f))
            currents = spikes @ self.lin.weight.t()
        if self.lin.bias is not None:
            currents = currents + self.lin.bias
        return currents.view(self.T, n, -1)

    def forward(self, x: Tensor, adj: Any, index: Tensor | None = None) -> Tensor:
        """Spike counts of every node, or of the nodes in ``index`` (nodes are independent once the features are
        propagated, so training can encode only the labelled ones)."""
        if index is None and not torch.is_grad_enabled():
            n = self._rates(x, adj)[0].size(0)
            block = max(1, self.eval_block_elements // (self.T * self.in_channels))
            if n > block:
                return torch.cat([self(x, adj, torch.arange(i, min(i + block, n))) for i in range(0, n, block)])
        if torch.is_grad_enabled() and isinstance(self.credit, BPTT) and self._mean_rate(x, adj) < self.sparse_below:
            spikes = self.credit.spike(self.neuron, self.sparse_currents(x, adj, index))
        else:
            spikes = self.credit.layer(self.neuron, self.spike_trains(x, adj, index), self.lin)
        return spikes.sum(0)

    def encode(self, x: Tensor, adj: Any) -> Tensor:
        """Firing rates :math:`(|V|, D)` in [0, 1], the spike counts over T: the embedding for link prediction."""
        return self(x, adj) / self.T

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_channels}, {self.out_channels}, T={self.T}, K={self.K}, "
            f"credit={self.credit!r})"
        )


def build(cfg: Any, in_channels: int, out_channels: int | None) -> SpikingGCN:
    """Builder for ``msg train --model spiking_gcn``: ``T``, ``layers`` (as K), ``neuron``, ``tau``,
    ``v_threshold`` and ``credit`` from the training config; for link prediction (``out_channels=None``)
    ``hidden`` output neurons, read by :meth:`SpikingGCN.encode`."""
    return SpikingGCN(
        in_channels, cfg.hidden if out_channels is None else out_channels, T=cfg.T, K=cfg.layers, neuron=cfg.neuron,
        tau=cfg.tau, v_threshold=cfg.v_threshold, credit=cfg.credit,
    )
