r"""LSNN: recurrent networks of LIF and adaptive (ALIF) spiking neurons with a leaky readout.

After Bellec, Salaj, Subramoney, Legenstein & Maass, "Long short-term memory and Learning-to-learn in networks of
spiking neurons" (NeurIPS 2018). The neurons are msg's :class:`~msg.neurons.ALIFNode` (a per-neuron adaptation
strength :math:`\beta_j = 0` makes unit :math:`j` a plain LIF neuron), stepped by its pure ``step``; this module
adds the synapses (input, recurrent with an optional delay, no self-connections) and the readout.

.. math::
    I_t = W_\text{in} x_t + W_\text{rec} z_{t-d}, \qquad
    (z_t, v_t, b_t) = \text{ALIF}(I_t, v_{t-1}, b_{t-1}), \qquad
    y_t = \kappa\, y_{t-1} + W_\text{out} z_t + b_\text{out},

with the ALIF threshold :math:`A_t = \vartheta + \beta b_{t-1}` and :math:`b_t = \rho b_{t-1} + (1 - \rho) z_t`
(:class:`~msg.neurons.ALIFNode`), the membrane charge without input decay,
:math:`h_t = (1 - 1/\tau_m) v_{t-1} + I_t`, soft reset, and :math:`\kappa = e^{-1/\tau_\text{out}}`.

Credit assignment: ``credit="bptt"`` differentiates through all steps and ``credit="tbptt"`` cuts the recurrent
state every ``k_trunc`` steps (both through :func:`msg.credit.sab.unroll`); any object with the
``unroll(step, x_seq, state, params)`` method of msg's credit-method interface (``msg.credit`` BPTT, TBPTT,
checkpointing, ...) can be passed instead and then owns the time loop. The cell (:class:`LSNNCell`) also plugs
into :class:`msg.credit.sab.SparseAttentiveBacktracking` (attention over the membrane potentials).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from msg.credit.sab import unroll
from msg.neurons import ALIFNode, NeuronState, Triangle
from msg.neurons.surrogate import SurrogateFunction

__all__ = ["LSNN", "LSNNCell", "firing_rate_regularizer"]

CREDITS = ("bptt", "tbptt")


class LSNNCell(nn.Module):
    r"""One step of a recurrent LIF + ALIF population (Bellec et al., NeurIPS 2018).

    .. math::
        I_t = W_\text{in} x_t + W_\text{rec} z_{t-d}, \qquad (z_t, v_t, b_t) = \text{ALIF}(I_t, v_{t-1}, b_{t-1})

    The state is the tuple ``(v, b, spikes)`` with ``spikes`` the last :math:`d` spike vectors (oldest first), so
    :meth:`hidden` (the membrane potentials) and :meth:`with_hidden` serve
    :class:`~msg.credit.sab.SparseAttentiveBacktracking`.

    Args:
        input_size: :math:`F`.
        n_regular: number of LIF units (listed first).
        n_adaptive: number of ALIF units.
        tau_m: membrane time constant in steps (default 20).
        tau_a: adaptation time constant in steps (default 200).
        beta: adaptation strength of the ALIF units (default 1.8); the threshold rises by
            :math:`\beta (1 - \rho) \approx \beta / \tau_a` per spike.
        threshold: firing threshold :math:`\vartheta` (default 1.0).
        delay: synaptic delay :math:`d \ge 1` of the recurrent connections in steps (default 1).
        refractory: refractory steps after a spike (default 0).
        surrogate: spike pseudo-derivative (default :class:`~msg.neurons.Triangle`, LSNN's dampened triangle,
            with half-width :math:`\vartheta`).
        input_gain: scale of the input weights' initialisation (default 1.0).
        recurrent_gain: scale of the recurrent weights' initialisation (default 1.0); small values start the
            network quiescent without input, so it holds no information by self-sustained activity.

    Shapes:
        - **x**: :math:`(B, F)`; **v**, **b**: :math:`(B, N)`; **spikes**: :math:`(d, B, N)`,
          :math:`N` = ``n_regular + n_adaptive``.
    """

    def __init__(
        self,
        input_size: int,
        n_regular: int,
        n_adaptive: int,
        tau_m: float = 20.0,
        tau_a: float = 200.0,
        beta: float = 1.8,
        threshold: float = 1.0,
        delay: int = 1,
        refractory: int = 0,
        surrogate: SurrogateFunction | None = None,
        input_gain: float = 1.0,
        recurrent_gain: float = 1.0,
    ) -> None:
        super().__init__()
        if input_size < 1:
            raise ValueError(f"LSNNCell: `input_size` must be a positive integer, got {input_size}")
        if n_regular < 0 or n_adaptive < 0 or n_regular + n_adaptive < 1:
            raise ValueError(
                f"LSNNCell: `n_regular` and `n_adaptive` must be >= 0 with a positive sum, got {n_regular} "
                f"and {n_adaptive}"
            )
        if int(delay) != delay or delay < 1:
            raise ValueError(f"LSNNCell: `delay` must be an integer >= 1, got {delay}")
        self.input_size, self.n_regular, self.n_adaptive = input_size, n_regular, n_adaptive
        self.hidden_size = n_regular + n_adaptive
        self.delay = int(delay)
        self.input_gain, self.recurrent_gain = float(input_gain), float(recurrent_gain)
        betas = torch.cat([torch.zeros(n_regular), torch.full((n_adaptive,), float(beta))])
        self.neurons = ALIFNode(
            tau=tau_m,
            tau_a=tau_a,
            beta=betas,
            v_threshold=threshold,
            v_reset=None,
            decay_input=False,
            refractory=refractory,
            surrogate_function=Triangle(alpha=1.0 / threshold) if surrogate is None else surrogate,
            backend="torch",
        )
        self.w_in = nn.Parameter(torch.empty(self.hidden_size, input_size))
        self.w_rec = nn.Parameter(torch.empty(self.hidden_size, self.hidden_size))
        self.register_buffer("no_self", 1.0 - torch.eye(self.hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Gaussian weights scaled by :math:`1/\\sqrt{\\text{fan-in}}` (as LSNN), no self-connections."""
        with torch.no_grad():
            self.w_in.normal_(0.0, self.input_gain / math.sqrt(self.input_size))
            self.w_rec.normal_(0.0, self.recurrent_gain / math.sqrt(self.hidden_size)).mul_(self.no_self)

    def init_state(self, x: Tensor) -> tuple[Tensor, ...]:
        zeros = x.new_zeros(x.shape[0], self.hidden_size)
        neuron = self.neurons.initial_state(zeros)
        spikes = x.new_zeros(self.delay, x.shape[0], self.hidden_size)
        return (neuron.v, neuron.b, spikes) if neuron.r is None else (neuron.v, neuron.b, spikes, neuron.r)

    def forward(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        v, b, spikes = state[:3]
        refractory = state[3] if len(state) > 3 else None
        current = x @ self.w_in.t() + spikes[0] @ (self.w_rec * self.no_self).t()
        z, neuron = self.neurons.step(current, NeuronState(v, b, refractory))
        spikes = torch.cat([spikes[1:], z[None]])
        return (neuron.v, neuron.b, spikes) if neuron.r is None else (neuron.v, neuron.b, spikes, neuron.r)

    def hidden(self, state: tuple[Tensor, ...]) -> Tensor:
        return state[0]

    def with_hidden(self, state: tuple[Tensor, ...], h: Tensor) -> tuple[Tensor, ...]:
        return (h, *state[1:])

    @staticmethod
    def spikes(state: tuple[Tensor, ...]) -> Tensor:
        """The spikes :math:`z_t` of the last step, :math:`(B, N)`."""
        return state[2][-1]

    def extra_repr(self) -> str:
        return f"{self.input_size}, n_regular={self.n_regular}, n_adaptive={self.n_adaptive}, delay={self.delay}"


class LSNN(nn.Module):
    r"""Long short-term memory spiking network: :class:`LSNNCell` and a leaky linear readout (Bellec et al., 2018).

    .. math::
        y_t = \kappa\, y_{t-1} + W_\text{out} z_t + b_\text{out}, \qquad \kappa = e^{-1/\tau_\text{out}}.

    Args:
        input_size, n_regular, n_adaptive: as :class:`LSNNCell`.
        output_size: readout width :math:`C`.
        tau_out: readout time constant in steps (default 20; ``0`` gives a memoryless readout).
        credit: ``"bptt"``, ``"tbptt"`` or a credit method with ``unroll(step, x_seq, state, params)``
            (default ``"bptt"``).
        k_trunc: truncation length for ``"tbptt"`` (default ``None``).
        **cell_kwargs: the other :class:`LSNNCell` arguments (``tau_m``, ``tau_a``, ``beta``, ``delay``, ...).

    Shapes:
        - **x_seq**: :math:`(T, B, F)`; **output**: readout :math:`(T, B, C)` and spikes :math:`(T, B, N)`.
    """

    def __init__(
        self,
        input_size: int,
        n_regular: int,
        n_adaptive: int,
        output_size: int,
        tau_out: float = 20.0,
        credit: str | Any = "bptt",
        k_trunc: int | None = None,
        **cell_kwargs: float,
    ) -> None:
        super().__init__()
        if isinstance(credit, str) and credit not in CREDITS:
            raise ValueError(f"LSNN: `credit` must be one of {CREDITS} or a credit method, got {credit!r}")
        if not isinstance(credit, str) and not callable(getattr(credit, "unroll", None)):
            raise ValueError(f"LSNN: `credit` must have an unroll() method, got {type(credit).__name__}")
        if (credit == "tbptt") != (k_trunc is not None):
            raise ValueError(f"LSNN: `k_trunc` must be given exactly when credit='tbptt', got {k_trunc}")
        if tau_out < 0:
            raise ValueError(f"LSNN: `tau_out` must be >= 0, got {tau_out}")
        self.cell = LSNNCell(input_size, n_regular, n_adaptive, **cell_kwargs)
        self.readout = nn.Linear(self.cell.hidden_size, output_size)
        self.kappa = math.exp(-1.0 / tau_out) if tau_out > 0 else 0.0
        self.credit, self.k_trunc = credit, k_trunc

    def forward(self, x_seq: Tensor) -> tuple[Tensor, Tensor]:
        state = self.cell.init_state(x_seq[0])
        if isinstance(self.credit, str):
            spikes: list[Tensor] = []

            def record(t: int, new: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
                spikes.append(LSNNCell.spikes(new))
                return new

            unroll(self.cell, x_seq, state, self.k_trunc, record)
            z = torch.stack(spikes)
        else:

            def step(x: Tensor, old: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
                new = self.cell(x, old)
                return LSNNCell.spikes(new), new

            z, _ = self.credit.unroll(step, x_seq, state, tuple(self.cell.parameters()))
        drive = self.readout(z)
        out = [drive[0]]
        for t in range(1, drive.shape[0]):
            out.append(self.kappa * out[-1] + drive[t])
        return torch.stack(out), z

    def extra_repr(self) -> str:
        return f"kappa={self.kappa:.4f}, credit={self.credit!r}, k_trunc={self.k_trunc}"


def firing_rate_regularizer(spikes: Tensor, target_rate: float) -> Tensor:
    r"""LSNN's firing-rate regulariser: squared distance of each neuron's mean rate to a target.

    .. math::
        R = \sum_j \big(\bar z_j - f_0\big)^2, \qquad \bar z_j = \frac{1}{T B} \sum_{t, b} z_{t b j}.

    Shapes:
        - **spikes**: :math:`(T, B, N)`; **output**: scalar.
    """
    if not 0.0 <= target_rate <= 1.0:
        raise ValueError(f"firing_rate_regularizer: `target_rate` must lie in [0, 1] (per step), got {target_rate}")
    return (spikes.mean((0, 1)) - target_rate).pow(2).sum()
