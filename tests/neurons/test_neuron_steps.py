"""Pure steps and the reference loop: hand-computed spike trains, ALIF adaptation, refractoriness, hooks."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch

from msg.neurons import (
    NeuronState,
    Sigmoid,
    alif_step,
    if_step,
    initial_state,
    lif_step,
    multistep,
)

F64 = dict(dtype=torch.float64)


def _run(step, inputs, v_reset=0.0, adaptive=False, refractory=False):
    x = torch.tensor(inputs, **F64).unsqueeze(-1)
    trace = []
    state = initial_state(x[0], v_reset, adaptive, refractory)
    spikes, state = multistep(step, x, state, hook=lambda t, s, st: trace.append(st))
    return spikes.squeeze(-1).tolist(), trace


def test_if_soft_reset_hand_computed():
    # h = 0.75, 1.5 (fire, -> 0.5), 1.25 (fire, -> 0.25), 1.0 (fire: h >= threshold, -> 0), 0.75
    spikes, trace = _run(partial(if_step, surrogate=Sigmoid(), v_reset=None), [0.75] * 5, v_reset=None)
    assert spikes == [0, 1, 1, 1, 0]
    assert [s.v.item() for s in trace] == [0.75, 0.5, 0.25, 0.0, 0.75]


def test_if_hard_reset_hand_computed():
    spikes, trace = _run(partial(if_step, surrogate=Sigmoid(), v_reset=0.0), [0.75] * 5)
    assert spikes == [0, 1, 0, 1, 0]
    assert [s.v.item() for s in trace] == [0.75, 0.0, 0.75, 0.0, 0.75]


def test_lif_hard_reset_hand_computed():
    # tau = 2, decay_input: h = v + (x - v) / 2 -> 0.75, 1.125 (fire -> 0), 0.75, 1.125 (fire -> 0)
    spikes, trace = _run(partial(lif_step, surrogate=Sigmoid(), tau=2.0), [1.5] * 4)
    assert spikes == [0, 1, 0, 1]
    assert [s.v.item() for s in trace] == [0.75, 0.0, 0.75, 0.0]


def test_lif_soft_reset_hand_computed():
    # 0.75; 1.125 (fire -> 0.125); 0.125 + (1.5 - 0.125) / 2 = 0.8125; 0.8125 + 0.34375 = 1.15625 (fire -> 0.15625)
    spikes, trace = _run(partial(lif_step, surrogate=Sigmoid(), tau=2.0, v_reset=None), [1.5] * 4, v_reset=None)
    assert spikes == [0, 1, 0, 1]
    assert [s.v.item() for s in trace] == [0.75, 0.125, 0.8125, 0.15625]


def test_lif_without_input_decay_and_negative_reset_hand_computed():
    # h = v - (v - v_r) / 2 + x with v_r = -0.5, v0 = -0.5: 0.5; 0.5 - 0.5 + 0.5 = 0.5 ... x = 0.75 to cross
    step = partial(lif_step, surrogate=Sigmoid(), tau=2.0, v_reset=-0.5, decay_input=False)
    spikes, trace = _run(step, [0.75, 0.75, 0.75], v_reset=-0.5)
    # 0.25; 0.25 - 0.375 + 0.75 = 0.625; 0.625 - 0.5625 + 0.75 = 0.8125
    assert spikes == [0, 0, 0]
    assert [s.v.item() for s in trace] == [0.25, 0.625, 0.8125]
    spikes, trace = _run(step, [1.75, 0.0], v_reset=-0.5)
    assert spikes == [1, 0]
    assert [s.v.item() for s in trace] == [-0.5, -0.5]


def test_alif_hand_computed_and_mixed_population():
    # tau = 2, soft reset, threshold 1, rho = 1/2. Input 2 at t = 0 fires (h = 1 >= A = 1) and raises b to 1/2;
    # at t = 4 the same input gives h = 1 < A = 1 + beta / 16: the adaptive unit (beta = 1) stays silent, the LIF
    # unit of the same population (beta = 0) fires.
    x = torch.tensor([2.0, 0.0, 0.0, 0.0, 2.0], **F64)[:, None].repeat(1, 2)
    step = partial(alif_step, surrogate=Sigmoid(), tau=2.0, beta=torch.tensor([1.0, 0.0], **F64), rho=0.5)
    trace = []
    spikes, _ = multistep(step, x, initial_state(x[0], None, adaptive=True), hook=lambda t, s, st: trace.append(st))
    assert spikes[:, 0].tolist() == [1, 0, 0, 0, 0]
    assert spikes[:, 1].tolist() == [1, 0, 0, 0, 1]
    assert [s.b[0].item() for s in trace] == [0.5, 0.25, 0.125, 0.0625, 0.03125]


@pytest.mark.parametrize("tau_a", [3.0, 20.0])
def test_alif_adaptation_decays_geometrically_after_one_spike(tau_a):
    rho = math.exp(-1.0 / tau_a)
    x = torch.zeros(12, 1, **F64)
    x[0] = 5.0
    trace = []
    step = partial(alif_step, surrogate=Sigmoid(), tau=2.0, beta=1.8, rho=rho)
    spikes, _ = multistep(step, x, initial_state(x[0], None, adaptive=True), hook=lambda t, s, st: trace.append(st))
    assert spikes.sum().item() == 1
    b = torch.stack([s.b for s in trace]).squeeze(-1)
    expected = (1 - rho) * rho ** torch.arange(12, **F64)
    torch.testing.assert_close(b, expected, rtol=1e-14, atol=0)


def test_alif_refractory_period_blocks_spikes():
    # strong constant drive fires every step without refractoriness; R = 2 leaves two silent steps after each spike
    x = torch.full((9, 1), 3.0, **F64)
    for refractory, expected in [(0, [1] * 9), (2, [1, 0, 0] * 3)]:
        step = partial(
            alif_step, surrogate=Sigmoid(), tau=2.0, beta=0.0, rho=0.5, refractory=refractory, decay_input=False
        )
        state = initial_state(x[0], None, adaptive=True, refractory=refractory > 0)
        spikes, _ = multistep(step, x, state)
        assert spikes.squeeze(-1).tolist() == expected


def test_refractory_spikes_carry_no_gradient():
    x = torch.full((4, 1), 3.0, **F64, requires_grad=True)
    step = partial(alif_step, surrogate=Sigmoid(), tau=2.0, beta=0.0, rho=0.5, refractory=3, decay_input=False)
    spikes, _ = multistep(step, x, initial_state(x[0], None, adaptive=True, refractory=True))
    (grad,) = torch.autograd.grad(spikes[1:].sum(), x)
    assert spikes.squeeze(-1).tolist() == [1, 0, 0, 0]
    assert torch.all(grad == 0)


def test_detach_reset_removes_reset_path_from_gradient():
    # two steps of IF with soft reset: v1 = h1 - z1 * theta, h2 = v1 + x2; dz2/dx1 differs only by the reset path
    x = torch.tensor([[1.2], [0.5]], **F64, requires_grad=True)
    surrogate = Sigmoid()
    grads = []
    for detach in (False, True):
        step = partial(if_step, surrogate=surrogate, v_reset=None, detach_reset=detach)
        spikes, _ = multistep(step, x, initial_state(x[0], None))
        grads.append(torch.autograd.grad(spikes[1].sum(), x)[0][0].item())
    sg1 = surrogate.derivative(torch.tensor(0.2, **F64)).item()
    sg2 = surrogate.derivative(torch.tensor(0.2 + 0.5 - 1.0, **F64)).item()
    assert grads[1] == pytest.approx(sg2)
    assert grads[0] == pytest.approx(sg2 * (1 - sg1))


def test_hook_can_truncate_the_graph():
    x = torch.randn(6, 3, **F64, requires_grad=True)
    step = partial(lif_step, surrogate=Sigmoid(), tau=2.0)

    def truncate(t, spike, state):
        return (spike, state.detach()) if t == 2 else None

    spikes, _ = multistep(step, x, initial_state(x[0]), hook=truncate)
    (grad,) = torch.autograd.grad(spikes[4:].sum(), x)
    assert torch.all(grad[:3] == 0) and torch.any(grad[3:] != 0)


def test_segments_from_stored_state_equal_one_run():
    # the checkpointing contract: running [0, 3) then [3, 7) from the stored state equals one run over [0, 7)
    x = torch.randn(7, 4, **F64) + 0.5
    step = partial(alif_step, surrogate=Sigmoid(), tau=3.0, beta=1.0, rho=0.8, refractory=1)
    state0 = initial_state(x[0], None, adaptive=True, refractory=True)
    full, end = multistep(step, x, state0)
    first, mid = multistep(step, x[:3], state0)
    second, end2 = multistep(step, x[3:], mid)
    assert torch.equal(torch.cat([first, second]), full)
    assert all(torch.equal(a, b) for a, b in zip(end, end2, strict=True))


def test_empty_sequence_raises():
    with pytest.raises(ValueError, match="multistep: .*T = 0"):
        multistep(partial(if_step, surrogate=Sigmoid()), torch.zeros(0, 3), initial_state(torch.zeros(3)))


def test_state_is_a_namedtuple_of_tensors():
    state = initial_state(torch.zeros(2, 3), v_reset=-0.25, adaptive=True)
    assert isinstance(state, NeuronState) and state.r is None
    assert torch.all(state.v == -0.25) and torch.all(state.b == 0)
