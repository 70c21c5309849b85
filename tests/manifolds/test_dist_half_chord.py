"""The half chord behind ``dist``: the same value and exact gradients in all three of its regimes.

``_math.dist_half_chord`` evaluates ``h = (1 - K<x, y>)/2`` for pairs that are far apart and the chord
``K<y - x, y - x>/4`` for close ones, gathered by index when they are few and in one full pass when they are many.
Each regime must agree with ``_math.half_chord`` (the chord everywhere) and pass gradcheck, the curvature included.
"""

from __future__ import annotations

import pytest
import torch
from msg.manifolds import Lorentz, Sphere, _math
from torch.autograd import gradcheck

F64 = torch.float64


def _pairs(m, n_near: int, n_far: int, dtype=F64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_near`` pairs at distance ~1e-3 R and ``n_far`` pairs far apart (distance ~ R or more), shuffled."""
    g = torch.Generator().manual_seed(seed)
    n = n_near + n_far
    r = m.radius.item()
    x = m.random(n, 6, std=0.8 * r, dtype=dtype, generator=g)
    far = m.random(n, 6, std=0.8 * r, dtype=dtype, generator=g)
    u = m.proju(x, torch.randn(x.shape, dtype=dtype, generator=g))
    u = u / m.norm(x, u, keepdim=True) * 1e-3 * r
    near = m.expmap(x, u)
    pick = torch.zeros(n, dtype=torch.bool)
    pick[torch.randperm(n, generator=g)[:n_near]] = True
    return x, torch.where(pick[:, None], near, far)


MANIFOLDS = {"lorentz": lambda: Lorentz(-1.3), "sphere": lambda: Sphere(0.7)}
REGIMES = {"all far": (0, 60), "few near (gathered)": (3, 57), "many near (full pass)": (30, 10), "all near": (8, 0)}


@pytest.mark.parametrize("name", MANIFOLDS)
@pytest.mark.parametrize("regime", REGIMES)
def test_value_matches_the_chord_everywhere_in_float64(name, regime, monkeypatch):
    m = MANIFOLDS[name]()
    n_near, n_far = REGIMES[regime]
    x, y = _pairs(m, n_near, n_far)
    minkowski = name == "lorentz"
    gathered, full = [], []
    chord, half_chord = _math._chord, _math.half_chord
    monkeypatch.setattr(_math, "_chord", lambda d, mk: gathered.append(len(d)) or chord(d, mk))
    monkeypatch.setattr(_math, "half_chord", lambda *a, **kw: full.append(1) or half_chord(*a, **kw))
    h = _math.dist_half_chord(x, y, m.curvature, minkowski=minkowski)
    reference = half_chord(x, y, m.curvature, minkowski=minkowski)[0]
    torch.testing.assert_close(h, reference, rtol=1e-12, atol=0)
    # the regime really taken: close pairs gathered while few, the chord in every row once they are many
    if n_near / (n_near + n_far) > 0.5:
        assert full and not gathered
    elif n_near:
        assert not full and len(gathered) == 1 and n_near <= gathered[0] <= 0.1 * (n_near + n_far)


@pytest.mark.parametrize("name", MANIFOLDS)
@pytest.mark.parametrize("regime", REGIMES)
def test_gradcheck_in_every_regime_with_the_curvature(name, regime):
    m = MANIFOLDS[name]()
    x, y = _pairs(m, *REGIMES[regime], seed=1)
    k = m.curvature.detach().clone()
    args = (x.requires_grad_(), y.requires_grad_(), k.requires_grad_())
    minkowski = name == "lorentz"
    assert gradcheck(lambda a, b, kk: _math.dist_half_chord(a, b, kk, minkowski=minkowski), args, atol=1e-7)


@pytest.mark.parametrize("name", MANIFOLDS)
@pytest.mark.parametrize("regime", REGIMES)
def test_broadcasting_one_point_against_a_batch(name, regime):
    # a single point's gradient is a sum over the batch (a matrix-vector product where no rows were gathered)
    m = MANIFOLDS[name]()
    x, y = _pairs(m, *REGIMES[regime], seed=2)
    minkowski = name == "lorentz"
    for a, b in ((x[:1], y), (x, y[3])):
        args = (a.detach().requires_grad_(), b.detach().requires_grad_())
        h = _math.dist_half_chord(*args, m.curvature, minkowski=minkowski)
        torch.testing.assert_close(h, _math.half_chord(*args, m.curvature, minkowski=minkowski)[0], rtol=1e-12, atol=0)
        assert gradcheck(lambda p, q: _math.dist_half_chord(p, q, m.curvature, minkowski=minkowski), args)


@pytest.mark.parametrize("name", MANIFOLDS)
def test_float32_distance_keeps_its_relative_accuracy(name):
    """Near pairs (the regime where ``1 - K<x, y>`` cancels) and far pairs both within a few ulps of float64."""
    m = MANIFOLDS[name]()
    x, y = _pairs(m, 20, 20, seed=3)
    exact = m.dist(x, y)
    ours = m.dist(x.float(), y.float()).double()
    # the inputs themselves are rounded to float32: allow the distance's condition number times a few ulps
    assert ((ours - exact).abs() / exact).max() < 5e-4
    near = exact < 1e-2 * m.radius.item()
    assert near.sum() == 20
    if name == "sphere":  # the plain arccos formula loses everything at this distance: the test can tell them apart
        naive = torch.acos((m.curvature.float() * (x.float() * y.float()).sum(-1)).clamp(-1, 1))
        assert ((naive.double() / m.curvature.sqrt() - exact).abs() / exact)[near].max() > 1e-2


@pytest.mark.parametrize("name", MANIFOLDS)
def test_large_batches_decide_from_a_sample_and_agree(name, monkeypatch):
    """Above ``SAMPLE_ROWS`` rows the regime is chosen from evenly spaced rows first; both outcomes give the chord."""
    m = MANIFOLDS[name]()
    minkowski = name == "lorentz"
    full = []
    half_chord = _math.half_chord
    monkeypatch.setattr(_math, "half_chord", lambda *a, **kw: full.append(1) or half_chord(*a, **kw))
    for n_near, expect_full in ((500, True), (10, False)):
        full.clear()
        x, y = _pairs(m, n_near, 1000 - n_near, seed=4)
        h = _math.dist_half_chord(x, y, m.curvature, minkowski=minkowski)
        torch.testing.assert_close(h, half_chord(x, y, m.curvature, minkowski=minkowski)[0], rtol=1e-12, atol=0)
        assert bool(full) == expect_full
        # one point against the batch samples by index through the broadcast view: the same decision
        full.clear()
        p = y[:1]
        q = torch.where(torch.arange(len(x))[:, None] < n_near, m.expmap(p, 1e-3 * m.proju(p, x - p)), x)
        h = _math.dist_half_chord(p, q, m.curvature, minkowski=minkowski)
        torch.testing.assert_close(h, half_chord(p, q, m.curvature, minkowski=minkowski)[0], rtol=1e-12, atol=0)
        assert bool(full) == expect_full


def test_the_indexed_sample_takes_the_strided_samples_rows():
    for rows in (257, 1000, 100_000):
        step = rows // _math.SAMPLE_ROWS
        expected = torch.arange(rows)[: step * _math.SAMPLE_ROWS : step]
        assert torch.equal(_math._sample_index(rows, torch.device("cpu")), expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize(
    "shape_u, shape_v",
    [
        ((5000, 33), (5000, 33)),  # the batched-product path
        ((2, 3000, 7), (2, 3000, 7)),  # more batch dimensions, same path
        ((100, 33), (100, 33)),  # few rows: vecdot
        ((5000, 300), (5000, 300)),  # long last dimension: vecdot
        ((5000, 1, 9), (1, 4, 9)),  # broadcasting: vecdot
        ((7,), (7,)),  # a single vector
    ],
)
def test_rowdot_equals_vecdot_on_every_path(dtype, shape_u, shape_v):
    g = torch.Generator().manual_seed(0)
    u = torch.randn(shape_u, generator=g).to(dtype)
    v = torch.randn(shape_v, generator=g).to(dtype)
    expected = torch.linalg.vecdot(u.double(), v.double())
    got = _math.rowdot(u, v)
    assert got.dtype == dtype and got.shape == expected.shape
    tol = {torch.float16: 5e-2, torch.bfloat16: 2e-1, torch.float32: 1e-4, torch.float64: 1e-12}[dtype]
    torch.testing.assert_close(got.double(), expected, rtol=tol, atol=tol * shape_u[-1])


def test_rowdot_on_a_non_contiguous_input_falls_back_and_agrees():
    g = torch.Generator().manual_seed(1)
    u = torch.randn(33, 6000, generator=g, dtype=F64).t()  # [6000, 33], not contiguous
    v = torch.randn(6000, 33, generator=g, dtype=F64)
    torch.testing.assert_close(_math.rowdot(u, v), torch.linalg.vecdot(u, v), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(5000, 33), (3, 7), (0, 4), (9,)])
def test_rowdot_of_a_tensor_with_itself_is_its_squared_norm(dtype, shape):
    u = torch.randn(shape, generator=torch.Generator().manual_seed(2)).to(dtype)
    expected = torch.linalg.vecdot(u.double(), u.double())
    got = _math.rowdot(u, u)
    assert got.dtype == dtype and got.shape == expected.shape
    rtol = {torch.float16: 4e-3, torch.bfloat16: 3e-2, torch.float32: 1e-6, torch.float64: 1e-15}[dtype]
    torch.testing.assert_close(got.double(), expected, rtol=rtol, atol=0)


def _chained_sphere_dist(m, x, y):
    """The chained path: the half chord in every row, then ``2R asin(sqrt(h))`` (what ``sphere_dist`` fuses)."""
    return 2 * m.radius * _math.asin_sqrt(_math.half_chord(x, y, m.curvature)[0])


@pytest.mark.parametrize("regime", REGIMES)
def test_fused_sphere_distance_equals_the_chained_one_in_value_and_gradient(regime):
    m = Sphere(0.7)
    x, y = _pairs(m, *REGIMES[regime], seed=5)
    a, b = x.clone().requires_grad_(), y.clone().requires_grad_()
    fused = _math.sphere_dist(a, b, m.radius)
    ga, gb = torch.autograd.grad(fused.sum(), (a, b))
    c, d = x.clone().requires_grad_(), y.clone().requires_grad_()
    chained = _chained_sphere_dist(m, c, d)
    gc, gd = torch.autograd.grad(chained.sum(), (c, d))
    torch.testing.assert_close(fused, chained, rtol=1e-12, atol=0)
    torch.testing.assert_close((ga, gb), (gc, gd), rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda p, q: _math.sphere_dist(p, q, m.radius.double()), (a, b))


@pytest.mark.parametrize("regime", REGIMES)
def test_fused_sphere_distance_broadcasts_and_is_finite_at_coincident_and_antipodal_points(regime):
    m = Sphere(0.7)
    x, y = _pairs(m, *REGIMES[regime], seed=6)
    for p, q in ((x[:1], y), (x, y[3])):
        args = (p.detach().requires_grad_(), q.detach().requires_grad_())
        expected = _chained_sphere_dist(m, *args)
        torch.testing.assert_close(_math.sphere_dist(*args, m.radius), expected, rtol=1e-12, atol=0)
        assert gradcheck(lambda u, v: _math.sphere_dist(u, v, m.radius.double()), args)
    for p, q in ((x, x.clone()), (x, -x)):  # coincident (subgradient 0) and antipodal (distance pi R)
        p, q = p.detach().requires_grad_(), q.detach().requires_grad_()
        d = _math.sphere_dist(p, q, m.radius)
        gp, gq = torch.autograd.grad(d.sum(), (p, q))
        assert torch.isfinite(gp).all() and torch.isfinite(gq).all()
        expected = 0.0 if torch.equal(p, q) else torch.pi * m.radius.item()
        torch.testing.assert_close(d, torch.full_like(d, expected), rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("regime", ["few near (gathered)", "many near (full pass)"])
def test_fused_sphere_distance_gives_the_zero_subgradient_to_coincident_pairs_among_others(regime):
    # the mask for x == y is only built when the forward saw a zero chord: a batch with one coincident pair among
    # near and far ones must still get 0 there and the chained path's gradient everywhere else
    m = Sphere(0.7)
    x, y = _pairs(m, *REGIMES[regime], seed=8)
    y[4] = x[4]
    a, b = x.clone().requires_grad_(), y.clone().requires_grad_()
    ga, gb = torch.autograd.grad(_math.sphere_dist(a, b, m.radius).sum(), (a, b))
    c, d = x.clone().requires_grad_(), y.clone().requires_grad_()
    gc, gd = torch.autograd.grad(_chained_sphere_dist(m, c, d).sum(), (c, d))
    assert torch.isfinite(ga).all() and torch.isfinite(gb).all()
    assert not ga[4].any() and not gb[4].any()
    torch.testing.assert_close((ga, gb), (gc, gd), rtol=1e-10, atol=1e-12)


def test_sphere_dist_with_a_learnable_curvature_still_differentiates_it():
    m = Sphere(0.7, learnable=True)
    x, y = _pairs(Sphere(0.7), 3, 5, seed=7)
    m.dist(x, y).sum().backward()
    (param,) = m.parameters()
    assert param.grad is not None and torch.isfinite(param.grad) and param.grad != 0
    with torch.no_grad():  # without autograd the fused path serves a learnable sphere as well
        torch.testing.assert_close(m.dist(x, y), Sphere(0.7).dist(x, y), rtol=1e-12, atol=0)


def test_sphere_distance_gradient_depends_neither_on_the_batch_nor_on_the_path():
    # the ambient gradient of a far pair: alone, in a batch of mostly near pairs, and through the learnable
    # curvature's chained path (an earlier version switched formulas with the batch and changed its normal part)
    m, learnable = Sphere(0.7), Sphere(0.7, learnable=True).double()
    x, y = _pairs(m, 30, 10, seed=9)
    far = int(torch.nonzero(m.dist(x, y) > 0.1 * m.radius.item())[0])
    grads = []
    for manifold, rows in ((m, slice(None)), (m, slice(far, far + 1)), (learnable, slice(None))):
        a, b = x[rows].clone().requires_grad_(), y[rows].clone().requires_grad_()
        ga, gb = torch.autograd.grad(manifold.dist(a, b).sum(), (a, b))
        grads.append(torch.cat([ga, gb], -1)[far if rows == slice(None) else 0])
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grads[2], grads[0], rtol=1e-12, atol=1e-14)


def test_sphere_distance_to_fixed_points_differentiates_only_the_free_side():
    m = Sphere(0.7)
    x, y = _pairs(m, 3, 5, seed=10)
    a, b = x.clone().requires_grad_(), y.clone().requires_grad_()
    ga, gb = torch.autograd.grad(m.dist(a, b).sum(), (a, b))
    for free, args, expected in ((a, (a, y), ga), (b, (x, b), gb)):
        (g,) = torch.autograd.grad(m.dist(*args).sum(), (free,))
        torch.testing.assert_close(g, expected, rtol=0, atol=0)
