import pytest
import torch
from credit_nets import sequence

from msg.credit import BPTT, Rate, SavedTensorMeter, eligibility
from msg.neurons import IFNode, LIFNode

NEURONS = [
    lambda: LIFNode(tau=2.0, v_reset=None, detach_reset=True),
    lambda: LIFNode(tau=3.0, v_reset=0.0, detach_reset=True, decay_input=False),
    lambda: IFNode(v_reset=None, detach_reset=True),
]


def _net(seed: int = 0):
    torch.manual_seed(seed)
    first = torch.nn.Linear(5, 4).double()
    second = torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        first.weight.uniform_(-0.2, 1.0)
        second.weight.uniform_(-0.2, 1.2)
    return first, second


def _two_layers(method, neurons, x, first, second):
    hidden = method.layer(neurons[0], x, first)
    return method.layer(neurons[1], hidden, second)


@pytest.mark.parametrize("make", NEURONS)
def test_rate_equals_bptt_at_one_step(make):
    first, second = _net()
    neurons = (make().double(), make().double())
    x = (sequence(1, 8, 5, seed=3) * 0.8).requires_grad_()
    params = [x, *first.parameters(), *second.parameters()]
    grads = []
    for method in (BPTT(), Rate()):
        out = _two_layers(method, neurons, x, first, second)
        loss = torch.nn.functional.cross_entropy(out.mean(0) * 4, torch.arange(8) % 3)
        grads.append(torch.autograd.grad(loss, params))
    assert all(g.abs().sum() > 0 for g in grads[0])
    for a, b in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("make", NEURONS)
def test_eligibility_is_the_bptt_derivative_of_the_mean_spike_for_a_constant_current(make):
    neuron = make().double()
    current = (sequence(1, 20, 6, seed=5)[0] * 0.9).requires_grad_()
    T = 16
    spikes = BPTT().spike(neuron, current.unsqueeze(0).expand(T, -1, -1))
    (reference,) = torch.autograd.grad(spikes.mean(0).sum(), current)
    rate_spikes, e = eligibility(neuron, current.detach().unsqueeze(0).expand(T, -1, -1))
    assert torch.equal(rate_spikes, spikes.detach()) and reference.abs().sum() > 0
    torch.testing.assert_close(e, reference, rtol=1e-10, atol=1e-12)


def test_saved_memory_is_constant_in_T():
    first, second = _net()
    neurons = (LIFNode(v_reset=None).double(), LIFNode(v_reset=None).double())
    peaks = {}
    for name, method in (("rate", Rate()), ("bptt", BPTT())):
        for T in (5, 50):
            x = sequence(T, 8, 5)
            with SavedTensorMeter() as meter:
                _two_layers(method, neurons, x, first, second).sum().backward()
            peaks[name, T] = meter.peak
    assert peaks["rate", 5] == peaks["rate", 50] > 0
    assert peaks["bptt", 50] > 5 * peaks["bptt", 5]


def test_neuron_surrogate_is_restored_and_generic_recurrences_are_refused():
    neuron = LIFNode()
    surrogate = neuron.surrogate_function
    Rate().spike(neuron, torch.rand(3, 2, 2))
    assert neuron.surrogate_function is surrogate
    with pytest.raises(ValueError, match="Rate: rate-based backprop needs a spiking layer"):
        Rate().unroll(lambda x, s: (x, s), torch.ones(2, 1), ())
