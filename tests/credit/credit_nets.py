"""A small recurrent LIF network shared by the credit-assignment tests: ``z_t = LIF(W_in x_t + W_rec z_{t-1})``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from msg.neurons import LIFNode, NeuronState


class RecurrentLIF(nn.Module):
    """One recurrent LIF layer as a pure step over the state ``(v, z_prev)``."""

    def __init__(self, inputs: int, hidden: int, tau: float = 2.0, detach_reset: bool = False) -> None:
        super().__init__()
        self.w_in = nn.Linear(inputs, hidden, bias=False)
        self.w_rec = nn.Linear(hidden, hidden, bias=False)
        self.neuron = LIFNode(tau=tau, v_reset=None, detach_reset=detach_reset)
        with torch.no_grad():  # strong enough input that the layer spikes from the first step
            self.w_in.weight.uniform_(-0.5, 1.0)
            self.w_rec.weight.normal_(0.0, 0.5)

    def initial_state(self, x: Tensor) -> tuple[Tensor, Tensor]:
        zeros = x.new_zeros(x.shape[0], self.w_rec.in_features)
        return zeros, zeros

    def step(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        v, z = state
        spike, new = self.neuron.step(self.w_in(x) + self.w_rec(z), NeuronState(v))
        return spike, (new.v, spike)


def sequence(T: int, batch: int, features: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(T, batch, features, generator=generator, dtype=dtype) * 2.0
