r"""Rate-based backpropagation: forward spikes without a graph, gradients through time-averaged rates.

Yu, Liu, Wang, Li & Wang, "Advancing Training Efficiency of Deep Spiking Neural Networks through Rate-based
Backpropagation", NeurIPS 2024. The forward pass runs all T steps of the neuron without autograd; the backward pass
sees one rate-coded layer per spiking layer,

.. math::
    \bar s = \frac{1}{T}\sum_t s_t, \qquad \bar I = g(\bar s), \qquad
    \frac{\partial \bar z}{\partial \bar I} := e = \frac{1}{T}\sum_{t=1}^{T} \sigma'_t\, \varepsilon_t, \qquad
    \varepsilon_t = k\, \rho_{t-1}\, \varepsilon_{t-1} + c, \quad \varepsilon_0 = 0,

with :math:`g` the layer's linear (or affine) transform (a linear map commutes with the time average, so
:math:`\bar I` is the mean current), :math:`\sigma'_t` the surrogate derivative of step t, :math:`(k, c)` the
neuron's charge coefficients (:func:`msg.neurons.charge_coefficients`) and :math:`\rho = 1` for soft reset,
:math:`1 - z` for hard reset. :math:`e` is the per-neuron eligibility: the exact derivative of the mean spike with
respect to a constant input current under detached reset, accumulated online during the forward pass in
:math:`O(N D)` memory. Saved activations (the rate path: one transform of :math:`\bar s`, and :math:`e`) and the
backward time do not depend on T. With T = 1, :math:`e = \sigma'_1 c` and the gradients are BPTT's.

The output spikes carry the rate path's gradient: every :math:`z_t` back-propagates into :math:`\bar I` with
factor :math:`e`, so a loss on the spike count or on the mean spike receives exactly the chain above, and a next
rate layer averaging these spikes continues it. The neuron's own parameters (tau, threshold) get no gradient.

Shapes:
    - **inputs:** :math:`(T, N, F)`; **spikes:** :math:`(T, N, D)`; **eligibility:** :math:`(N, D)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from msg.neurons import BaseNode
from msg.neurons.surrogate import heaviside

from .base import CreditMethod, Step, Transform, check_sequence, substitute

__all__ = ["Rate", "eligibility"]


class _Recorder(nn.Module):
    """A spike function that keeps the surrogate derivative of its latest input (the neuron's surrogate swapped
    in for one no-grad forward; ``msg.neurons.functional`` names this as the way to read :math:`h_t - A_t`)."""

    def __init__(self, surrogate: nn.Module) -> None:
        super().__init__()
        self.surrogate = surrogate
        self.last: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        self.last = self.surrogate.derivative(x)
        return heaviside(x)


@torch.no_grad()
def eligibility(neuron: BaseNode, currents: Tensor) -> tuple[Tensor, Tensor]:
    r"""Run ``neuron`` over ``currents`` without a graph: ``(spikes, e)`` with :math:`e` the per-neuron
    eligibility of the module docstring.

    Shapes:
        - **currents:** :math:`(T, N, D)`; **spikes:** :math:`(T, N, D)`; **e:** :math:`(N, D)`.
    """
    kwargs = neuron.kernel_kwargs(currents)
    k, c = kwargs["decay"], kwargs["input_scale"]
    hard = neuron.v_reset is not None
    recorder = _Recorder(neuron.surrogate_function)
    acc = {"eps": torch.zeros_like(currents[0]), "e": torch.zeros_like(currents[0])}

    def hook(t: int, spike: Tensor, state: Any) -> None:
        eps = acc["eps"].mul_(k).add_(c)
        acc["e"].addcmul_(recorder.last, eps)
        if hard:
            eps.mul_(1.0 - spike)

    original = neuron.surrogate_function
    neuron.surrogate_function = recorder
    try:
        spikes = neuron.run(currents, hook=hook)[0]
    finally:
        neuron.surrogate_function = original
    return spikes, acc["e"].div_(currents.shape[0])


class Rate(CreditMethod):
    """Rate-based backprop (module docstring): memory and backward time constant in T.

    Shapes:
        - **inputs:** :math:`(T, N, F)`; **spikes:** :math:`(T, N, D)`.
    """

    name = "rate"

    def unroll(self, step: Step, x_seq: Tensor, state: Any, params: Sequence[Tensor] = ()) -> tuple[Tensor, Any]:
        raise ValueError(
            "Rate: rate-based backprop needs a spiking layer (spike or layer: a transform feeding a neuron of "
            "msg.neurons), not a generic recurrence"
        )

    def spike(self, neuron: BaseNode, currents: Tensor) -> Tensor:
        return self.layer(neuron, currents, nn.Identity())

    def layer(
        self, neuron: BaseNode, inputs: Tensor, transform: Transform, params: Sequence[Tensor] | None = None
    ) -> Tensor:
        check_sequence(type(self).__name__, inputs)
        with torch.no_grad():
            spikes, e = eligibility(neuron, transform(inputs))
        mean_current = transform(inputs.mean(0))
        return substitute(spikes, (mean_current * e).unsqueeze(0).expand_as(spikes))

    def __repr__(self) -> str:
        return "Rate()"
