import pytest
import torch
from credit_nets import sequence

from msg.credit import BPTT, OTTT, SavedTensorMeter, get_credit
from msg.neurons import IFNode, LIFNode
from msg.ops.aggregate import Adjacency, propagate


def _layer(tau: float | None = 2.0):
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 3, bias=False).double()
    with torch.no_grad():
        lin.weight.uniform_(-0.3, 1.0)
    if tau is None:
        neuron = IFNode(v_reset=None, detach_reset=True, v_threshold=1.5)
    else:
        neuron = LIFNode(tau=tau, v_reset=None, detach_reset=True, decay_input=False)
    return lin, neuron.double()


def _spike_input(T: int, seed: int = 0) -> torch.Tensor:
    return (sequence(T, 6, 4, seed=seed) > 1.0).double()


@pytest.mark.parametrize("tau", [None, 2.0, 5.0])
def test_single_layer_with_detached_reset_equals_bptt(tau):
    lin, neuron = _layer(tau)
    x = _spike_input(30)
    target = torch.rand(30, 6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    grads = []
    for method in (BPTT(), OTTT()):
        spikes = method.layer(neuron, x, lin)
        loss = (spikes.cumsum(0) / 30 - target).square().sum()  # any loss of the whole spike train
        grads.append(torch.autograd.grad(loss, lin.weight)[0])
    assert grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-10, atol=1e-12)


def test_graph_convolution_trace_is_the_aggregated_trace():
    lin, neuron = _layer(3.0)
    edge_index = torch.tensor([[0, 1, 1, 2, 3, 4, 5, 0], [1, 0, 2, 1, 4, 3, 0, 5]])
    adj = Adjacency(edge_index, 6, dtype=torch.float64)

    def conv(s: torch.Tensor) -> torch.Tensor:
        return propagate(adj, lin(s))

    x = _spike_input(20, seed=2)
    grads = []
    for method in (BPTT(), OTTT()):
        spikes = method.layer(neuron, x, conv, params=list(lin.parameters()))
        grads.append(torch.autograd.grad((spikes * torch.arange(20.0).view(-1, 1, 1)).sum(), lin.weight)[0])
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-10, atol=1e-12)


def test_with_the_reset_in_the_graph_ottt_is_an_approximation():
    lin, _ = _layer()
    neuron = LIFNode(tau=2.0, v_reset=None, detach_reset=False, decay_input=False).double()
    x = _spike_input(30)
    grads = [torch.autograd.grad(m.layer(neuron, x, lin).sum(), lin.weight)[0] for m in (BPTT(), OTTT())]
    assert not torch.allclose(grads[0], grads[1])
    assert torch.nn.functional.cosine_similarity(grads[0].flatten(), grads[1].flatten(), dim=0) > 0.5


def _online_run(variant: str, T: int, optimizer_steps: list[int] | None = None):
    lin, neuron = _layer()
    method = OTTT(variant)
    x = _spike_input(T)
    target = torch.rand(T, 6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def step(s, carry):
        return method.layer_step(neuron, s, lin, carry)

    optimizer = None
    if optimizer_steps is not None:
        optimizer = torch.optim.SGD(lin.parameters(), lr=0.0)
        original = optimizer.step
        optimizer.step = lambda: optimizer_steps.append(1) or original()
    with SavedTensorMeter() as meter:
        method.online(step, x, None, lambda t, z: (z - target[t]).square().sum(), optimizer)
    return lin, neuron, x, target, meter


def test_online_accumulated_gradient_equals_bptt_of_the_summed_instantaneous_loss():
    lin, neuron, x, target, _ = _online_run("A", 25)
    online = lin.weight.grad.clone()
    lin.weight.grad = None
    spikes = BPTT().layer(neuron, x, lin)
    (spikes - target).square().sum().backward()
    torch.testing.assert_close(online, lin.weight.grad, rtol=1e-10, atol=1e-12)


def test_online_memory_is_constant_in_T_and_bptt_grows():
    peaks = {T: _online_run("A", T)[-1].peak for T in (10, 100)}
    assert peaks[10] == peaks[100] > 0
    lin, neuron = _layer()
    bptt = {}
    for T in (10, 100):
        with SavedTensorMeter() as meter:
            BPTT().layer(neuron, _spike_input(T), lin).sum().backward()
        bptt[T] = meter.peak
    assert bptt[100] > 5 * bptt[10]


def test_variants_step_the_optimizer_every_step_or_once():
    for variant, expected in (("O", 7), ("A", 1)):
        calls: list[int] = []
        _online_run(variant, 7, calls)
        assert len(calls) == expected
    assert get_credit("ottt_o").variant == "O"


def test_invalid_uses_raise():
    with pytest.raises(ValueError, match="OTTT: variant must be one of"):
        OTTT("B")
    with pytest.raises(ValueError, match="OTTT: online training needs presynaptic traces"):
        OTTT().unroll(lambda x, s: (x, s), torch.ones(2, 1), ())
    per_neuron = LIFNode(tau=torch.tensor([2.0, 3.0, 4.0]), v_reset=None)
    with pytest.raises(ValueError, match=r"OTTT: the presynaptic trace needs one membrane factor .* LIFNode with 3"):
        OTTT().layer(per_neuron, torch.ones(3, 2, 4), torch.nn.Linear(4, 3))
