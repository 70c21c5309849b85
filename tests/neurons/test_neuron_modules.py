"""Neuron modules: step modes, state and reset, hyper-parameters, factory, validation."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import nn

from msg.neurons import ALIFNode, ATan, IFNode, LIFNode, NeuronState, get_neuron, reset_net

F64 = dict(dtype=torch.float64)
ALL = [IFNode, LIFNode, ALIFNode]


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("backend", ["fused", "torch"])
def test_single_step_calls_equal_one_multi_step_call(cls, backend):
    x = torch.randn(8, 4, 3, **F64) + 0.7
    multi = cls(step_mode="m", backend=backend).double()
    single = cls(step_mode="s").double()
    spikes = multi(x)
    assert torch.equal(spikes, torch.stack([single(x_t) for x_t in x]))
    torch.testing.assert_close(single.v, multi.v, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_output_shape_and_dtype(cls, dtype):
    node = cls(step_mode="m")
    x = torch.randn(5, 2, 3, 4, dtype=dtype)
    spikes = node(x)
    assert spikes.shape == x.shape and spikes.dtype == dtype
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("backend", ["fused", "torch"])
def test_store_v_seq_keeps_return_count(cls, backend):
    x = torch.randn(6, 5, **F64) + 0.5
    plain = cls(step_mode="m", backend=backend).double()
    stored = cls(step_mode="m", backend=backend, store_v_seq=True).double()
    assert torch.equal(plain(x), stored(x))
    assert plain.v_seq is None and stored.v_seq.shape == x.shape
    torch.testing.assert_close(stored.v_seq[-1], stored.v)


def test_reset_and_reset_net():
    net = nn.Sequential(nn.Linear(3, 4), LIFNode(), nn.Linear(4, 2), ALIFNode(refractory=2))
    net(torch.randn(5, 3))
    assert net[1].v is not None and net[3].state.b is not None and net[3].state.r is not None
    state = net[1].state
    assert isinstance(state, NeuronState)
    reset_net(net)
    assert net[1].state is None and net[3].state is None and net[3].b is None


def test_state_persists_across_calls_until_reset():
    node = IFNode(v_reset=None)
    x = torch.full((2,), 0.75)
    assert node(x).tolist() == [0, 0]
    assert node(x).tolist() == [1, 1]
    node.reset()
    assert node(x).tolist() == [0, 0]


def test_state_shape_change_without_reset_raises():
    node = LIFNode()
    node(torch.zeros(4))
    with pytest.raises(ValueError, match=r"LIFNode: input step shape \(5,\) differs .* call reset\(\)"):
        node(torch.zeros(5))


def test_learnable_hyper_parameters_are_parameters_else_buffers():
    fixed = LIFNode(tau=2.0)
    learnable = LIFNode(tau=2.0, learnable_tau=True, learnable_threshold=True)
    assert {n for n, _ in fixed.named_buffers()} == {"v_threshold", "tau"}
    assert list(fixed.parameters()) == []
    assert {n for n, _ in learnable.named_parameters()} == {"v_threshold", "tau"}
    # state buffers are not persistent: a state_dict holds only hyper-parameters
    fixed(torch.zeros(3))
    assert set(fixed.state_dict()) == {"v_threshold", "tau"}


def test_learnable_tau_receives_gradient():
    node = LIFNode(tau=2.0, learnable_tau=True, step_mode="m", surrogate_function=ATan())
    node(torch.rand(10, 20) * 2).sum().backward()
    assert node.tau.grad is not None and node.tau.grad != 0


def test_surrogate_instances_are_not_shared():
    assert LIFNode().surrogate_function is not LIFNode().surrogate_function


def test_repr():
    assert repr(IFNode()) == (
        "IFNode(\n  v_threshold=1, v_reset=0.0, detach_reset=False, step_mode='s', backend='fused'\n"
        "  (surrogate_function): Sigmoid(alpha=4.0)\n)"
    )
    assert "tau=2, decay_input=True" in repr(LIFNode())
    assert "tau_a=200, beta=<(3,)>, dt=1, refractory=1" in repr(ALIFNode(beta=torch.ones(3), refractory=1))


def test_copy_and_pickle():
    node = ALIFNode(tau=4.0, refractory=1, step_mode="m")
    x = torch.randn(5, 3) + 1
    clone = pickle.loads(pickle.dumps(copy.deepcopy(node)))
    assert torch.equal(node(x), clone(x))


def test_get_neuron():
    node = get_neuron("LIF", tau=5.0, step_mode="m")
    assert isinstance(node, LIFNode) and node.tau.item() == 5.0 and node.step_mode == "m"
    assert isinstance(get_neuron("alif"), ALIFNode) and isinstance(get_neuron("If"), IFNode)
    with pytest.raises(ValueError, match=r"get_neuron: unknown neuron 'plif'; known: \['alif', 'if', 'lif'\]"):
        get_neuron("plif")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: LIFNode(tau=0.0), "LIFNode: tau must be > 0, got 0.0"),
        (lambda: LIFNode(tau=-2.0), "LIFNode: tau must be > 0, got -2.0"),
        (lambda: ALIFNode(tau=torch.tensor([2.0, -1.0])), "ALIFNode: tau must be > 0"),
        (lambda: IFNode(v_threshold=0.0), "IFNode: v_threshold must be > 0, got 0.0"),
        (lambda: LIFNode(v_threshold=-1.0), "LIFNode: v_threshold must be > 0, got -1.0"),
        (lambda: ALIFNode(tau_a=0.0), "ALIFNode: tau_a must be > 0, got 0.0"),
        (lambda: ALIFNode(beta=-0.1), "ALIFNode: beta must be >= 0, got -0.1"),
        (lambda: ALIFNode(refractory=1.5), "ALIFNode: refractory must be an integer >= 0, got 1.5"),
        (lambda: ALIFNode(dt=0.0), "ALIFNode: dt must be > 0, got 0.0"),
        (lambda: LIFNode(backend="cupy"), "LIFNode: backend must be one of \\('fused', 'torch'\\), got 'cupy'"),
        (lambda: IFNode(step_mode="x"), "IFNode: step_mode must be one of \\('s', 'm'\\), got 'x'"),
        (lambda: LIFNode(surrogate_function=torch.sigmoid), "LIFNode: backend='fused' needs a SurrogateFunction"),
    ],
)
def test_bad_settings_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("backend", ["fused", "torch"])
def test_empty_sequence_raises(cls, backend):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: multi-step input must be \[T, N, ...\] with T > 0"):
        cls(step_mode="m", backend=backend)(torch.zeros(0, 4))


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("step_mode", ["s", "m"])
@pytest.mark.parametrize("backend", ["fused", "torch"])
def test_nan_input_raises(cls, step_mode, backend):
    x = torch.rand(4, 3)
    x[1, 2] = float("nan")
    node = cls(step_mode=step_mode, backend=backend)
    with pytest.raises(ValueError, match=f"{cls.__name__}: input contains NaN"):
        node(x if step_mode == "m" else x[1])
    assert node.state is None


@pytest.mark.parametrize("cls", ALL)
def test_run_is_pure_and_continues_from_a_given_state(cls):
    node = cls(step_mode="m", store_v_seq=True).double()
    x = torch.randn(8, 5, **F64) + 0.8
    spikes, state, v_seq = node.run(x)
    assert node.state is None and node.v_seq is None
    first, mid, _ = node.run(x[:3])
    second, end, _ = node.run(x[3:], mid)
    assert torch.equal(torch.cat([first, second]), spikes)
    torch.testing.assert_close(end.v, state.v, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(v_seq[-1], state.v)


def test_run_with_hook_uses_the_reference_loop_and_records_the_hooked_state():
    node = LIFNode(step_mode="m", store_v_seq=True).double()
    x = torch.randn(6, 4, **F64, requires_grad=True)
    seen = []

    def truncate(t, spike, state):
        seen.append(t)
        return spike, NeuronState(state.v.detach() * 0)

    spikes, state, v_seq = node.run(x, hook=truncate)
    assert seen == list(range(6)) and torch.all(v_seq == 0)
    (grad,) = torch.autograd.grad(spikes[3].sum(), x)
    assert torch.all(grad[:3] == 0)


def test_decay_is_the_charge_factor():
    assert IFNode().decay.item() == 1.0
    assert LIFNode(tau=4.0).decay.item() == 0.75
    assert ALIFNode(tau=2.0).decay.item() == 0.5
