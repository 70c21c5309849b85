"""Energy accounting: operation counts on hand-made spikes and graphs, the 45 nm estimate, the hook meter."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from msg.neurons import LIFNode
from msg.ops.energy import (
    E_AC,
    E_MAC,
    EnergyMeter,
    energy,
    graph_sops,
    is_binary,
    linear_macs,
    linear_sops,
    spike_count,
)


def test_constants_are_horowitz_45nm():
    assert E_AC == pytest.approx(0.9e-12)
    assert E_MAC == pytest.approx(3.7e-12 + 0.9e-12)
    assert energy(acs=10, macs=2) == pytest.approx(10 * 0.9e-12 + 2 * 4.6e-12)
    with pytest.raises(ValueError, match="energy: operation counts must be >= 0, got acs=-1"):
        energy(acs=-1)


def test_counts_on_hand_made_spikes():
    spikes = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    assert spike_count(spikes) == 3
    assert is_binary(spikes) and not is_binary(spikes * 0.5)
    assert linear_sops(spikes, out_features=4) == 12
    assert linear_macs(torch.randn(5, 3), out_features=4) == 60


def test_graph_sops_counts_out_degree():
    # edges 0->1, 0->2, 1->2: node 0 reaches 2 nodes, node 1 one, node 2 none
    edge_index = torch.tensor([[0, 0, 1], [1, 2, 2]])
    spikes = torch.zeros(2, 3, 4)  # [T, N, F]
    spikes[0, 0, :2] = 1  # two spikes of node 0
    spikes[1, 1, 0] = 1  # one of node 1
    spikes[:, 2, :] = 1  # eight of node 2, which has no out-neighbours
    assert graph_sops(spikes, edge_index) == 2 * 2 + 1 * 1 + 8 * 0
    with pytest.raises(ValueError, match="graph_sops: spikes have 3 nodes on dim -2, expected 5"):
        graph_sops(spikes, edge_index, num_nodes=5)


def test_meter_counts_a_small_network():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), LIFNode(step_mode="m"), nn.Linear(3, 2))
    x = torch.randn(6, 5, 4) * 3
    with EnergyMeter(net) as meter:
        net(x)
    first = net[0](x)
    net[1].reset()
    spikes = net[1](first)
    summary = meter.summary()
    assert summary["macs"] == 6 * 5 * 4 * 3
    assert summary["acs"] == spike_count(spikes) * 2
    assert summary["spikes"] == spike_count(spikes) and summary["neuron_updates"] == 6 * 5 * 3
    assert summary["firing_rate"] == pytest.approx(spike_count(spikes) / 90)
    assert meter.energy == pytest.approx(summary["acs"] * E_AC + summary["macs"] * E_MAC)
    # hooks are gone after the context: a second pass adds nothing
    net(x)
    assert meter.summary() == summary


def test_meter_explicit_counts_and_own_reports():
    class Aggregation(nn.Module):
        def forward(self, x):
            return x.sum(0)

        def energy_ops(self, inputs, output):
            return spike_count(inputs[0]), 0

    model = Aggregation()
    meter = EnergyMeter(model)
    model(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))
    meter.add(acs=5, macs=1)
    assert (meter.acs, meter.macs) == (3 + 5, 1)
    meter.reset()
    assert meter.acs == meter.macs == 0
    meter.remove()
    with pytest.raises(ValueError, match="EnergyMeter: operation counts must be >= 0"):
        meter.add(macs=-2)
