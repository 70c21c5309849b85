import math

import pytest
import torch

from msg.models.lsnn import LSNN, LSNNCell, firing_rate_regularizer
from msg.neurons import ALIFNode, Sigmoid


def test_cell_uses_msg_alif_core_with_lif_units_first():
    cell = LSNNCell(3, 4, 6, tau_m=10.0, tau_a=50.0, beta=2.0)
    assert isinstance(cell.neurons, ALIFNode)
    assert torch.equal(cell.neurons.beta, torch.tensor([0.0] * 4 + [2.0] * 6))
    torch.testing.assert_close(cell.neurons.rho, torch.tensor(math.exp(-1 / 50)))
    assert cell.neurons.v_reset is None and not cell.neurons.decay_input
    assert torch.equal(cell.w_rec.diagonal(), torch.zeros(10))
    assert "3, n_regular=4, n_adaptive=6, delay=1" in repr(cell)


def test_one_step_matches_the_lsnn_equations():
    torch.manual_seed(0)
    cell = LSNNCell(2, 2, 3, tau_m=4.0, tau_a=10.0, beta=1.5, threshold=0.5)
    x = torch.randn(5, 2)
    state = cell.init_state(x)
    v0 = torch.rand(5, 5)
    b0 = torch.rand(5, 5) * 0.2
    z0 = (torch.rand(1, 5, 5) > 0.5).float()
    v, b, spikes = cell(x, (v0, b0, z0))
    current = x @ cell.w_in.t() + z0[0] @ cell.w_rec.t()
    h = (1 - 1 / 4.0) * v0 + current
    threshold = 0.5 + torch.tensor([0.0, 0.0, 1.5, 1.5, 1.5]) * b0
    z = (h - threshold > 0).float()
    torch.testing.assert_close(spikes[-1], z)
    torch.testing.assert_close(v, h - z * threshold)
    torch.testing.assert_close(b, math.exp(-1 / 10) * b0 + (1 - math.exp(-1 / 10)) * z)
    assert len(state) == 3 and state[2].shape == (1, 5, 5)


def test_synaptic_delay():
    cell = LSNNCell(1, 2, 0, tau_m=1e6, threshold=1.0, delay=3)
    with torch.no_grad():
        cell.w_in.copy_(torch.tensor([[2.0], [0.0]]))
        cell.w_rec.copy_(torch.tensor([[0.0, 0.0], [5.0, 0.0]]))
    x = torch.zeros(8, 1, 1)
    x[0] = 1.0
    model = LSNN(1, 2, 0, 1, tau_m=1e6, delay=3)
    model.cell.load_state_dict(cell.state_dict())
    _, z = model(x)
    assert z[:, 0, 0].nonzero().flatten().tolist() == [0]  # neuron 0 fires at step 0 (soft reset leaves v = 1)
    assert z[:, 0, 1].nonzero().flatten().tolist()[0] == 3  # its spike reaches neuron 1 three steps later


def test_leaky_readout_and_shapes():
    torch.manual_seed(0)
    model = LSNN(3, 5, 5, 4, tau_out=10.0)
    x = torch.randn(12, 2, 3)
    y, z = model(x)
    assert y.shape == (12, 2, 4) and z.shape == (12, 2, 10)
    drive = model.readout(z)
    kappa = math.exp(-0.1)
    expected = drive[0]
    for t in range(1, 12):
        expected = kappa * expected + drive[t]
    torch.testing.assert_close(y[-1], expected)
    assert set(z.unique().tolist()) <= {0.0, 1.0}


def test_no_self_connections_receive_gradient_and_tbptt_cuts_the_graph():
    torch.manual_seed(0)
    x = torch.randn(20, 3, 2, requires_grad=True)
    model = LSNN(2, 4, 4, 2, tau_out=0.0, surrogate=Sigmoid(), input_gain=3.0)  # memoryless readout
    y, z = model(x)
    y[-1].sum().backward()
    assert model.cell.w_rec.grad.diagonal().abs().max() == 0
    assert x.grad[:10].abs().sum() > 0
    truncated = LSNN(2, 4, 4, 2, tau_out=0.0, credit="tbptt", k_trunc=5, surrogate=Sigmoid(), input_gain=3.0)
    truncated.load_state_dict(model.state_dict())
    x.grad = None
    y_t, _ = truncated(x)
    torch.testing.assert_close(y_t, y)  # the same forward pass
    y_t[-1].sum().backward()
    assert x.grad[:15].abs().max() == 0 and x.grad[15:].abs().sum() > 0


def test_firing_rate_regularizer():
    spikes = torch.zeros(10, 2, 3)
    spikes[:5, :, 0] = 1.0  # rate 0.5
    torch.testing.assert_close(firing_rate_regularizer(spikes, 0.1), torch.tensor(0.4**2 + 2 * 0.1**2))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: LSNNCell(2, 0, 0), "LSNNCell: `n_regular` and `n_adaptive`.*got 0 and 0"),
        (lambda: LSNNCell(2, 2, 2, delay=0), "LSNNCell: `delay` must be an integer >= 1, got 0"),
        (lambda: LSNNCell(0, 2, 2), "LSNNCell: `input_size`.*got 0"),
        (lambda: LSNN(2, 2, 2, 1, credit="ottt"), "LSNN: `credit` must be one of.*'ottt'"),
        (lambda: LSNN(2, 2, 2, 1, credit="tbptt"), "LSNN: `k_trunc` must be given exactly when.*None"),
        (lambda: firing_rate_regularizer(torch.zeros(1, 1, 1), 2.0), "firing_rate_regularizer: `target_rate`"),
    ],
)
def test_bad_settings_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


class _DetachEvery:
    """A stand-in credit method with msg's ``unroll(step, x_seq, state, params)`` interface."""

    def __init__(self, k: int) -> None:
        self.k, self.calls = k, 0

    def unroll(self, step, x_seq, state, params=()):
        self.calls += 1
        outputs = []
        for t in range(x_seq.shape[0]):
            y, state = step(x_seq[t], state)
            outputs.append(y)
            if (t + 1) % self.k == 0:
                state = tuple(s.detach() for s in state)
        return torch.stack(outputs), state


def test_a_credit_method_object_owns_the_time_loop():
    torch.manual_seed(1)
    x = torch.randn(12, 2, 2, requires_grad=True)
    reference = LSNN(2, 3, 3, 2, tau_out=0.0, credit="tbptt", k_trunc=4, surrogate=Sigmoid(), input_gain=3.0)
    method = _DetachEvery(4)
    model = LSNN(2, 3, 3, 2, tau_out=0.0, credit=method, surrogate=Sigmoid(), input_gain=3.0)
    model.load_state_dict(reference.state_dict())
    y, z = model(x)
    y_ref, z_ref = reference(x)
    assert method.calls == 1
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(z, z_ref)
    (g,) = torch.autograd.grad(y[-1].sum(), x)
    (g_ref,) = torch.autograd.grad(y_ref[-1].sum(), x)
    torch.testing.assert_close(g, g_ref)
    assert g[:8].abs().max() == 0
    with pytest.raises(ValueError, match="LSNN: `credit` must have an unroll\\(\\) method, got int"):
        LSNN(2, 3, 3, 2, credit=3)


def test_adaptive_thresholds_keep_a_trace_of_the_stored_value_through_a_silent_delay():
    """LSNN's memory mechanism: a burst at the store cue raises the ALIF thresholds, which decay with tau_a, while
    a LIF unit's membrane forgets with tau_m; after 100 silent steps only the adaptive units still tell the two
    stored values apart (recurrence switched off, so nothing is held by self-sustained activity)."""
    beta = 30.0
    cell = LSNNCell(2, 2, 2, tau_m=20.0, tau_a=500.0, beta=beta, recurrent_gain=0.0)
    with torch.no_grad():  # unit j listens to value channel j % 2 (LIF units 0, 1; ALIF units 2, 3)
        cell.w_in.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]))
    x = torch.zeros(110, 2, 2)
    x[:10, 0, 0] = 1.0  # sequence 0 stores a 0, sequence 1 a 1, for 10 steps; then 100 silent steps
    x[:10, 1, 1] = 1.0
    state = cell.init_state(x[0])
    spikes = []
    for t in range(110):
        state = cell(x[t], state)
        spikes.append(LSNNCell.spikes(state))
    v, b, _ = state
    z = torch.stack(spikes)
    assert z[:10].sum() > 0 and z[10:].sum() == 0  # a burst at the cue, silence afterwards
    lif_trace = (v[0, :2] - v[1, :2]).abs().max()
    alif_trace = beta * (b[0, 2:] - b[1, 2:]).abs().max()  # threshold difference
    torch.testing.assert_close(alif_trace, beta * b[:, 2:].max())  # the undriven unit keeps b = 0
    assert alif_trace > 0.2
    assert alif_trace > 100 * lif_trace


@pytest.mark.parametrize("spec", ["checkpoint:4", "checkpoint:sqrt"])
def test_lsnn_with_msg_credit_checkpoint_equals_bptt(spec: str) -> None:
    from msg.credit import get_credit

    torch.manual_seed(0)
    x = torch.rand(50, 4, 3, dtype=torch.float64)
    reference = LSNN(3, 10, 10, 2, credit=get_credit("bptt")).double()
    model = LSNN(3, 10, 10, 2, credit=get_credit(spec)).double()
    model.load_state_dict(reference.state_dict())

    def grads(net: LSNN) -> list[torch.Tensor]:
        out = net(x)
        out = out[0] if isinstance(out, tuple) else out
        return [g for g in torch.autograd.grad(out.pow(2).sum(), list(net.parameters()), allow_unused=True)]

    for got, want in zip(grads(model), grads(reference), strict=True):
        assert (got is None) == (want is None)
        if want is not None:
            assert torch.allclose(got, want, rtol=1e-10, atol=1e-10)


def test_adaptation_helps_on_store_recall_in_a_short_run():
    """A small, fast version of benchmarks/lsnn.py's store-recall: the bit shown with the store cue must be recalled
    60 steps (12 membrane time constants) later, across a distractor bit. With the same seed, settings and 60 Adam
    steps, the LSNN (half ALIF units, tau_a = 200) learns it while the LIF-only network of the same size stays near
    chance (50 %). Fails if the adaptation carries no trace of the stored bit, or if the task leaks the answer."""
    from msg.tasks.sequence import store_recall

    task = dict(n_periods=3, period_steps=30, cue_steps=6, min_gap=2)
    test = store_recall(128, generator=2, **task)
    cell = dict(tau_out=5.0, tau_m=5.0, tau_a=200.0, beta=20.0, input_gain=3.0, recurrent_gain=0.3)
    errors = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only wait for each other on a busy machine
    try:
        _train_store_recall(task, test, cell, errors)
    finally:
        torch.set_num_threads(threads)
    assert errors["lsnn"] < 0.25, errors
    assert errors["lif"] > 0.4, errors


def _train_store_recall(task: dict, test, cell: dict, errors: dict) -> None:
    from torch.nn import functional as F

    from msg.tasks.sequence import masked_accuracy, store_recall

    for kind, adaptive in (("lsnn", 10), ("lif", 0)):
        torch.manual_seed(1)
        model = LSNN(4, 20 - adaptive, adaptive, 2, **cell)
        opt = torch.optim.Adam(model.parameters(), lr=2e-2)
        gen = torch.Generator().manual_seed(2)
        for _ in range(60):
            batch = store_recall(32, generator=gen, **task)
            out, spikes = model(batch.inputs)
            loss = F.cross_entropy(out[batch.mask], batch.targets[batch.mask])
            loss = loss + firing_rate_regularizer(spikes, 0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            out, _ = model(test.inputs)
        errors[kind] = 1.0 - float(masked_accuracy(out, test))
