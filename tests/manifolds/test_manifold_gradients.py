"""Gradients: gradcheck in float64 for every map, and finite gradients at u = 0, x == y, the origin, large norms."""

from __future__ import annotations

import pytest
import torch
from manifold_cases import NAMES, make, points, radius, tangents
from msg.manifolds import Lorentz, Sphere, _math
from torch.autograd import gradcheck

F64 = torch.float64


def _inputs(name: str, n: int = 5):
    m, d = make(name)
    x, y = points(m, d, n, F64, seed=0), points(m, d, n, F64, seed=1)
    u = tangents(m, x, 0.7 * radius(m), seed=2)
    v = tangents(m, x, 1.0, seed=3)
    w = m.tangent0(0.3 * radius(m) * torch.randn(n, d, dtype=F64, generator=torch.Generator().manual_seed(4)))
    return m, x, y, u, v, w


def _check(fn, *args) -> None:
    args = tuple(a.detach().clone().requires_grad_() for a in args)
    assert gradcheck(fn, args, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("op", ["expmap", "logmap", "dist", "transp", "expmap0", "logmap0", "dist0", "transp0", "back"])
def test_gradcheck_float64(name, op):
    m, x, y, u, v, w = _inputs(name)
    cases = {
        "expmap": (m.expmap, x, u),
        "logmap": (m.logmap, x, y),
        "dist": (m.dist, x, y),
        "transp": (m.transp, x, y, v),
        "expmap0": (m.expmap0, w),
        "logmap0": (m.logmap0, y),
        "dist0": (m.dist0, y),
        "transp0": (m.transp0, y, w),
        "back": (m.transp0back, y, tangents(m, y, 1.0)),
    }
    _check(*cases[op])


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_at_u_zero_and_at_coincident_points(name):
    m, x, y, u, v, w = _inputs(name)
    _check(m.expmap, x, torch.zeros_like(x))
    _check(m.expmap0, torch.zeros_like(x))
    _check(m.logmap, x, x.clone())
    _check(lambda a, b: m.dist(a, b) ** 2, x, x.clone())  # dist^2 is smooth at x == y
    _check(m.transp, x, x.clone(), v)
    o = m.origin(*x.shape, dtype=F64)
    _check(m.logmap0, o)
    _check(m.transp0, o, w)


@pytest.mark.parametrize("name", NAMES)
def test_dist_gradient_is_finite_at_coincident_points(name):
    """dist is not differentiable at x == y; the guard returns the subgradient 0 (never NaN)."""
    m, x, *_ = _inputs(name)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    m.dist(a, b).sum().backward()
    assert torch.equal(a.grad, torch.zeros_like(a)) and torch.equal(b.grad, torch.zeros_like(b))
    o = m.origin(*x.shape, dtype=F64).requires_grad_()
    m.dist0(o).sum().backward()
    assert torch.equal(o.grad, torch.zeros_like(o))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [0.0, 1e-30, 1e-8, 50.0, 1e3])
def test_gradients_are_finite_at_tiny_and_huge_norms(name, dtype, scale):
    m, d = make(name)
    x = points(m, d, 8, dtype).requires_grad_()
    u = (tangents(m, x.detach(), 1.0) * scale).requires_grad_()
    y = m.expmap(x, u)
    outs = [y, m.logmap(x, y), m.dist(x, y), m.transp(x, y, u), m.expmap0(u), m.logmap0(y), m.transp0(y, u)]
    for out in outs:
        assert bool(torch.isfinite(out).all())
        grads = torch.autograd.grad(out.sum(), [x, u], allow_unused=True, retain_graph=True)
        assert all(g is None or bool(torch.isfinite(g).all()) for g in grads)


@pytest.mark.parametrize("manifold", [Lorentz(-0.7, learnable=True), Sphere(1.6, learnable=True)], ids=repr)
def test_learnable_curvature_gets_the_exact_gradient(manifold):
    """d/dkappa of dist, logmap and transp0 at fixed points, against central differences in kappa."""
    m = manifold.double()
    with torch.no_grad():  # fixed points: only the maps' own dependence on K is differentiated
        x, y = points(m, 3, 6, F64, seed=0), points(m, 3, 6, F64, seed=1)
    w = m.tangent0(torch.randn(6, 3, dtype=F64))
    param = m.log_abs_curvature

    def value() -> torch.Tensor:
        return m.dist(x, y).sum() + m.logmap(x, y).sum() + m.transp0(y, w).sum() + m.origin(4, dtype=F64).sum()

    (auto,) = torch.autograd.grad(value(), [param])
    h = 1e-6
    with torch.no_grad():
        param += h
        up = value()
        param -= 2 * h
        down = value()
        param += h
    torch.testing.assert_close(auto, (up - down) / (2 * h), rtol=1e-6, atol=1e-8)


def test_form_and_half_chord_primitives_pass_gradcheck():
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(4, 5, dtype=F64, generator=g), torch.randn(5, dtype=F64, generator=g)
    for minkowski in (False, True):
        _check(lambda a, b, mk=minkowski: _math.form(a, b, minkowski=mk), u, v)
        _check(lambda a, mk=minkowski: _math.form(a, a, minkowski=mk), u)
        assert torch.autograd.gradgradcheck(
            lambda a, b, mk=minkowski: _math.form(a, b, minkowski=mk), (u.requires_grad_(), v.requires_grad_())
        )
    # the hyperboloid's half chord: all-chord, all-direct and mixed batches, with the curvature as an input
    m = Lorentz()
    near = points(m, 3, 6, F64, std=0.3, seed=0)
    far = points(m, 3, 6, F64, std=3.0, seed=1)
    o = m.origin(6, 4, dtype=F64)
    k = torch.tensor(-1.3, dtype=F64)
    for x, y in ((near, near.flip(0)), (o, far), (torch.cat([near[:3], o[:3]]), torch.cat([near[3:], far[:3]]))):

        def fn(a, b, kk):
            h, delta = _math.half_chord(a, b, kk, minkowski=True)
            return h * delta.sum(-1, keepdim=True)

        _check(fn, x, y, k)
    s = Sphere()
    _check(lambda a, b, kk: _math.half_chord(a, b, kk)[0], points(s, 3, 6, F64), points(s, 3, 6, F64, seed=1), k.abs())
