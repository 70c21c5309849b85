"""msg.neurons: the shared IF / LIF / ALIF core with surrogate gradients and a fused multi-step kernel.

Pure steps and the reference loop live in :mod:`~msg.neurons.functional`, the fused kernel in
:mod:`~msg.neurons.fused`, modules in :mod:`~msg.neurons.modules` and spike functions in
:mod:`~msg.neurons.surrogate`.
"""

from typing import Any

from .functional import NeuronState, alif_step, if_step, initial_state, lif_step, multistep
from .fused import MultiStepFunction, charge_coefficients, fused_multistep
from .modules import ALIFNode, BaseNode, IFNode, LIFNode, reset_net
from .surrogate import (
    SURROGATES,
    ATan,
    FastSigmoid,
    Rectangle,
    Sigmoid,
    SpikeFunction,
    SurrogateFunction,
    Triangle,
    get_surrogate,
    heaviside,
)

NEURONS: dict[str, type[BaseNode]] = {"if": IFNode, "lif": LIFNode, "alif": ALIFNode}


def get_neuron(name: str, **kwargs: Any) -> BaseNode:
    """A neuron module by (case-insensitive) name, ``'if'``, ``'lif'`` or ``'alif'``, built with ``kwargs``."""
    key = name.lower()
    if key not in NEURONS:
        raise ValueError(f"get_neuron: unknown neuron {name!r}; known: {sorted(NEURONS)}")
    return NEURONS[key](**kwargs)


__all__ = [
    "NeuronState",
    "initial_state",
    "if_step",
    "lif_step",
    "alif_step",
    "multistep",
    "MultiStepFunction",
    "charge_coefficients",
    "fused_multistep",
    "BaseNode",
    "IFNode",
    "LIFNode",
    "ALIFNode",
    "reset_net",
    "NEURONS",
    "get_neuron",
    "SpikeFunction",
    "SurrogateFunction",
    "Sigmoid",
    "ATan",
    "Triangle",
    "FastSigmoid",
    "Rectangle",
    "SURROGATES",
    "get_surrogate",
    "heaviside",
]
