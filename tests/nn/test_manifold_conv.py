"""MSG layers: repr, shapes, graph-input equivalence, DvM gradients against a slow reference, BPTT spike path."""

from __future__ import annotations

import pytest
import torch
from msg.manifolds import get_manifold

from msg.models import MSG
from msg.nn import FermiDiracDecoder, ManifoldSpikingConv, SpikingEncoder
from msg.ops.aggregate import Adjacency, propagate

EDGES = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4, 4, 0, 1, 3], [1, 0, 2, 1, 3, 2, 4, 3, 0, 4, 3, 1]])
N, F, D, T = 5, 6, 4, 7


def features(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(N, F, generator=torch.Generator().manual_seed(0), dtype=dtype) * 3


def test_repr() -> None:
    conv = ManifoldSpikingConv(32, 32, manifold="lorentz", T=15)
    assert repr(conv) == "ManifoldSpikingConv(32, 32, manifold=Lorentz(curvature=-1.0), T=15)"
    assert repr(SpikingEncoder(8, 32, manifold="sphere", T=5)) == (
        "SpikingEncoder(8, 32, manifold=Sphere(curvature=1.0), T=5)"
    )
    assert repr(MSG(8, 16, 3, manifold="euclidean", T=4, num_layers=1)).startswith("MSG(8, 16, 3, manifold=Euclidean")


@pytest.mark.parametrize("manifold,ambient", [("lorentz", D + 1), ("sphere", D + 1), ("euclidean", D)])
def test_shapes_and_states_on_manifold(manifold: str, ambient: int) -> None:
    torch.manual_seed(0)
    enc = SpikingEncoder(F, D, manifold=manifold, T=T, step_size=0.5)
    conv = ManifoldSpikingConv(D, D, manifold=manifold, T=T, step_size=0.5)
    spikes, z = enc(features(), EDGES)
    assert spikes.shape == (T, N, D) and z.shape == (N, ambient) and z.dtype == torch.float64
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    spikes2, z2 = conv(spikes, z, EDGES)
    assert spikes2.shape == (T, N, D) and z2.shape == (N, ambient)
    ok, reason = enc.manifold.check_point_on_manifold(z2, explain=True)
    assert ok, reason


def test_edge_index_and_sparse_inputs_agree() -> None:
    torch.manual_seed(0)
    model = MSG(F, D, 3, manifold="lorentz", T=T, num_layers=2, step_size=0.5, dropout=0.0)
    model.eval()
    x = features()
    adj_t = torch.sparse_coo_tensor(EDGES.flip(0), torch.ones(EDGES.size(1)), (N, N))
    out = model(x, EDGES)
    for graph in (adj_t, adj_t.to_sparse_csr(), Adjacency(EDGES, N)):
        assert torch.allclose(model(x, graph), out, atol=1e-6)
    torch_sparse = pytest.importorskip("torch_sparse")
    st = torch_sparse.SparseTensor(row=EDGES[1], col=EDGES[0], sparse_sizes=(N, N))
    assert torch.allclose(model(x, st), out, atol=1e-6)


def reference_logits(model: MSG, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
    """The same forward written out by hand, spikes detached, every T-step current kept in autograd."""
    m, adj = model.manifold, Adjacency(edge_index, x.size(0), dtype=x.dtype)
    enc = model.encoder
    current = propagate(adj, x @ enc.lin.weight.t())
    enc.neuron.reset()
    spikes = enc.neuron(current.detach().unsqueeze(0).expand(model.T, -1, -1).contiguous())
    z = m.expmap0(m.tangent0(enc.step_size * current))
    for conv in model.convs:
        currents = propagate(adj, spikes @ conv.lin.weight.t())  # [T, N, D], in autograd
        conv.neuron.reset()
        new_spikes = conv.neuron(currents.detach())
        v = conv.step_size * currents.mean(0)
        z = m.expmap(z, m.transp0(z, m.tangent0(v)))
        spikes = new_spikes
    return model.readout(m.untangent0(m.logmap0(z)))


@pytest.mark.parametrize("manifold", ["lorentz", "sphere", "euclidean", "lorentz,sphere"])
def test_dvm_gradient_equals_detached_autograd(manifold: str) -> None:
    torch.manual_seed(1)
    model = MSG(F, D, 3, manifold=manifold, T=T, num_layers=2, step_size=0.4, dropout=0.0).double()
    x, y = features(torch.float64), torch.tensor([0, 1, 2, 1, 0])
    loss = torch.nn.functional.cross_entropy(model(x, EDGES), y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    ref_loss = torch.nn.functional.cross_entropy(reference_logits(model, x, EDGES), y)
    ref_grads = torch.autograd.grad(ref_loss, list(model.parameters()))
    assert torch.allclose(loss, ref_loss, atol=1e-12)
    assert all(g.abs().sum() > 0 for g in grads), "every weight must get a gradient through the manifold path"
    for g, r in zip(grads, ref_grads, strict=True):
        assert torch.allclose(g, r, atol=1e-10), (g - r).abs().max()


def test_bptt_gradients_reach_the_spike_path() -> None:
    torch.manual_seed(0)
    enc = SpikingEncoder(F, D, T=T, credit="bptt", step_size=0.5)
    conv = ManifoldSpikingConv(D, D, T=T, credit="bptt", step_size=0.5)
    spikes, z = enc(features(), EDGES)
    assert spikes.requires_grad
    _, z2 = conv(spikes, z, EDGES)
    (grad_spikes,) = torch.autograd.grad(z2.pow(2).sum(), spikes)
    assert grad_spikes.abs().sum() > 0
    dvm_spikes, _ = SpikingEncoder(F, D, T=T, credit="dvm")(features(), EDGES)
    assert not dvm_spikes.requires_grad


def test_bptt_and_dvm_agree_in_value_and_differ_in_gradient() -> None:
    torch.manual_seed(0)
    dvm = MSG(F, D, 3, T=T, num_layers=2, step_size=0.4, dropout=0.0, v_threshold=0.5)
    bptt = MSG(F, D, 3, T=T, num_layers=2, step_size=0.4, dropout=0.0, v_threshold=0.5, credit="bptt")
    bptt.load_state_dict(dvm.state_dict())
    x = features()
    out_dvm, out_bptt = dvm(x, EDGES), bptt(x, EDGES)
    assert torch.allclose(out_dvm, out_bptt, atol=1e-6)
    g_dvm = torch.autograd.grad(out_dvm.sum(), dvm.encoder.lin.weight)[0]
    g_bptt = torch.autograd.grad(out_bptt.sum(), bptt.encoder.lin.weight)[0]
    assert not torch.allclose(g_dvm, g_bptt), "BPTT must add the surrogate-gradient path through the spikes"


def test_fermi_dirac_decoder() -> None:
    m = get_manifold("lorentz")
    z = m.expmap0(m.tangent0(torch.randn(N, D, dtype=torch.float64)))
    edges = torch.tensor([[0, 1], [2, 3]])
    dec = FermiDiracDecoder(m, r=2.0, t=0.5)
    d = m.dist(z[edges[0]], z[edges[1]])
    assert torch.allclose(dec(z, edges), 1 / (torch.exp((d**2 - 2.0) / 0.5) + 1))
    assert repr(dec) == "FermiDiracDecoder(manifold=Lorentz(curvature=-1.0), r=2, t=0.5)"
    with pytest.raises(ValueError, match="t must be > 0"):
        FermiDiracDecoder(m, t=0.0)


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: MSG(F, D, 3, T=0), "T must be >= 1, got 0"),
        (lambda: MSG(F, D, 3, manifold="hyperbolic"), "unknown manifold"),
        (lambda: MSG(F, D, 3, step_size=0.0), "step_size must be > 0, got 0.0"),
        (lambda: MSG(F, D, 3, step_size=-1.0), "step_size must be > 0"),
        (lambda: MSG(F, D, 3, credit="nope"), "unknown credit method 'nope'"),
        (lambda: MSG(F, D, 3, credit="tbptt:0"), "k must be an integer >= 1"),
        (lambda: MSG(F, D, 3, neuron="ALIF"), "neuron must be 'IF' or 'LIF'"),
    ],
)
def test_bad_settings(build, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


def test_bad_inputs() -> None:
    model = MSG(F, D, 3, T=T)
    x = features()
    x[2, 1] = float("nan")
    with pytest.raises(ValueError, match="SpikingEncoder: the node features x contain NaN"):
        model(x, EDGES)
    with torch.no_grad():
        model.encoder.lin.weight[0, 0] = float("inf")
    with pytest.raises(FloatingPointError, match="weights diverged"):
        model(features(), EDGES)
    model.reset_parameters()
    with pytest.raises(ValueError, match=r"SpikingEncoder: expected x of shape \[N, 6\], got \(5, 7\)"):
        model(torch.randn(N, F + 1), EDGES)
    with pytest.raises(ValueError, match="node ids"):
        model(features(), EDGES + 10)
    conv = ManifoldSpikingConv(D, D, T=T)
    with pytest.raises(ValueError, match=r"ManifoldSpikingConv: expected spikes of shape \[T=7"):
        conv(torch.zeros(T + 1, N, D), torch.zeros(N, D + 1), EDGES)


def test_sparse_features_give_the_dense_result() -> None:
    torch.manual_seed(0)
    x = torch.randn(N, 40) * (torch.rand(N, 40) < 0.05)  # mostly zeros: converted to SparseFeatures
    sparse_enc = SpikingEncoder(40, D, T=T, step_size=0.5)
    dense_enc = SpikingEncoder(40, D, T=T, step_size=0.5, cached=False)
    dense_enc.load_state_dict(sparse_enc.state_dict())
    graph = Adjacency(EDGES, N)
    assert type(sparse_enc.features(x)).__name__ == "SparseFeatures" and dense_enc.features(x) is x
    a, b = sparse_enc.current(x, graph), dense_enc.current(x, graph)
    assert torch.allclose(a, b, atol=1e-6)
    ga = torch.autograd.grad(a.pow(2).sum(), sparse_enc.lin.weight)[0]
    gb = torch.autograd.grad(b.pow(2).sum(), dense_enc.lin.weight)[0]
    assert torch.allclose(ga, gb, atol=1e-5)


@pytest.mark.parametrize("layers", [0, 1, 3])
def test_streamed_training_forward_equals_full_forward(layers: int) -> None:
    torch.manual_seed(0)
    # hidden 48: blocks of 128 // 48 = 2 steps, so T=7 streams in 4 blocks (neuron state carried across them)
    model = MSG(F, 48, 3, T=T, num_layers=layers, step_size=0.5, dropout=0.0, v_threshold=0.5).double()
    x = features(torch.float64)
    model.train()
    streamed = model(x, EDGES)
    model.eval()
    full = model(x, EDGES)  # eval: every layer's spikes, full tensors
    assert torch.allclose(streamed, full, atol=1e-12)
    assert len(model.spikes) == layers + 1
    assert all(0 < float(s.mean()) < 1 for s in model.spikes), "the comparison needs neurons that fire"


@pytest.mark.parametrize("credit", ["tbptt:3", "checkpoint:2", "rate"])
def test_other_credit_methods_drive_the_spike_path(credit: str) -> None:
    """Every msg.credit method runs MSG's spike path: same forward values as BPTT, gradients reach the spikes."""
    torch.manual_seed(0)
    reference = MSG(F, D, 3, T=T, num_layers=2, step_size=0.4, dropout=0.0, v_threshold=0.5, credit="bptt")
    model = MSG(F, D, 3, T=T, num_layers=2, step_size=0.4, dropout=0.0, v_threshold=0.5, credit=credit)
    model.load_state_dict(reference.state_dict())
    x = features()
    out = model(x, EDGES)
    assert torch.allclose(out, reference(x, EDGES), atol=1e-6)
    spikes, z = model.encoder(x, EDGES)
    _, z2 = model.convs[0](spikes, z, EDGES)
    (grad,) = torch.autograd.grad(z2.pow(2).sum(), model.encoder.lin.weight)
    assert grad.abs().sum() > 0
