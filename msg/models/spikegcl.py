r"""SpikeGCL: self-supervised 1-bit node embeddings from a spiking graph encoder trained by graph contrast (Li, Zhang,
Wu, Zhu, Wang, Meng, Zheng & Chen, "A Graph is Worth 1-bit Spikes: When Graph Contrastive Learning Meets Spiking
Neural Networks", ICLR 2024, https://arxiv.org/abs/2305.19306), written from the paper's description.

**Encoder.** The F input features are cut into T groups of :math:`g = \lceil F / T \rceil` consecutive features (the
last zero-padded), :math:`X = [X_1, \dots, X_T]`, and group t is the input at time step t: a non-temporal graph
becomes a sequence without repeating the input T times. One graph convolution, shared by all steps, feeds spiking
neurons whose membranes carry over the steps:

.. math::
    I^{1}_t = \mathrm{Norm}\big(\hat A X_t W_1 + b_1\big), \qquad
    I^{l}_t = \mathrm{Norm}\big(\hat A S^{l-1}_t W_l + b_l\big), \qquad
    S^{l}_{1..T} = \text{Neuron}\big(I^{l}_{1..T}\big), \qquad
    z_i = \big[S^{L}_{1,i} \,\|\, \dots \,\|\, S^{L}_{T,i}\big] \in \{0, 1\}^{T D}

with :math:`\hat A = \tilde D^{-1/2}(A + I)\tilde D^{-1/2}` and Norm a batch normalisation of each step over the
nodes (statistics per step, shared affine parameters and running averages), so that the firing threshold is met
whatever the input scale. The embedding is the concatenation of the last layer's spikes: one bit per neuron and
step.

**Contrastive objective** (:meth:`SpikeGCL.auxiliary_loss`). The negative view is the same graph with its node
feature rows shuffled (DGI's corruption; the shuffle is applied after the first layer's per-node transform, which
commutes with it, so the features are not copied). A linear scorer :math:`h` shared by all steps rates each step's
spikes, and a margin ranking loss asks every real node to outscore its corrupted counterpart by a margin m:

.. math::
    \mathcal{L} = \frac{1}{T |V|} \sum_{t=1}^{T} \sum_{i} \max\big(0,\ m - h(S_{t,i}) + h(\tilde S_{t,i})\big)

**Credit assignment.** Every spiking layer runs through :meth:`msg.credit.CreditMethod.layer` (the shared
convolution is a step-invariant transform), so ``bptt``, ``tbptt:k``, ``checkpoint:m``, ``ottt`` and ``rate`` all
apply; ``dvm`` is refused (no manifold path). The paper's blockwise training (gradients kept inside blocks of
steps) is ``tbptt:k``.

**Evaluation.** The task head is a linear probe on the *detached* embeddings: the supervised loss trains the probe
only, the contrastive loss (added by :func:`msg.tasks.runner.run` through ``auxiliary_loss``) trains the encoder
and the scorer only. The paper trains the encoder first and fits a logistic regression on the frozen embeddings
afterwards; here both are trained together, and the runner's best-validation selection reports the probe's
accuracy at its best epoch. For link prediction (``out_channels=None``; the SpikeGCL paper does not evaluate it,
the MSG paper does) :meth:`SpikeGCL.encode` returns a learned linear map of the detached embeddings to
``hidden_channels`` Euclidean coordinates, trained by the link loss (a linear probe for the Fermi-Dirac decoder);
:meth:`SpikeGCL.embed` gives the 1-bit embeddings themselves.

Departures from the paper's experiments: neurons are msg's LIF/IF with a fixed threshold (the paper also uses
PLIF with a learnable time constant); no edge-dropping or feature-masking augmentation of the positive view; the
feature groups are consecutive, not shuffled.

Shapes:
    - **input:** x :math:`(|V|, F)`, ``edge_index`` :math:`(2, |E|)` or a sparse adjacency
    - **output:** logits :math:`(|V|, C)`; :meth:`SpikeGCL.embed`: :math:`(|V|, T D)` in {0, 1};
      :meth:`SpikeGCL.spikes`: :math:`(T, |V|, D)`; :meth:`SpikeGCL.encode`: :math:`(|V|, D)` (link
      prediction)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from msg.credit import CreditMethod, get_credit
from msg.manifolds import get_manifold
from msg.neurons import get_neuron
from msg.ops.aggregate import Adjacency, propagate

__all__ = ["SpikeGCL", "build"]


class _GraphConv(nn.Module):
    r""":math:`\mathrm{Norm}(\hat A (s W^\top + b)[\pi])` for one step :math:`(N, F)` or every step :math:`(T, N, F)`
    alike (the per-step transform the credit methods differentiate); ``perm`` (:math:`\pi`, optional) reorders the
    nodes after the linear map, before the aggregation."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.lin = nn.Linear(in_channels, out_channels)
        self.norm = nn.BatchNorm1d(out_channels)

    def forward(self, s: Tensor, graph: Adjacency, perm: Tensor | None = None) -> Tensor:
        h = self.lin(s)
        if perm is not None:
            h = h.index_select(-2, perm)
        h = propagate(graph, h)
        if h.dim() == 3:  # statistics per step, as when the steps come one at a time (checkpointing, OTTT)
            return torch.stack([self.norm(step) for step in h.unbind(0)])
        return self.norm(h)


class SpikeGCL(nn.Module):
    r"""Spiking graph contrastive learning (module docstring).

    Args:
        in_channels (int): input features F.
        hidden_channels (int): spiking neurons D per layer (the embedding has T D bits).
        out_channels (int, optional): classes C of the linear probe; ``None`` for link prediction, where the probe
            maps the embedding to ``hidden_channels`` coordinates. (default: :obj:`None`)
        T (int): time steps = feature groups, :math:`1 \le T \le F`. (default: :obj:`15`)
        num_layers (int): spiking graph convolutions L >= 1. (default: :obj:`1`)
        neuron (str): ``"LIF"`` or ``"IF"``. (default: :obj:`"LIF"`)
        tau (float): LIF membrane time constant. (default: :obj:`2.0`)
        v_threshold (float): firing threshold (the currents are normalised, so 1 fires). (default: :obj:`1.0`)
        margin (float): margin m of the ranking loss, > 0. (default: :obj:`1.0`)
        dropout (float): dropout on the detached embedding before the probe, in [0, 1). (default: :obj:`0.0`)
        credit (str or CreditMethod): temporal credit assignment, see :func:`msg.credit.get_credit`.
            (default: :obj:`"bptt"`)

    Shapes:
        - **input:** x :math:`(|V|, F)`, graph; **output:** :math:`(|V|, C)`
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int | None = None,
        T: int = 15,
        num_layers: int = 1,
        neuron: str = "LIF",
        tau: float = 2.0,
        v_threshold: float = 1.0,
        margin: float = 1.0,
        dropout: float = 0.0,
        credit: str | CreditMethod = "bptt",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        sizes = {"in_channels": in_channels, "hidden_channels": hidden_channels, "T": T, "num_layers": num_layers}
        for arg, value in sizes.items():
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name}: {arg} must be an integer >= 1, got {value!r}")
        if out_channels is not None and (isinstance(out_channels, bool) or int(out_channels) != out_channels
                                         or out_channels < 1):
            raise ValueError(f"{name}: out_channels must be an integer >= 1 or None, got {out_channels!r}")
        if T > in_channels:
            raise ValueError(f"{name}: T={T} feature groups need at least T input features, got {in_channels}")
        if neuron.lower() not in ("lif", "if"):
            raise ValueError(f"{name}: neuron must be 'LIF' or 'IF', got {neuron!r}")
        if not margin > 0:
            raise ValueError(f"{name}: margin must be > 0, got {margin!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout!r}")
        self.credit = get_credit(credit)
        self.credit.check_model(name, has_manifold=False)
        self.in_channels, self.hidden_channels, self.out_channels = in_channels, hidden_channels, out_channels
        self.T, self.margin, self.dropout = int(T), float(margin), float(dropout)
        self.group = -(-in_channels // self.T)  # ceil(F / T) features per step
        kwargs: dict[str, Any] = {"v_threshold": v_threshold}
        if neuron.lower() == "lif":
            kwargs["tau"] = tau
        widths = [self.group, *[hidden_channels] * num_layers]
        self.convs = nn.ModuleList(_GraphConv(a, b) for a, b in zip(widths, widths[1:], strict=False))
        self.neurons = nn.ModuleList(get_neuron(neuron, step_mode="m", **kwargs) for _ in self.convs)
        self.scorer = nn.Linear(hidden_channels, 1, bias=False)  # a bias cancels in the score difference
        self.probe = nn.Linear(self.T * hidden_channels, hidden_channels if out_channels is None else out_channels)
        self.manifold = get_manifold("euclidean")
        self._graph: tuple[Any, int, Adjacency] | None = None
        self._groups: tuple[Tensor, Tensor] | None = None
        self._positive: tuple[Tensor, Any, Tensor] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.lin.reset_parameters()
            conv.norm.reset_parameters()
        self.scorer.reset_parameters()
        self.probe.reset_parameters()

    def adjacency(self, edge_index: Any, num_nodes: int) -> Adjacency:
        """:math:`\\hat A`, cached for the last graph input object."""
        if self._graph is None or self._graph[0] is not edge_index or self._graph[1] != num_nodes:
            self._graph = (edge_index, num_nodes, Adjacency(edge_index, num_nodes))
        return self._graph[2]

    def groups(self, x: Tensor) -> Tensor:
        """The input as T feature groups, :math:`(T, |V|, g)` (a view of ``x``, or of its zero-padded copy, kept
        for the last input object)."""
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(f"SpikeGCL: expected x of shape [N, {self.in_channels}], got {tuple(x.shape)}")
        if self._groups is not None and self._groups[0] is x:
            return self._groups[1]
        padded = x if x.size(1) == self.T * self.group else F.pad(x, (0, self.T * self.group - x.size(1)))
        grouped = padded.view(x.size(0), self.T, self.group).transpose(0, 1)
        self._groups = (x, grouped)
        return grouped

    def spikes(self, x: Tensor, edge_index: Any, perm: Tensor | None = None) -> Tensor:
        """The last layer's spikes :math:`(T, |V|, D)`; with ``perm``, those of the view whose feature rows are
        reordered by ``perm`` (node i gets the features of node ``perm[i]``)."""
        s = self.groups(x)
        graph = self.adjacency(edge_index, x.size(0))
        for i, (conv, neuron) in enumerate(zip(self.convs, self.neurons, strict=True)):
            p = perm if i == 0 else None

            def transform(inputs: Tensor, conv: _GraphConv = conv, p: Tensor | None = p) -> Tensor:
                return conv(inputs, graph, p)

            s = self.credit.layer(neuron, s, transform, list(conv.parameters()))
        return s

    def embed(self, x: Tensor, edge_index: Any) -> Tensor:
        """The 1-bit embeddings :math:`(|V|, T D)`: the last layer's spikes of every step, concatenated."""
        s = self.spikes(x, edge_index)
        return s.permute(1, 0, 2).reshape(x.size(0), -1)

    def _embedding(self, x: Tensor, edge_index: Any) -> Tensor:
        """Detached embeddings for the probe; in training, the spikes stay available to :meth:`auxiliary_loss`."""
        s = self.spikes(x, edge_index)
        if self.training and torch.is_grad_enabled():
            self._positive = (x, edge_index, s)
        z = s.detach().permute(1, 0, 2).reshape(x.size(0), -1)
        return F.dropout(z, p=self.dropout, training=self.training)

    def forward(self, x: Tensor, edge_index: Any) -> Tensor:
        """Linear-probe logits :math:`(|V|, C)` on the detached embeddings."""
        if self.out_channels is None:
            raise ValueError("SpikeGCL: built without out_channels (link prediction); call encode() or embed()")
        return self.probe(self._embedding(x, edge_index))

    def encode(self, x: Tensor, edge_index: Any) -> Tensor:
        r"""Link-prediction coordinates :math:`(|V|, D)`: the probe applied to the detached embeddings scaled by
        :math:`1/\sqrt{T D}`; a model built for node classification returns its 1-bit embeddings
        :math:`(|V|, T D)` (:meth:`embed`).

        The scale keeps the decoder's squared distances near its radius while Adam moves the probe by a fixed step
        per weight: unscaled, a few steps at lr 0.01 over hundreds of firing bits pushed them into the hundreds
        (Cora, T = 15, D = 64, 40 epochs: loss 148 at epoch 5 and test AUC 0.64; scaled: 3.1 and 0.89)."""
        if self.out_channels is not None:
            return self.embed(x, edge_index)
        return self.probe(self._embedding(x, edge_index) * self.probe.in_features**-0.5)

    def auxiliary_loss(self, x: Tensor, edge_index: Any) -> Tensor:
        """The margin ranking loss between the graph and its feature-shuffled view (module docstring). Reuses the
        spikes of the training forward on the same inputs just before, if there was one."""
        cached, self._positive = self._positive, None
        if cached is not None and cached[0] is x and cached[1] is edge_index:
            positive = cached[2]
        else:
            positive = self.spikes(x, edge_index)
        negative = self.spikes(x, edge_index, torch.randperm(x.size(0), device=x.device))
        real, fake = self.scorer(positive).squeeze(-1), self.scorer(negative).squeeze(-1)
        return F.relu(self.margin - real + fake).mean()

    def __repr__(self) -> str:
        out = "" if self.out_channels is None else f", {self.out_channels}"
        return (
            f"SpikeGCL({self.in_channels}, {self.hidden_channels}{out}, T={self.T}, num_layers={len(self.convs)}, "
            f"credit={self.credit!r})"
        )


def build(cfg: Any, in_channels: int, out_channels: int | None) -> SpikeGCL:
    """Builder for ``msg train --model spikegcl``: ``hidden``, ``T``, ``layers``, ``neuron``, ``tau``,
    ``v_threshold``, ``dropout`` (before the probe) and ``credit`` from the training config. Node classification
    trains a linear probe, link prediction a linear map for the decoder, both on the detached embeddings; the
    encoder learns from the contrastive loss alone (module docstring)."""
    return SpikeGCL(
        in_channels, cfg.hidden, out_channels, T=cfg.T, num_layers=cfg.layers, neuron=cfg.neuron, tau=cfg.tau,
        v_threshold=cfg.v_threshold, dropout=cfg.dropout, credit=cfg.credit,
    )
