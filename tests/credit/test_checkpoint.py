import math

import pytest
import torch
from credit_nets import RecurrentLIF, sequence

from msg.credit import BPTT, Checkpoint, get_credit, hsm_cost, hsm_policy, uniform_cost
from msg.neurons import LIFNode


def _brute_cost(t: int, m: int, alpha: float | None = None) -> float:
    """Gruslys et al.'s recursion written out literally (exponential; small t only); with ``alpha``, a segment whose
    activations fit next to its start state may also run as one leaf."""
    if t <= 1:
        return t
    if alpha is not None and m >= 1 and 1 + math.ceil((t - 1) * alpha) <= m:
        return t
    if m == 0:
        return math.inf
    if alpha is not None:
        return min(y + _brute_cost(t - y, m - 1, alpha) + _brute_cost(y, m, alpha) for y in range(1, t))
    if m == 1:
        return t * (t + 1) // 2
    return min(y + _brute_cost(t - y, m - 1) + _brute_cost(y, m) for y in range(1, t))


def test_dynamic_program_matches_the_recursion_and_closed_forms():
    for t in range(0, 13):
        for m in range(1, 6):
            assert hsm_cost(t, m) == _brute_cost(t, m), (t, m)
    assert hsm_cost(1000, 1) == 1000 * 1001 // 2
    assert hsm_cost(50, 49) == 99 and hsm_cost(50, 200) == 99  # 2T - 1 once m >= T - 1
    costs = [hsm_cost(300, m) for m in (1, 2, 4, 8, 16, 32, 299)]
    assert costs == sorted(costs, reverse=True)  # more memory never costs more time
    t, m = 40, 3
    y = hsm_policy(40, 5)[t, m]
    assert y + hsm_cost(t - y, m - 1) + hsm_cost(y, m) == hsm_cost(t, m)
    assert uniform_cost(100, 10) == 190 and uniform_cost(10, 3) == 19
    for alpha in (0.5, 1.0, 2.5):
        for t in range(0, 11):
            for m in range(1, 6):
                assert hsm_cost(t, m, alpha) == _brute_cost(t, m, alpha), (t, m, alpha)
    assert hsm_cost(100, 100, alpha=1.0) == 100 < hsm_cost(100, 99, alpha=1.0)  # the whole sequence as one leaf
    assert hsm_cost(300, 20, alpha=2.0) < hsm_cost(300, 20)


def _grads(method, model: RecurrentLIF, x: torch.Tensor):
    model.zero_grad()
    spikes, (v, _) = method.unroll(model.step, x, model.initial_state(x[0]), list(model.parameters()))
    weights = torch.linspace(-1.0, 1.0, spikes.shape[0], dtype=x.dtype).view(-1, 1, 1)
    loss = (spikes * weights).sum() + v.square().sum()
    loss.backward()
    return [p.grad.clone() for p in model.parameters()], spikes.detach()


@pytest.mark.parametrize(("T", "slots"), [(1, 1), (7, 1), (30, 2), (97, 5), (300, 8), (1000, 16), (1000, 64), (12, 40)])
def test_gradients_equal_bptt_and_evaluations_equal_the_predicted_cost(T, slots):
    torch.manual_seed(0)
    model = RecurrentLIF(3, 5, tau=1.5).double()
    x = sequence(T, 2, 3)
    reference, ref_spikes = _grads(BPTT(), model, x)
    method = Checkpoint(slots)
    grads, spikes = _grads(method, model, x)
    assert torch.equal(spikes, ref_spikes)
    assert ref_spikes.mean() > 0.05  # the network does spike
    for g, r in zip(grads, reference, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-10)
    assert method.step_evaluations == hsm_cost(T, slots)


@pytest.mark.parametrize(("T", "slots", "alpha"), [(50, 6, 1.5), (300, 12, 2.0), (1000, 40, 2.0)])
def test_policies_with_leaves_are_exact_and_cost_as_predicted(T, slots, alpha):
    torch.manual_seed(0)
    model = RecurrentLIF(3, 5).double()
    x = sequence(T, 2, 3, seed=7)
    reference, _ = _grads(BPTT(), model, x)
    method = Checkpoint(slots, alpha=alpha)
    grads, _ = _grads(method, model, x)
    for g, r in zip(grads, reference, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-10)
    assert method.step_evaluations == hsm_cost(T, slots, alpha) < hsm_cost(T, slots)


def test_without_autograd_the_plain_loop_runs():
    model = RecurrentLIF(3, 5).double()
    x = sequence(40, 2, 3)
    method = Checkpoint(3)
    with torch.no_grad():
        spikes, state = method.unroll(model.step, x, model.initial_state(x[0]), list(model.parameters()))
    reference, ref_state = BPTT().unroll(model.step, x, model.initial_state(x[0]))
    assert torch.equal(spikes, reference) and torch.equal(state[0], ref_state[0])
    assert method.step_evaluations == 0 and not spikes.requires_grad


def test_sqrt_policy_is_exact_and_costs_as_predicted():
    torch.manual_seed(1)
    model = RecurrentLIF(3, 4).double()
    x = sequence(101, 2, 3, seed=3)
    reference, _ = _grads(BPTT(), model, x)
    method = get_credit("checkpoint:sqrt")
    grads, _ = _grads(method, model, x)
    for g, r in zip(grads, reference, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-10)
    assert method.step_evaluations == uniform_cost(101, 11) == method.cost(101)


def test_spike_and_layer_paths_give_input_neuron_and_transform_gradients():
    torch.manual_seed(2)
    neuron = LIFNode(tau=2.0, learnable_tau=True, learnable_threshold=True, v_reset=None).double()
    lin = torch.nn.Linear(4, 3).double()
    x = sequence(40, 5, 4, seed=4).requires_grad_()
    results = []
    for method in (BPTT(), Checkpoint(3)):
        spikes = method.layer(neuron, x, lin)
        loss = (spikes * torch.arange(40.0, dtype=x.dtype).view(-1, 1, 1)).sum()
        wrt = [x, neuron.tau, neuron.v_threshold, lin.weight, lin.bias]
        results.append(torch.autograd.grad(loss, wrt))
        currents = lin(x)
        spikes = method.spike(neuron, currents)
        results.append(torch.autograd.grad((spikes * spikes.cumsum(0)).sum(), [x, neuron.tau, lin.weight]))
    for got, want in zip(results[2:], results[:2], strict=True):
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10)


def test_memory_is_bounded_by_the_slots():
    from msg.credit import SavedTensorMeter

    model = RecurrentLIF(8, 16).double()
    peaks = {}
    for name, method in (("bptt", BPTT()), ("checkpoint", Checkpoint(4))):
        for T in (50, 200):
            x = sequence(T, 4, 8)
            with SavedTensorMeter() as meter:
                spikes, _ = method.unroll(model.step, x, model.initial_state(x[0]), list(model.parameters()))
                spikes.sum().backward()
            peaks[name, T] = meter.peak
    assert peaks["bptt", 200] > 3.5 * peaks["bptt", 50]
    assert peaks["checkpoint", 200] == peaks["checkpoint", 50]  # slots and one step's graph, whatever T
    x = sequence(200, 4, 8)
    state_bytes = 2 * 4 * 16 * 8
    for slots in (4, 16):
        with SavedTensorMeter() as meter:
            spikes, _ = Checkpoint(slots).unroll(model.step, x, model.initial_state(x[0]), list(model.parameters()))
            spikes.sum().backward()
        assert slots * state_bytes <= meter.peak < (slots + 6) * state_bytes  # slots + one step's graph


def test_invalid_budgets_raise():
    for bad in (0, -3, 2.5, True, "two"):
        with pytest.raises(ValueError, match="Checkpoint: slots must be an integer >= 1"):
            Checkpoint(bad)
    with pytest.raises(ValueError, match="get_credit: checkpoint needs an integer slots"):
        get_credit("checkpoint:many")
    with pytest.raises(ValueError, match="Checkpoint: slots must be"):
        get_credit("checkpoint:0")
    with pytest.raises(ValueError, match="hsm_cost: slots must be an integer >= 1"):
        hsm_cost(10, 0)
    for bad in (0.0, -1.0, math.inf, "2"):
        with pytest.raises(ValueError, match="Checkpoint: alpha must be a finite number > 0"):
            Checkpoint(4, alpha=bad)
    with pytest.raises(ValueError, match="Checkpoint: alpha must be .* with integer slots"):
        Checkpoint("sqrt", alpha=2.0)
    with pytest.raises(ValueError, match=r"Checkpoint: the transform is not a module.*params="):
        Checkpoint(2).layer(LIFNode(), torch.ones(3, 2, 2), lambda s: 2 * s)
