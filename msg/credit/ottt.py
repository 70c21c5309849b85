r"""Online training through time: presynaptic traces, gradients per step, no unrolling.

Xiao, Meng, Zhang, Wang & Lin, "Online Training Through Time for Spiking Neural Networks", NeurIPS 2022. Every step
is differentiated on its own (the neuron state is detached after each step) and the temporal dependence of the
membrane on past inputs is carried forward by a presynaptic trace:

.. math::
    \hat a_t = k\, \hat a_{t-1} + s_t, \qquad
    \nabla_W L = \sum_t \Bigl(\frac{\partial L}{\partial z_t}\, \sigma'_t\, c\Bigr)
    \frac{\partial g(\hat a_t)}{\partial W},

with :math:`k` the neuron's membrane factor (:attr:`~msg.neurons.BaseNode.decay`), :math:`c` its input scale and
:math:`g` the layer's transform: the current :math:`I_t = g(s_t)` keeps its forward value while its gradient with
respect to the transform's weights is taken at the trace, :math:`g(\hat a_t)`, and its gradient with respect to
the input spikes :math:`s_t` is instantaneous (OTTT's ``Replace``). For a graph convolution the transform
aggregates, and aggregation is linear, so the trace of an aggregated input is the aggregation of the traces: the
layer passes the same ``transform`` as under BPTT. For one layer with soft reset and ``detach_reset=True`` this is
BPTT's gradient exactly: the membrane then depends on the past only through :math:`v_t = h_t - \operatorname{sg}
(z_t)\vartheta`, whose Jacobian is :math:`k`, and :math:`\sum_{\tau \le t} k^{t - \tau} s_\tau = \hat a_t`. An
affine transform's bias gets the instantaneous gradient (no trace), as in the paper.

Two ways to run it:

* :meth:`OTTT.layer` over a whole sequence (any training loop; the per-step graphs stay alive until the loss is
  back-propagated, so memory grows with T like BPTT's, but no gradient crosses time steps);
* :meth:`OTTT.online`, the paper's algorithm: one forward step, the loss of that step, its backward, then the next
  step; saved memory is one step's, whatever T. ``variant="A"`` (OTTT_A) accumulates the gradients of all steps and
  lets the caller step the optimizer (or steps it once at the end); ``variant="O"`` (OTTT_O) steps it after every
  time step. A model step built from :meth:`OTTT.layer_step` carries ``(neuron state, trace)`` per layer.

Shapes:
    - **inputs:** :math:`(T, N, F)` (one step: :math:`(N, F)`); **spikes:** :math:`(T, N, D)`; **trace:** as one
      input step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from msg.neurons import BaseNode, NeuronState

from .base import CreditMethod, Step, Transform, check_sequence, substitute

__all__ = ["OTTT", "TraceState"]

VARIANTS = ("A", "O")


class TraceState(NamedTuple):
    """What one OTTT layer carries between steps: the (detached) neuron state and the presynaptic trace."""

    neuron: NeuronState | None
    trace: Tensor | None


class OTTT(CreditMethod):
    """Online training through time (module docstring).

    Args:
        variant (str): ``"A"`` (accumulate, then step) or ``"O"`` (step the optimizer every time step); it only
            changes :meth:`online`. (default: :obj:`"A"`)

    Shapes:
        - **inputs:** :math:`(T, N, F)`; **spikes:** :math:`(T, N, D)`.
    """

    name = "ottt"

    def __init__(self, variant: str = "A") -> None:
        if variant not in VARIANTS:
            raise ValueError(f"OTTT: variant must be one of {VARIANTS}, got {variant!r}")
        self.variant = variant

    def unroll(self, step: Step, x_seq: Tensor, state: Any, params: Sequence[Tensor] = ()) -> tuple[Tensor, Any]:
        raise ValueError(
            "OTTT: online training needs presynaptic traces, so it runs spiking layers (spike, layer, layer_step), "
            "not a generic recurrence"
        )

    @staticmethod
    def _decay(owner: BaseNode) -> Tensor:
        decay = owner.decay.detach()
        if decay.numel() != 1:
            raise ValueError(
                f"OTTT: the presynaptic trace needs one membrane factor for the whole layer, got a "
                f"{type(owner).__name__} with {decay.numel()} (per-neuron tau)"
            )
        return decay

    def layer_step(
        self, neuron: BaseNode, s: Tensor, transform: Transform, carry: TraceState | None = None
    ) -> tuple[Tensor, TraceState]:
        """One OTTT step of a layer: ``(spikes_t, carry)``; ``carry=None`` starts from rest with an empty trace."""
        carry = TraceState(None, None) if carry is None else carry
        trace = s.detach() if carry.trace is None else carry.trace * self._decay(neuron).to(s.dtype) + s.detach()
        with torch.no_grad():
            value = transform(s)
        current = substitute(value, transform(substitute(trace, s)))
        state = neuron.initial_state(value) if carry.neuron is None else carry.neuron
        spike, state = neuron.step(current, state)
        return spike, TraceState(state.detach(), trace)

    def layer(
        self, neuron: BaseNode, inputs: Tensor, transform: Transform, params: Sequence[Tensor] | None = None
    ) -> Tensor:
        check_sequence(type(self).__name__, inputs)
        carry, spikes = None, []
        for t in range(inputs.shape[0]):
            spike, carry = self.layer_step(neuron, inputs[t], transform, carry)
            spikes.append(spike)
        return torch.stack(spikes)

    def spike(self, neuron: BaseNode, currents: Tensor) -> Tensor:
        return self.layer(neuron, currents, torch.nn.Identity())

    def online(
        self,
        step: Callable[[Tensor, Any], tuple[Tensor, Any]],
        x_seq: Tensor,
        state: Any,
        loss_fn: Callable[[int, Tensor], Tensor],
        optimizer: torch.optim.Optimizer | None = None,
    ) -> tuple[list[float], Any]:
        """The online loop: for each t, ``y, state = step(x_t, state)``, back-propagate ``loss_fn(t, y)`` at once;
        OTTT_O steps ``optimizer`` after every t, OTTT_A once after the last (none: gradients are left in
        ``.grad``). ``step`` must cut its state from the graph (:meth:`layer_step` does). Returns the per-step
        losses and the final state."""
        check_sequence(type(self).__name__, x_seq)
        losses = []
        for t in range(x_seq.shape[0]):
            y, state = step(x_seq[t], state)
            loss = loss_fn(t, y)
            loss.backward()
            losses.append(float(loss.detach()))
            if optimizer is not None and (self.variant == "O" or t == x_seq.shape[0] - 1):
                optimizer.step()
                optimizer.zero_grad()
        return losses, state

    def __repr__(self) -> str:
        return f"OTTT(variant={self.variant!r})"
