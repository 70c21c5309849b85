r"""Pure neuron steps and the reference multi-step loop.

Every neuron here is one step :math:`(z_t, s_t) = f(x_t, s_{t-1})` over an explicit state
:class:`NeuronState` (a NamedTuple of tensors): charge, fire, reset (Gerstner et al., *Neuronal Dynamics*, 2014;
the charge/fire/reset split of spikingjelly, Fang et al., Science Advances 2023):

.. math::
    h_t &= \begin{cases} v_{t-1} + x_t & \text{IF} \\
                         v_{t-1} + \frac{1}{\tau}\bigl(x_t - (v_{t-1} - v_r)\bigr) & \text{LIF, decay\_input} \\
                         v_{t-1} - \frac{1}{\tau}(v_{t-1} - v_r) + x_t & \text{LIF, not decay\_input}
          \end{cases} \\
    A_t &= \vartheta + \beta\, b_{t-1}, \qquad z_t = \Theta(h_t - A_t)\, \mathbb{1}[r_{t-1} = 0] \\
    v_t &= \begin{cases} h_t - z_t A_t & \text{soft reset } (v_r = \text{None}, \text{ and } v_r := 0 \text{ above}) \\
                         (1 - z_t) h_t + z_t v_r & \text{hard reset} \end{cases} \\
    b_t &= \rho\, b_{t-1} + (1 - \rho) z_t, \qquad \rho = e^{-\Delta t / \tau_a}

The last line and the refractory counter :math:`r` belong to ALIF (Bellec et al., "Long short-term memory and
learning-to-learn in networks of spiking neurons", NeurIPS 2018); IF and LIF have :math:`\beta = 0` and carry only
``v``. The spike goes through ``surrogate`` (any callable, normally a
:class:`~msg.neurons.surrogate.SurrogateFunction`), so the backward of :math:`\Theta` is the surrogate
derivative at :math:`h_t - A_t`; with ``detach_reset`` the spike inside the reset is a constant for autograd.

How temporal credit assignment wraps :func:`multistep` (``msg.credit``):

* **BPTT**: call it under autograd; the graph spans all T steps.
* **TBPTT(k)**: a ``hook`` that returns ``(spike, state.detach())`` every k-th step cuts the graph there.
* **Checkpointing** (Gruslys et al., "Memory-Efficient Backpropagation Through Time", NeurIPS 2016): the state is
  a tuple of tensors, so a policy runs ``multistep`` on segments ``x_seq[t0:t1]`` under ``torch.no_grad()``, keeps
  the states it chose, and re-runs a segment from its stored state with grad when the backward reaches it (the
  step is pure, so the recomputation is exact). The fused kernel has the same state-in/state-out contract.
* **OTTT** (Xiao et al., "Online Training Through Time", NeurIPS 2022): detach the state every step (the hook),
  and keep presynaptic traces :math:`a_t = \lambda a_{t-1} + z_t` outside the neuron, with :math:`\lambda` the
  neuron's ``decay`` (``1 - 1/tau``).
* **Rate-based backprop** (Yu et al., NeurIPS 2024) and other eligibility methods need the surrogate input
  :math:`h_t - A_t` of every step: it is exactly what ``surrogate`` receives, so wrap the surrogate in a recording
  callable; the hook sees the spike and the new state.

Shapes:
    - **x** (one step): :math:`(N, *)`; **x_seq**: :math:`(T, N, *)`; every state tensor has the step's shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["NeuronState", "initial_state", "if_step", "lif_step", "alif_step", "multistep", "StepFn", "Hook"]

Scalar = float | Tensor


class NeuronState(NamedTuple):
    """State of a population: membrane ``v`` after reset, ALIF adaptation ``b`` and refractory counter ``r``
    (``None`` for neurons without them)."""

    v: Tensor
    b: Tensor | None = None
    r: Tensor | None = None

    def detach(self) -> NeuronState:
        """The same state cut from the autograd graph (truncation points, checkpoints)."""
        return NeuronState(*(None if t is None else t.detach() for t in self))


StepFn = Callable[[Tensor, NeuronState], tuple[Tensor, NeuronState]]
Hook = Callable[[int, Tensor, NeuronState], tuple[Tensor, NeuronState] | None]


def initial_state(
    x: Tensor, v_reset: float | None = 0.0, adaptive: bool = False, refractory: bool = False
) -> NeuronState:
    """The resting state for a step input like ``x``: ``v = v_reset`` (0 for soft reset), ``b = 0``, ``r = 0``."""
    v = torch.full_like(x, 0.0 if v_reset is None else v_reset)
    zeros = torch.zeros_like(x)
    return NeuronState(v, zeros if adaptive else None, zeros if refractory else None)


def _lif_charge(x: Tensor, v: Tensor, tau: Scalar, v_reset: float | None, decay_input: bool) -> Tensor:
    leak = v if v_reset is None or v_reset == 0.0 else v - v_reset  # v - v_r; skipping "- 0.0" changes no value
    if decay_input:
        return v + (x - leak) / tau
    return v - leak / tau + x


def _fire_reset(
    h: Tensor,
    threshold: Scalar,
    v_reset: float | None,
    surrogate: Callable[[Tensor], Tensor],
    detach_reset: bool,
    allowed: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    spike = surrogate(h - threshold)
    if allowed is not None:
        spike = spike * allowed
    z = spike.detach() if detach_reset else spike
    if v_reset is None:
        return spike, h - z * threshold
    return spike, (1.0 - z) * h + z * v_reset


def if_step(
    x: Tensor,
    state: NeuronState,
    surrogate: Callable[[Tensor], Tensor],
    v_threshold: Scalar = 1.0,
    v_reset: float | None = 0.0,
    detach_reset: bool = False,
) -> tuple[Tensor, NeuronState]:
    """One integrate-and-fire step: :math:`h_t = v_{t-1} + x_t`, then fire and reset (module docstring)."""
    spike, v = _fire_reset(state.v + x, v_threshold, v_reset, surrogate, detach_reset)
    return spike, NeuronState(v)


def lif_step(
    x: Tensor,
    state: NeuronState,
    surrogate: Callable[[Tensor], Tensor],
    tau: Scalar = 2.0,
    v_threshold: Scalar = 1.0,
    v_reset: float | None = 0.0,
    decay_input: bool = True,
    detach_reset: bool = False,
) -> tuple[Tensor, NeuronState]:
    """One leaky integrate-and-fire step (module docstring)."""
    h = _lif_charge(x, state.v, tau, v_reset, decay_input)
    spike, v = _fire_reset(h, v_threshold, v_reset, surrogate, detach_reset)
    return spike, NeuronState(v)


def alif_step(
    x: Tensor,
    state: NeuronState,
    surrogate: Callable[[Tensor], Tensor],
    tau: Scalar = 20.0,
    v_threshold: Scalar = 1.0,
    v_reset: float | None = None,
    decay_input: bool = True,
    detach_reset: bool = False,
    beta: Scalar = 1.8,
    rho: Scalar = 0.995,
    refractory: int = 0,
) -> tuple[Tensor, NeuronState]:
    r"""One adaptive LIF step of LSNN: threshold :math:`A_t = \vartheta + \beta b_{t-1}`, adaptation
    :math:`b_t = \rho b_{t-1} + (1-\rho) z_t`, and with ``refractory = R > 0`` no spike for R steps after one
    (``state.r`` counts them down; the membrane keeps integrating, as in LSNN)."""
    threshold = v_threshold + beta * state.b
    h = _lif_charge(x, state.v, tau, v_reset, decay_input)
    allowed = None if refractory == 0 else (state.r <= 0).to(x.dtype)
    spike, v = _fire_reset(h, threshold, v_reset, surrogate, detach_reset, allowed)
    b = rho * state.b + (1.0 - rho) * spike
    r = None
    if refractory > 0:
        r = torch.where(spike.detach() > 0, float(refractory), (state.r - 1.0).clamp_min(0.0))
    return spike, NeuronState(v, b, r)


def multistep(
    step_fn: StepFn, x_seq: Tensor, state: NeuronState, hook: Hook | None = None
) -> tuple[Tensor, NeuronState]:
    """The reference T-step loop: ``spike_t, state = step_fn(x_seq[t], state)``.

    ``hook(t, spike, state)`` runs after every step and may return a replacement ``(spike, state)`` (e.g. a
    detached state) or ``None`` to keep them. Returns the stacked spikes and the final state.

    Shapes:
        - **x_seq:** :math:`(T, N, *)`, T > 0; **output spikes:** :math:`(T, N, *)`.
    """
    if x_seq.dim() == 0 or x_seq.shape[0] == 0:
        raise ValueError(f"multistep: x_seq needs a non-empty time dimension, got shape {tuple(x_seq.shape)} (T = 0)")
    spikes = []
    for t in range(x_seq.shape[0]):
        spike, state = step_fn(x_seq[t], state)
        if hook is not None:
            replaced = hook(t, spike, state)
            if replaced is not None:
                spike, state = replaced
        spikes.append(spike)
    return torch.stack(spikes), state
