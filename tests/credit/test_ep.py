import pytest
import torch

from msg.credit.ep import (
    EnergyModel,
    bptt_gradients,
    ep_gradient,
    ep_updates,
    free_phase,
    gdu_agreement,
    nudged_phase,
)
from msg.models.equilibrium import GraphEnergyRNN, LayeredEnergyRNN, normalized_adjacency


def _problem(activation: str, gain: float, seed: int = 0):
    torch.manual_seed(seed)
    model = LayeredEnergyRNN([6, 8, 7, 3], activation=activation, gain=gain).double()
    x = torch.randn(5, 6, dtype=torch.float64)
    y = torch.randn(5, 3, dtype=torch.float64).tanh()
    return model, x, y


def test_gdu_linear_symmetric_dynamics_match_bptt_at_every_step():
    model, x, y = _problem("linear", 0.5)
    ep = ep_updates(model, x, y, beta=1e-5, free_steps=150, nudged_steps=12, tol=1e-10)
    bptt = bptt_gradients(model, x, y, free_steps=150, steps=12, tol=1e-10)
    agreement = gdu_agreement(ep, bptt)
    assert agreement["cosine"].shape == (12,)
    assert agreement["cosine"].min() > 0.999999
    for name, value in ep.params.items():
        torch.testing.assert_close(value, -bptt.params[name], rtol=1e-3, atol=1e-4)  # error O(beta)
    # first step: the nudge itself, exactly -dl/ds at the output and zero in the hidden layers
    fixed = free_phase(model, x, 150, tol=1e-10)
    torch.testing.assert_close(ep.states[-1][0], -(fixed[-1] - y), rtol=1e-4, atol=1e-8)
    torch.testing.assert_close(bptt.states[-1][0], fixed[-1] - y)
    assert bptt.states[0][0].abs().max() == 0


def test_gdu_tanh_prototypical_network():
    model, x, y = _problem("tanh", 0.7)
    ep = ep_updates(model, x, y, beta=1e-3, free_steps=150, nudged_steps=12, tol=1e-10)
    bptt = bptt_gradients(model, x, y, free_steps=150, steps=12, tol=1e-10)
    agreement = gdu_agreement(ep, bptt)
    assert agreement["cosine"].min() > 0.99
    assert agreement["sign"].min() > 0.9


def test_per_step_bptt_sums_to_the_backprop_gradient():
    model, x, y = _problem("tanh", 1.0)
    steps = 9
    state = model.init_state(x)
    for _ in range(steps):
        state = model.step(x, state, create_graph=True)
    reference = torch.autograd.grad(model.cost(state, y), list(model.parameters()))
    per_step = bptt_gradients(model, x, y, free_steps=steps, steps=steps)
    for (name, _), ref in zip(model.named_parameters(), reference, strict=True):
        torch.testing.assert_close(per_step.params[name].sum(0), ref)


def test_ep_gradient_is_minus_the_summed_ep_updates():
    model, x, y = _problem("tanh", 0.7)
    ep_gradient(model, x, y, beta=1e-3, free_steps=150, nudged_steps=12)
    trace = ep_updates(model, x, y, beta=1e-3, free_steps=150, nudged_steps=12)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, -trace.params[name].sum(0))


def test_symmetric_ep_gradient_cancels_the_first_order_bias():
    model, x, y = _problem("tanh", 0.7)

    def estimate(beta: float, symmetric: bool) -> torch.Tensor:
        model.zero_grad(set_to_none=True)
        ep_gradient(model, x, y, beta=beta, free_steps=150, nudged_steps=12, symmetric=symmetric)
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    limit = estimate(1e-7, symmetric=True)
    one_sided = (estimate(1e-2, False) - limit).norm()
    two_sided = (estimate(1e-2, True) - limit).norm()
    assert two_sided < 0.05 * one_sided  # O(beta^2) against O(beta)
    assert (estimate(1e-3, False) - limit).norm() < 0.15 * one_sided


def test_nudged_phase_with_mask_leaves_unmasked_rows_at_the_fixed_point():
    model, x, y = _problem("tanh", 0.7)
    fixed = free_phase(model, x, 150, tol=1e-10)
    mask = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    trajectory = nudged_phase(model, x, fixed, y, beta=0.1, steps=5, mask=mask)
    assert len(trajectory) == 6
    moved = (trajectory[-1][-1] - fixed[-1]).abs().amax(1)
    assert (moved[mask == 0] < 1e-9).all() and (moved[mask == 1] > 1e-4).all()


@pytest.mark.parametrize("damping", [0.0, 0.5])
def test_graph_energy_layer_gdu_on_a_tiny_graph(damping):
    torch.manual_seed(1)
    edge_index = torch.tensor([[0, 1, 2, 3, 0], [1, 2, 3, 4, 4]])
    adj = normalized_adjacency(edge_index, 5, torch.float64).to_dense()
    torch.testing.assert_close(adj, adj.t())
    assert torch.linalg.eigvalsh(adj).abs().max() <= 1 + 1e-12
    model = GraphEnergyRNN(4, 6, 3, edge_index, 5, activation="linear", coupling_gain=0.5, damping=damping)
    model = model.double()
    with torch.no_grad():
        model.inp.weight.mul_(0.5)
        model.out.weight.mul_(0.5)
    x = torch.randn(5, 4, dtype=torch.float64)
    y = torch.eye(3, dtype=torch.float64)[torch.tensor([0, 1, 2, 0, 1])]
    mask = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    ep = ep_updates(model, x, y, beta=1e-5, free_steps=200, nudged_steps=8, mask=mask, tol=1e-10)
    bptt = bptt_gradients(model, x, y, free_steps=200, steps=8, mask=mask, tol=1e-10)
    assert gdu_agreement(ep, bptt)["cosine"].min() > 0.999999
    # the sparse-feature path gives the same primitive function
    state = free_phase(model, x, 200)
    torch.testing.assert_close(model(x.to_sparse(), state), model(x, state))
    assert repr(model) == "GraphEnergyRNN(4, 6, 3, activation='linear')"


def test_bad_settings_raise_clear_errors():
    model, x, y = _problem("linear", 0.5)
    with pytest.raises(ValueError, match="ep_updates: `beta` must be a finite non-zero.*got 0.0"):
        ep_updates(model, x, y, beta=0.0, free_steps=10, nudged_steps=2)
    with pytest.raises(ValueError, match="ep_gradient: `beta`.*got nan"):
        ep_gradient(model, x, y, beta=float("nan"), free_steps=10, nudged_steps=2)
    with pytest.raises(ValueError, match="bptt_gradients: `steps` must not exceed free_steps=3, got 4"):
        bptt_gradients(model, x, y, free_steps=3, steps=4)
    with pytest.raises(ValueError, match="free_phase: `steps`.*got 0"):
        free_phase(model, x, 0)
    with pytest.raises(ValueError, match="free_phase: `model` must be an EnergyModel, got Linear"):
        free_phase(torch.nn.Linear(2, 2), x, 3)
    unstable, x, y = _problem("linear", 4.0)
    with pytest.raises(ValueError, match="free_phase: LayeredEnergyRNN did not converge"):
        ep_updates(unstable, x, y, beta=1e-3, free_steps=50, nudged_steps=2)
    with pytest.raises(ValueError, match=r"GraphEnergyRNN: `damping` must lie in \[0, 1\), got 1.0"):
        GraphEnergyRNN(2, 2, 2, torch.tensor([[0], [1]]), 2, damping=1.0)
    with pytest.raises(ValueError, match="LayeredEnergyRNN: `activation` must be one of.*'relu'"):
        LayeredEnergyRNN([2, 2], activation="relu")
    with pytest.raises(ValueError, match=r"LayeredEnergyRNN: `sizes`.*got \[3\]"):
        LayeredEnergyRNN([3])
    assert isinstance(model, EnergyModel)
    assert repr(model) == "LayeredEnergyRNN([6, 8, 7, 3], activation='linear')"


def test_damping_is_a_convex_step_towards_the_undamped_update():
    torch.manual_seed(2)
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 3]])
    model = GraphEnergyRNN(3, 4, 2, edge_index, 4, activation="tanh", damping=0.0)
    x = torch.randn(4, 3)
    state = [torch.randn(4, 4), torch.randn(4, 2)]
    undamped = model.step(x, state)
    model.damping = 0.5
    with torch.no_grad():
        drive = [torch.atanh(u) for u in undamped]
    damped = model.step(x, state)
    for d, s, g in zip(damped, state, drive, strict=True):
        torch.testing.assert_close(d, torch.tanh(0.5 * s + 0.5 * g), rtol=1e-4, atol=1e-5)
