import pytest
import torch
from credit_nets import RecurrentLIF, sequence

from msg.credit import BPTT, CREDIT_METHODS, OTTT, TBPTT, Checkpoint, DvM, Rate, get_credit
from msg.neurons import ALIFNode, IFNode, LIFNode


@pytest.mark.parametrize(
    "neuron",
    [
        LIFNode(tau=2.0, learnable_tau=True, v_reset=None),
        LIFNode(tau=3.0, v_reset=0.0, decay_input=False, learnable_threshold=True),
        IFNode(v_reset=None, detach_reset=True),
        ALIFNode(tau=4.0, beta=0.5, refractory=1),
    ],
)
def test_fused_spike_path_equals_the_reference_loop(neuron):
    neuron = neuron.double()
    currents = (sequence(25, 6, 4, seed=1) - 0.4).requires_grad_()
    params = [p for p in neuron.parameters() if p.requires_grad]

    def grads(spikes):
        loss = (spikes * torch.linspace(0.0, 1.0, 25, dtype=torch.float64).view(-1, 1, 1)).sum()
        return torch.autograd.grad(loss, [currents, *params])

    fused = BPTT().spike(neuron, currents)
    reference = BPTT().unroll(neuron.step, currents, neuron.initial_state(currents[0]), params)[0]
    assert torch.equal(fused, reference) and fused.sum() > 0
    for a, b in zip(grads(fused), grads(reference), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_layer_is_transform_then_spike():
    lin = torch.nn.Linear(3, 4).double()
    neuron = LIFNode(v_reset=None).double()
    x = sequence(10, 5, 3)
    a = BPTT().layer(neuron, x, lin)
    b = BPTT().spike(neuron, lin(x))
    assert torch.equal(a, b)
    ga = torch.autograd.grad(a.sum(), lin.weight)[0]
    gb = torch.autograd.grad(b.sum(), lin.weight)[0]
    torch.testing.assert_close(ga, gb)


def test_bptt_reaches_the_first_step_through_the_recurrence():
    model = RecurrentLIF(3, 5).double()
    x = sequence(20, 2, 3).requires_grad_()
    spikes, _ = BPTT().unroll(model.step, x, model.initial_state(x[0]))
    (g,) = torch.autograd.grad(spikes[-1].sum(), x)
    assert g[0].abs().sum() > 0 and g[-1].abs().sum() > 0


def test_dvm_spikes_are_constants_and_need_a_manifold_path():
    neuron = LIFNode(v_reset=None)
    currents = torch.rand(5, 3, 2, requires_grad=True) * 3
    spikes = DvM().spike(neuron, currents)
    assert not spikes.requires_grad
    assert torch.equal(spikes, BPTT().spike(neuron, currents).detach())
    lin = torch.nn.Linear(2, 2)
    layer_spikes = DvM().layer(neuron, currents, lin)
    assert not layer_spikes.requires_grad and torch.equal(layer_spikes, BPTT().layer(neuron, currents, lin).detach())
    DvM().check_model("MSG", has_manifold=True)
    with pytest.raises(ValueError, match=r"SpikingGCN: credit 'dvm' .* needs a manifold path, and SpikingGCN has none"):
        DvM().check_model("SpikingGCN", has_manifold=False)
    for method in (BPTT(), TBPTT(3), Checkpoint(2), OTTT(), Rate()):
        method.check_model("SpikingGCN", has_manifold=False)


def test_get_credit_parses_every_spelling():
    assert type(get_credit("bptt")) is BPTT
    assert get_credit("tbptt:8").k == 8 and get_credit("TBPTT(8)").k == 8 and get_credit(" tbptt( 3 ) ").k == 3
    assert get_credit("checkpoint:16").slots == 16 and get_credit("checkpoint(16)").slots == 16
    assert get_credit("checkpoint:sqrt").slots == "sqrt"
    assert get_credit("ottt").variant == "A" and get_credit("ottt_a").variant == "A"
    assert get_credit("ottt_o").variant == "O"
    assert type(get_credit("rate")) is Rate and type(get_credit("dvm")) is DvM
    method = TBPTT(4)
    assert get_credit(method) is method
    assert repr(get_credit("checkpoint:4")) == "Checkpoint(slots=4)"
    assert repr(get_credit("ottt_o")) == "OTTT(variant='O')"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sgd", "get_credit: unknown credit method 'sgd'; known: bptt, tbptt:k, checkpoint:m"),
        ("tbptt", "get_credit: tbptt needs an integer k"),
        ("tbptt:0", "TBPTT: k must be an integer >= 1, got 0"),
        ("tbptt:-2", "TBPTT: k must be an integer >= 1, got -2"),
        ("checkpoint:0", "Checkpoint: slots must be an integer >= 1 or 'sqrt', got 0"),
        ("rate:3", "get_credit: rate takes no argument"),
        ("bptt(", "get_credit: cannot parse credit 'bptt\\('"),
        (3, "get_credit: cannot parse credit 3"),
    ],
)
def test_invalid_specs_raise_with_the_known_methods(spec, message):
    with pytest.raises(ValueError, match=message):
        get_credit(spec)
    assert "ottt_o" in CREDIT_METHODS and "dvm" in CREDIT_METHODS


def test_sequences_without_time_raise():
    with pytest.raises(ValueError, match=r"BPTT: expected a sequence of shape \[T, N, ...\] with T > 0"):
        BPTT().spike(LIFNode(), torch.zeros(0, 3, 2))


def test_saved_tensor_meter_counts_each_activation_once_and_no_parameters():
    from msg.credit import SavedTensorMeter

    w = torch.randn(4, 5, requires_grad=True)
    x = torch.randn(3, 4)
    with SavedTensorMeter() as meter:
        y = (x @ w).sigmoid()  # saves x (48 bytes), w (a parameter: not counted) and y (60 bytes)
        loss = (y * y).sum()  # saves y twice more: one allocation
        assert meter.live == meter.peak == 48 + 60
        loss.backward()
    assert meter.live == 0 and meter.peak == 108
