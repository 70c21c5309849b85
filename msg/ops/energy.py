r"""Spike and synaptic-operation counting, and the inference-energy estimate used in the SNN literature.

A spiking layer accumulates a weight only where an input spike arrives (an *accumulate*, AC, also called a
synaptic operation, SOP); a real-valued layer multiplies and accumulates every input (MAC). The energy estimate is

.. math::
    E = E_{AC}\, \#\text{AC} + E_{MAC}\, \#\text{MAC}, \qquad E_{AC} = 0.9\ \text{pJ}, \quad E_{MAC} = 4.6\ \text{pJ},

the 32-bit floating-point figures for a 45 nm process of Horowitz, "Computing's energy problem (and what we can do
about it)", ISSCC 2014 (add 0.9 pJ; multiply 3.7 pJ, so a multiply-accumulate 4.6 pJ), as used by e.g. Zhou et
al., "Spikformer", ICLR 2023, and Sun et al., "Spiking Graph Neural Network on Riemannian Manifolds", NeurIPS 2024.
Memory access, which often dominates on real hardware, is not counted; the estimate compares operation counts.

Counting rules:

* linear layer :math:`F_\text{in} \to F_\text{out}`: binary input :math:`\to` (number of spikes) :math:`\cdot
  F_\text{out}` ACs; real input :math:`\to` (rows) :math:`\cdot F_\text{in} F_\text{out}` MACs (bias ignored);
* graph aggregation over ``edge_index`` (source row 0, PyG's ``source_to_target``): a spike of node :math:`j`
  reaches its :math:`\deg^+(j)` out-neighbours, :math:`\sum_j \#\text{spikes}_j \deg^+(j)` ACs;
* any module with a method ``energy_ops(inputs, output) -> (acs, macs)`` reports its own operations (not those
  of its submodules, which are hooked separately) to :class:`EnergyMeter`; anything else is added by hand with
  :meth:`EnergyMeter.add`.

Shapes:
    - **spikes:** any shape, with nodes on dimension ``node_dim`` (default :math:`-2`) for :func:`graph_sops`,
      e.g. :math:`(T, |V|, F)`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from msg.neurons import BaseNode

__all__ = [
    "E_AC",
    "E_MAC",
    "energy",
    "spike_count",
    "is_binary",
    "linear_sops",
    "linear_macs",
    "graph_sops",
    "EnergyMeter",
]

E_AC = 0.9e-12
"""Joules per accumulate, 32-bit float add at 45 nm (Horowitz, ISSCC 2014)."""
E_MAC = 4.6e-12
"""Joules per multiply-accumulate, 32-bit float multiply (3.7 pJ) plus add (0.9 pJ) at 45 nm (Horowitz, ISSCC 2014)."""


def energy(acs: float = 0, macs: float = 0, e_ac: float = E_AC, e_mac: float = E_MAC) -> float:
    """Inference energy in joules of ``acs`` accumulates and ``macs`` multiply-accumulates."""
    if acs < 0 or macs < 0:
        raise ValueError(f"energy: operation counts must be >= 0, got acs={acs}, macs={macs}")
    return acs * e_ac + macs * e_mac


def spike_count(spikes: Tensor) -> int:
    """Number of non-zero entries (spikes) of ``spikes``."""
    return int(torch.count_nonzero(spikes))


def is_binary(x: Tensor) -> bool:
    """Whether every entry of ``x`` is 0 or 1 (a spike tensor)."""
    return bool(((x == 0) | (x == 1)).all())


def linear_sops(spikes: Tensor, out_features: int) -> int:
    """Accumulates of a linear layer on binary input: every spike adds one weight column of ``out_features``."""
    return spike_count(spikes) * out_features


def linear_macs(x: Tensor, out_features: int) -> int:
    """Multiply-accumulates of a linear layer on real input :math:`(*, F_\\text{in})`."""
    return x.numel() * out_features


def graph_sops(spikes: Tensor, edge_index: Tensor, num_nodes: int | None = None, node_dim: int = -2) -> int:
    """Accumulates of a sum aggregation over ``edge_index``: each non-zero entry of node ``j`` is added to each of
    ``j``'s out-neighbours (PyG's ``source_to_target`` flow: ``edge_index[0]`` holds the sources)."""
    num_nodes = spikes.shape[node_dim] if num_nodes is None else num_nodes
    if spikes.shape[node_dim] != num_nodes:
        raise ValueError(
            f"graph_sops: spikes have {spikes.shape[node_dim]} nodes on dim {node_dim}, expected {num_nodes}"
        )
    out_degree = torch.bincount(edge_index[0], minlength=num_nodes)
    active = (spikes != 0).movedim(node_dim, 0).reshape(num_nodes, -1).sum(1)
    return int((active * out_degree).sum())


class EnergyMeter:
    """Count spikes, ACs and MACs on a module tree during forward passes, through forward hooks.

    Hooks go on every :class:`torch.nn.Linear` (ACs for binary input, MACs otherwise), every spiking node of
    :mod:`msg.neurons` (spikes emitted, neurons updated) and every module with an ``energy_ops(inputs, output)``
    method. Use it as a context manager (hooks are removed on exit) or call :meth:`remove`.

    Args:
        module (torch.nn.Module): the network to watch.
        e_ac (float, optional): joules per accumulate. (default: :obj:`E_AC`)
        e_mac (float, optional): joules per multiply-accumulate. (default: :obj:`E_MAC`)

    Example:
        >>> with EnergyMeter(model) as meter:
        ...     model(x)
        >>> meter.summary()["energy_J"]
    """

    def __init__(self, module: nn.Module, e_ac: float = E_AC, e_mac: float = E_MAC) -> None:
        self.e_ac, self.e_mac = e_ac, e_mac
        self.acs = self.macs = self.spikes = self.neuron_updates = 0
        self._handles = []
        for m in module.modules():
            if hasattr(m, "energy_ops"):
                self._handles.append(m.register_forward_hook(self._own_hook))
            elif isinstance(m, nn.Linear):
                self._handles.append(m.register_forward_hook(self._linear_hook))
            elif isinstance(m, BaseNode):
                self._handles.append(m.register_forward_hook(self._neuron_hook))

    def _own_hook(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        acs, macs = module.energy_ops(inputs, output)
        self.add(acs, macs)

    def _linear_hook(self, module: nn.Linear, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        (x,) = inputs
        if is_binary(x):
            self.acs += linear_sops(x, module.out_features)
        else:
            self.macs += linear_macs(x, module.out_features)

    def _neuron_hook(self, module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        self.spikes += spike_count(output)
        self.neuron_updates += output.numel()

    def add(self, acs: int = 0, macs: int = 0) -> None:
        """Add operations counted by hand (e.g. a graph aggregation, :func:`graph_sops`)."""
        if acs < 0 or macs < 0:
            raise ValueError(f"EnergyMeter: operation counts must be >= 0, got acs={acs}, macs={macs}")
        self.acs += int(acs)
        self.macs += int(macs)

    @property
    def energy(self) -> float:
        """Estimated energy in joules of everything counted so far."""
        return energy(self.acs, self.macs, self.e_ac, self.e_mac)

    def summary(self) -> dict[str, float]:
        """Counts, firing rate (spikes per neuron update) and energy in joules."""
        rate = self.spikes / self.neuron_updates if self.neuron_updates else 0.0
        return {
            "acs": self.acs,
            "macs": self.macs,
            "spikes": self.spikes,
            "neuron_updates": self.neuron_updates,
            "firing_rate": rate,
            "energy_J": self.energy,
        }

    def reset(self) -> None:
        """Zero the counters (hooks stay)."""
        self.acs = self.macs = self.spikes = self.neuron_updates = 0

    def remove(self) -> None:
        """Remove the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __enter__(self) -> EnergyMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
