r"""Truncated backpropagation through time: the state is cut from the graph every k steps.

Williams & Peng, "An efficient gradient-based algorithm for on-line training of recurrent network trajectories",
Neural Computation 1990. With the state detached after steps :math:`k, 2k, \dots`,

.. math::
    \frac{\partial s_{jk}}{\partial s_{jk-1}} := 0 \quad (j = 1, 2, \dots)

so the gradient of a loss at step t reaches back at most to the last multiple of k before t. The forward values are
those of BPTT; with ``k >= T`` the gradients are BPTT's. The graph of all T steps is still kept (the truncation
limits how far credit travels, not what is stored). A generic recurrence runs through the reference loop, whose
hook cuts the state (:func:`msg.neurons.multistep`); a neuron population runs the fused kernel on chunks of k
steps from the detached state of the previous chunk (the same cuts).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from msg.neurons import BaseNode
from msg.neurons.functional import Hook

from .base import check_sequence, detach_state
from .bptt import BPTT

__all__ = ["TBPTT"]


class TBPTT(BPTT):
    """BPTT truncated every ``k`` steps.

    Args:
        k (int): truncation length, :math:`k \\ge 1`.

    Shapes:
        - **x_seq:** :math:`(T, N, *)`; **outputs:** :math:`(T, N, *)`.
    """

    name = "tbptt"

    def __init__(self, k: int) -> None:
        if isinstance(k, bool) or int(k) != k or k < 1:
            raise ValueError(f"TBPTT: k must be an integer >= 1, got {k!r}")
        self.k = int(k)

    def hook(self) -> Hook:
        def cut(t: int, spike: Tensor, state: Any) -> tuple[Tensor, Any] | None:
            return (spike, detach_state(state)) if (t + 1) % self.k == 0 else None

        return cut

    def spike(self, neuron: BaseNode, currents: Tensor) -> Tensor:
        check_sequence(type(self).__name__, currents)
        state, chunks = neuron.initial_state(currents[0]), []
        for start in range(0, currents.shape[0], self.k):
            spikes, state, _ = neuron.run(currents[start : start + self.k], state)
            chunks.append(spikes)
            state = state.detach()
        return torch.cat(chunks)

    def __repr__(self) -> str:
        return f"TBPTT(k={self.k})"
