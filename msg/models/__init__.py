"""msg.models: MSG, the spiking and ANN baselines, and the recurrent SNN / equilibrium models.

Baselines load on first use through ``msg train --model NAME`` (see ``msg.tasks.runner.MODELS``)."""

from .equilibrium import GraphEnergyRNN, LayeredEnergyRNN, make_activation
from .lsnn import LSNN, LSNNCell, firing_rate_regularizer
from .msg import MSG

__all__ = [
    "MSG",
    "LSNN",
    "LSNNCell",
    "firing_rate_regularizer",
    "GraphEnergyRNN",
    "LayeredEnergyRNN",
    "make_activation",
]
