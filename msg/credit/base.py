r"""The interface every temporal credit-assignment method implements, and the state helpers they share.

A spiking layer hands its time loop to a :class:`CreditMethod` (DESIGN.md, "Credit assignment is orthogonal"); the
method decides how the loop is differentiated. Three entry points, from the most general to the most specific:

* :meth:`CreditMethod.unroll` ``(step, x_seq, state, params)``: any recurrence
  :math:`(y_t, s_t) = f(x_t, s_{t-1})` whose state is a tuple of tensors (a
  :class:`~msg.neurons.NeuronState`, or the state of a recurrent network);
* :meth:`CreditMethod.spike` ``(neuron, currents)``: a population of :mod:`msg.neurons` over precomputed currents
  :math:`(T, N, D)`;
* :meth:`CreditMethod.layer` ``(neuron, inputs, transform)``: a linear (or affine) presynaptic transform
  :math:`I_t = g(s_t)` followed by the neuron, :math:`z = \text{Neuron}(g(s_1), \dots, g(s_T))`. Methods that never
  keep the T-step graph (OTTT's presynaptic traces, rate-based backprop) need the presynaptic input and the
  transform rather than the currents, so a layer calls this one.

A graph convolution passes its aggregation as the transform, e.g. ``lambda s: propagate(adj, s @ W.t())``: ``g``
must accept both :math:`(T, N, F)` and :math:`(N, F)` inputs and act on every step alike (aggregation is linear,
so the trace or the rate of an aggregated input is the aggregation of the traces or rates).

Shapes:
    - **x_seq / inputs:** :math:`(T, N, *)`; **currents / spikes:** :math:`(T, N, D)`; state tensors :math:`(N, *)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from msg.neurons import BaseNode

__all__ = ["CreditMethod", "State", "Step", "Transform", "detach_state", "trainable", "check_sequence", "substitute"]

State = tuple[Any, ...]
"""A recurrent state: a tuple (or NamedTuple) of tensors, entries may be ``None``."""
Step = Callable[[Tensor, Any], tuple[Tensor, Any]]
"""One step of a recurrence, ``(x_t, state) -> (y_t, new_state)``."""
Transform = Callable[[Tensor], Tensor]


class _Substitute(torch.autograd.Function):
    """Forward ``value``, backward into ``carrier`` (same shape): the gradient path of one tensor grafted onto the
    values of another (OTTT's traces, rate-based backprop's rate path)."""

    @staticmethod
    def forward(ctx: Any, value: Tensor, carrier: Tensor) -> Tensor:
        return value.clone()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor]:
        return None, grad


def substitute(value: Tensor, carrier: Tensor) -> Tensor:
    r"""``value`` in the forward pass, the derivative of ``carrier`` in the backward pass:
    :math:`\partial\,\mathrm{out} / \partial\,\mathrm{carrier} = I`, nothing reaches ``value``.

    Shapes:
        - **value**, **carrier**, **output:** the same shape :math:`(*)`.
    """
    if value.shape != carrier.shape:
        raise ValueError(f"substitute: value {tuple(value.shape)} and carrier {tuple(carrier.shape)} differ in shape")
    return _Substitute.apply(value, carrier)


def detach_state(state: Any) -> Any:
    """The same state cut from the autograd graph (``None`` entries kept, NamedTuple type kept)."""
    items = tuple(None if s is None else s.detach() for s in state)
    return type(state)(*items) if hasattr(state, "_fields") else items


def trainable(*modules: Any) -> tuple[Tensor, ...]:
    """The parameters of ``modules`` that require gradients (non-modules contribute nothing)."""
    return tuple(p for m in modules if isinstance(m, nn.Module) for p in m.parameters() if p.requires_grad)


def check_sequence(owner: str, x_seq: Tensor) -> None:
    """Raise ``ValueError`` unless ``x_seq`` has a non-empty leading time dimension and a node dimension."""
    if x_seq.dim() < 2 or x_seq.shape[0] == 0:
        raise ValueError(f"{owner}: expected a sequence of shape [T, N, ...] with T > 0, got {tuple(x_seq.shape)}")


class CreditMethod:
    """Base class: how a time loop is differentiated.

    Subclasses implement :meth:`unroll`; :meth:`spike` and :meth:`layer` are written in terms of it and are
    overridden where a method can do better (BPTT's fused kernel) or needs more than the currents (OTTT, rate).
    ``needs_manifold`` marks methods that only a model with a manifold path can run (``dvm``).
    """

    name: ClassVar[str] = ""
    needs_manifold: ClassVar[bool] = False

    def unroll(self, step: Step, x_seq: Tensor, state: Any, params: Sequence[Tensor] = ()) -> tuple[Tensor, Any]:
        """Run ``step`` over ``x_seq`` from ``state``; return the stacked outputs :math:`(T, \\dots)` and the final
        state. ``params`` lists the tensors ``step`` closes over that need gradients (methods that recompute or
        route gradients by hand use it; plain autograd methods ignore it)."""
        raise NotImplementedError

    def spike(self, neuron: BaseNode, currents: Tensor) -> Tensor:
        """Spikes :math:`(T, N, D)` of ``neuron`` driven by ``currents`` from its resting state (the module's own
        state is not touched)."""
        check_sequence(type(self).__name__, currents)
        return self.unroll(neuron.step, currents, neuron.initial_state(currents[0]), trainable(neuron))[0]

    def layer(
        self, neuron: BaseNode, inputs: Tensor, transform: Transform, params: Sequence[Tensor] | None = None
    ) -> Tensor:
        """Spikes of ``neuron`` driven by ``transform(inputs)``; ``params`` are the tensors the transform uses that
        need gradients (default: the transform's parameters if it is a module)."""
        check_sequence(type(self).__name__, inputs)
        return self.spike(neuron, transform(inputs))

    def check_model(self, owner: str, has_manifold: bool) -> None:
        """Raise ``ValueError`` if this method cannot train ``owner`` (e.g. ``dvm`` without a manifold path)."""
        if self.needs_manifold and not has_manifold:
            raise ValueError(
                f"{owner}: credit {self.name!r} (differentiation via manifold) needs a manifold path, and {owner} "
                f"has none; use a method that differentiates the spiking time loop (bptt, tbptt:k, checkpoint:m, "
                f"ottt, rate)"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
