"""The fused multi-step kernel equals the reference autograd loop (float64 values and gradients)."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from msg.neurons import (
    SURROGATES,
    ALIFNode,
    IFNode,
    LIFNode,
    NeuronState,
    alif_step,
    charge_coefficients,
    fused_multistep,
    get_surrogate,
    initial_state,
    multistep,
)

F64 = dict(dtype=torch.float64)
NODES = {
    "if": (IFNode, {}),
    "lif": (LIFNode, {"tau": 3.0}),
    "lif_no_decay_input": (LIFNode, {"tau": 2.5, "decay_input": False}),
    "lif_per_neuron": (LIFNode, {"tau": torch.tensor([2.0, 3.0, 5.0, 8.0]), "v_threshold": torch.rand(4) + 0.5}),
    "alif_mixed": (ALIFNode, {"tau": 3.0, "tau_a": 6.0, "beta": torch.tensor([0.0, 1.8, 0.5, 1.0])}),
    "alif_refractory": (ALIFNode, {"tau": 2.0, "tau_a": 4.0, "beta": 0.7, "refractory": 2}),
}


def _grads(cls, kwargs, backend, x, g, store_v_seq):
    node = cls(step_mode="m", backend=backend, store_v_seq=store_v_seq, **kwargs).double()
    x = x.clone().requires_grad_()
    spikes = node(x)
    loss = (spikes * g).sum() + (node.v * torch.linspace(-1, 1, node.v.shape[-1], **F64)).sum()
    if store_v_seq:
        loss = loss + (node.v_seq * g.flip(0)).sum()
    if node.state.b is not None:
        loss = loss + 0.7 * node.b.sum()
    params = list(node.parameters())
    return spikes, node.state, torch.autograd.grad(loss, [x, *params])


@pytest.mark.parametrize("name", list(NODES))
@pytest.mark.parametrize("v_reset", [None, 0.0, -0.3])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("surrogate", list(SURROGATES))
def test_fused_equals_reference(name, v_reset, detach_reset, surrogate):
    cls, extra = NODES[name]
    learnable = {"learnable_threshold": True} | ({} if cls is IFNode else {"learnable_tau": True})
    kwargs = dict(extra, v_reset=v_reset, detach_reset=detach_reset, **learnable)
    torch.manual_seed(0)
    x = torch.randn(9, 3, 4, **F64) * 1.5 + 0.6
    g = torch.randn_like(x)
    results = []
    for backend in ("torch", "fused"):
        kwargs["surrogate_function"] = get_surrogate(surrogate)
        results.append(_grads(cls, kwargs, backend, x, g, store_v_seq=surrogate == "sigmoid"))
    (s_ref, state_ref, g_ref), (s_fused, state_fused, g_fused) = results
    assert s_ref.sum() > 0 and torch.equal(s_ref, s_fused)
    for a, b in zip(state_ref, state_fused, strict=True):
        assert (a is None and b is None) or torch.allclose(a, b, rtol=1e-12, atol=1e-12)
    for a, b in zip(g_ref, g_fused, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("v_reset", [None, 0.2])
def test_fused_gradients_of_state_and_adaptation_parameters(v_reset):
    """Initial state, beta and rho as leaves (the modules keep them fixed): functional fused == reference."""
    torch.manual_seed(1)
    x = torch.randn(8, 5, **F64) + 0.8
    g = torch.randn_like(x)
    surrogate = get_surrogate("atan")
    leaves = {
        "v": torch.rand(5, **F64) * 0.5,
        "b": torch.rand(5, **F64) * 0.3,
        "tau": torch.tensor(2.5, **F64),
        "thr": torch.rand(5, **F64) + 0.5,
        "beta": torch.rand(5, **F64) + 0.5,
        "rho": torch.tensor(0.8, **F64),
    }

    def run(fused):
        p = {k: v.clone().requires_grad_() for k, v in leaves.items()}
        state = NeuronState(p["v"], p["b"])
        if fused:
            k, c, d = charge_coefficients(p["tau"], v_reset, True)
            spikes, state, _ = fused_multistep(
                x, state, surrogate, k, c, d, p["thr"], v_reset, beta=p["beta"], rho=p["rho"]
            )
        else:
            step = partial(
                alif_step,
                surrogate=surrogate,
                tau=p["tau"],
                v_threshold=p["thr"],
                v_reset=v_reset,
                beta=p["beta"],
                rho=p["rho"],
            )
            spikes, state = multistep(step, x, state)
        loss = (spikes * g).sum() + state.v.sum() + 2 * state.b.sum()
        return spikes, torch.autograd.grad(loss, list(p.values()))

    s_ref, g_ref = run(False)
    s_fused, g_fused = run(True)
    assert torch.equal(s_ref, s_fused)
    for a, b in zip(g_ref, g_fused, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(NODES))
def test_fused_without_autograd_equals_reference(name):
    cls, kwargs = NODES[name]
    x = torch.randn(12, 6, 4, **F64) + 0.5
    outputs = []
    for backend in ("torch", "fused"):
        node = cls(step_mode="m", backend=backend, store_v_seq=True, **kwargs).double()
        with torch.no_grad():
            outputs.append((node(x), node.v_seq, node.state))
    (s_ref, vs_ref, st_ref), (s_fused, vs_fused, st_fused) = outputs
    assert torch.equal(s_ref, s_fused)
    torch.testing.assert_close(vs_fused, vs_ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(st_ref, st_fused, strict=True):
        assert (a is None and b is None) or torch.allclose(a, b, rtol=1e-12, atol=1e-12)


def test_fused_segments_continue_the_state():
    node = ALIFNode(tau=2.0, tau_a=5.0, refractory=1, step_mode="m").double()
    x = torch.randn(10, 7, **F64) + 1.0
    full = node(x)
    node.reset()
    parts = torch.cat([node(x[:4]), node(x[4:])])
    assert torch.equal(full, parts)


def test_fused_does_not_modify_its_inputs():
    x = torch.randn(5, 3, **F64) + 1.0
    state = initial_state(x[0], None, adaptive=True, refractory=True)
    copies = [x.clone(), *(t.clone() for t in state)]
    fused_multistep(x, state, get_surrogate("sigmoid"), 0.5, 0.5, 0.0, 1.0, None, beta=1.0, rho=0.9, refractory=2)
    assert all(torch.equal(a, b) for a, b in zip(copies, [x, *state], strict=True))


def test_fused_rejects_non_surrogate_callable_and_empty_sequence():
    with pytest.raises(ValueError, match="fused_multistep: surrogate must be a SurrogateFunction"):
        fused_multistep(torch.zeros(2, 3), initial_state(torch.zeros(3)), torch.sigmoid, 1.0, 1.0, 0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="fused_multistep: x_seq needs a non-empty time dimension"):
        fused_multistep(
            torch.zeros(0, 3), initial_state(torch.zeros(3)), get_surrogate("atan"), 1.0, 1.0, 0.0, 1.0, 0.0
        )
