r"""Differentiation via manifold (DvM), exposed through the credit interface.

Sun et al., "Spiking Graph Neural Network on Riemannian Manifolds", NeurIPS 2024. Under DvM the spike path is a
constant for autograd and the gradient reaches the weights through the manifold path (the rate current moved along
a geodesic), which the MSG layers build themselves (:mod:`msg.nn.manifold_conv`). This method only runs the spike
path without a graph and marks the choice: a model without a manifold path calls
:meth:`~msg.credit.CreditMethod.check_model` and raises a ``ValueError`` naming itself.

.. math::
    z = \operatorname{sg}\bigl[\text{Neuron}(I_1, \dots, I_T)\bigr]

Shapes:
    - **currents:** :math:`(T, N, D)`; **spikes:** :math:`(T, N, D)`, no gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from msg.neurons import BaseNode, multistep

from .base import CreditMethod, Step, Transform, check_sequence

__all__ = ["DvM"]


class DvM(CreditMethod):
    """The spike path as a constant; the model's manifold path carries the gradient.

    Shapes:
        - **currents:** :math:`(T, N, D)`; **spikes:** :math:`(T, N, D)`.
    """

    name = "dvm"
    needs_manifold = True

    @torch.no_grad()
    def unroll(self, step: Step, x_seq: Tensor, state: Any, params: Sequence[Tensor] = ()) -> tuple[Tensor, Any]:
        check_sequence(type(self).__name__, x_seq)
        return multistep(step, x_seq, state)

    @torch.no_grad()
    def spike(self, neuron: BaseNode, currents: Tensor) -> Tensor:
        check_sequence(type(self).__name__, currents)
        return neuron.run(currents)[0]

    @torch.no_grad()
    def layer(
        self, neuron: BaseNode, inputs: Tensor, transform: Transform, params: Sequence[Tensor] | None = None
    ) -> Tensor:
        """The currents are computed without a graph too (the model's rate path carries the gradient)."""
        check_sequence(type(self).__name__, inputs)
        return neuron.run(transform(inputs))[0]
