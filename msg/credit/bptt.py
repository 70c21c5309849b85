r"""Backpropagation through time with surrogate gradients: the reference every other method is compared with.

The loop runs under autograd and the graph spans all T steps (Werbos, "Backpropagation through time: what it does
and how to do it", Proc. IEEE 1990; with surrogate spike derivatives, Neftci, Mostafa & Zenke, IEEE Signal
Processing Magazine 2019):

.. math::
    \frac{\partial L}{\partial s_{t-1}} = \frac{\partial L}{\partial y_t}\frac{\partial y_t}{\partial s_{t-1}}
    + \frac{\partial L}{\partial s_t}\frac{\partial s_t}{\partial s_{t-1}}

Saved activations grow linearly with T. :meth:`BPTT.spike` runs the neuron core's fused kernel
(:func:`msg.neurons.fused_multistep`), which saves one tensor per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from msg.neurons import BaseNode, multistep
from msg.neurons.functional import Hook

from .base import CreditMethod, Step, check_sequence

__all__ = ["BPTT"]


class BPTT(CreditMethod):
    """Surrogate-gradient backprop through all T steps.

    Shapes:
        - **x_seq:** :math:`(T, N, *)`; **outputs:** :math:`(T, N, *)`.
    """

    name = "bptt"

    def hook(self) -> Hook | None:
        """The per-step hook of :func:`msg.neurons.multistep` (``None``: the full graph)."""
        return None

    def unroll(self, step: Step, x_seq: Tensor, state: Any, params: Sequence[Tensor] = ()) -> tuple[Tensor, Any]:
        check_sequence(type(self).__name__, x_seq)
        return multistep(step, x_seq, state, self.hook())

    def spike(self, neuron: BaseNode, currents: Tensor) -> Tensor:
        check_sequence(type(self).__name__, currents)
        return neuron.run(currents, hook=self.hook())[0]
