"""Our LIF against the peer libraries on the same inputs: spikingjelly's LIFNode and snnTorch's Leaky."""

from __future__ import annotations

import pytest
import torch

from msg.neurons import ATan, LIFNode, Sigmoid

F64 = dict(dtype=torch.float64)


@pytest.mark.parametrize("backend", ["fused", "torch"])
@pytest.mark.parametrize(
    ("tau", "decay_input", "v_reset", "detach_reset"),
    [(2.0, True, 0.0, False), (3.0, False, None, True), (2.0, True, None, False), (4.0, False, -0.1, False)],
)
def test_matches_spikingjelly_lif(backend, tau, decay_input, v_reset, detach_reset):
    sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    sj_surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")
    torch.manual_seed(0)
    x = torch.randn(20, 4, 16, **F64) + 0.6
    g = torch.randn_like(x)
    settings = dict(tau=tau, decay_input=decay_input, v_reset=v_reset, detach_reset=detach_reset, step_mode="m")
    peer = sj_neuron.LIFNode(surrogate_function=sj_surrogate.Sigmoid(alpha=4.0), store_v_seq=True, **settings)
    ours = LIFNode(surrogate_function=Sigmoid(4.0), backend=backend, store_v_seq=True, **settings).double()
    outputs = []
    for node in (peer, ours):
        xx = x.clone().requires_grad_()
        spikes = node(xx)
        outputs.append((spikes, node.v_seq, torch.autograd.grad((spikes * g).sum(), xx)[0]))
    (s_peer, v_peer, g_peer), (s_ours, v_ours, g_ours) = outputs
    assert s_peer.sum() > 0 and torch.equal(s_peer, s_ours)
    torch.testing.assert_close(v_ours, v_peer, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g_ours, g_peer, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", ["fused", "torch"])
@pytest.mark.parametrize("tau", [2.0, 5.0])
def test_matches_snntorch_leaky(backend, tau):
    """snnTorch's ``Leaky(beta, reset_mechanism='subtract', reset_delay=False)`` is our LIF with
    ``decay_input=False``, soft reset and ``beta = 1 - 1/tau``, as long as no membrane reaches twice the threshold
    (snnTorch then resets once more on the next step). Its spike function returns float32 (``.float()``), so the
    gradients agree to float32 precision."""
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(0)
    x = torch.rand(20, 64, **F64) * 0.9
    g = torch.randn_like(x)
    peer = snn.Leaky(
        beta=torch.tensor(1 - 1 / tau, **F64), threshold=1.0, reset_mechanism="subtract", reset_delay=False
    )
    xa = x.clone().requires_grad_()
    mem = torch.zeros(64, **F64)
    peer_spikes = []
    for x_t in xa:
        spike, mem = peer(x_t, mem)
        peer_spikes.append(spike)
    peer_spikes = torch.stack(peer_spikes)
    (peer_grad,) = torch.autograd.grad((peer_spikes * g).sum(), xa)

    ours = LIFNode(
        tau=tau, decay_input=False, v_reset=None, surrogate_function=ATan(2.0), step_mode="m", backend=backend
    )
    xb = x.clone().requires_grad_()
    spikes = ours.double()(xb)
    (grad,) = torch.autograd.grad((spikes * g).sum(), xb)
    assert peer_spikes.sum() > 0 and torch.equal(peer_spikes.double(), spikes)
    torch.testing.assert_close(ours.v, mem, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, peer_grad, rtol=1e-5, atol=1e-6)
