import pytest
import torch
from credit_nets import RecurrentLIF, sequence

from msg.credit import BPTT, TBPTT, detach_state
from msg.neurons import LIFNode


def _grads(model, spikes):
    loss = (spikes * torch.linspace(-1.0, 1.0, spikes.shape[0], dtype=spikes.dtype).view(-1, 1, 1)).sum()
    return torch.autograd.grad(loss, list(model.parameters()))


@pytest.mark.parametrize("k", [1, 3, 7])
def test_truncation_equals_bptt_on_detached_chunks(k):
    model = RecurrentLIF(3, 5).double()
    x = sequence(20, 2, 3)
    spikes, _ = TBPTT(k).unroll(model.step, x, model.initial_state(x[0]))
    chunks, state = [], model.initial_state(x[0])
    for start in range(0, 20, k):
        out, state = BPTT().unroll(model.step, x[start : start + k], state)
        chunks.append(out)
        state = detach_state(state)
    reference = torch.cat(chunks)
    assert torch.equal(spikes, reference)
    for a, b in zip(_grads(model, spikes), _grads(model, reference), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_k_at_least_T_is_bptt_and_k_below_T_differs():
    model = RecurrentLIF(3, 5).double()
    x = sequence(12, 2, 3)
    state = model.initial_state(x[0])
    full = _grads(model, BPTT().unroll(model.step, x, state)[0])
    same = _grads(model, TBPTT(12).unroll(model.step, x, state)[0])
    cut = _grads(model, TBPTT(2).unroll(model.step, x, state)[0])
    for a, b in zip(full, same, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(full[1], cut[1])


@pytest.mark.parametrize("k", [1, 4, 30])
def test_fused_chunks_equal_the_hooked_reference_loop(k):
    neuron = LIFNode(tau=2.0, v_reset=None, learnable_tau=True).double()
    currents = (sequence(13, 4, 3, seed=5) * 0.9).requires_grad_()
    fused = TBPTT(k).spike(neuron, currents)
    reference = TBPTT(k).unroll(neuron.step, currents, neuron.initial_state(currents[0]))[0]
    assert torch.equal(fused, reference)
    weights = torch.linspace(0.0, 1.0, 13, dtype=torch.float64).view(-1, 1, 1)
    a = torch.autograd.grad((fused * weights).sum(), [currents, neuron.tau])
    b = torch.autograd.grad((reference * weights).sum(), [currents, neuron.tau])
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)


def test_spike_path_truncates_the_neuron():
    neuron = LIFNode(v_reset=None).double()
    currents = (sequence(9, 4, 3, seed=2) * 0.8).requires_grad_()
    spikes = TBPTT(3).spike(neuron, currents)
    (g,) = torch.autograd.grad(spikes[5].sum(), currents)
    assert g[3:6].abs().sum() > 0
    assert torch.count_nonzero(g[:3]) == 0 and torch.count_nonzero(g[6:]) == 0


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_invalid_k_raises(k):
    with pytest.raises(ValueError, match="TBPTT: k must be an integer >= 1"):
        TBPTT(k)
