"""Identities of every manifold in float32 and float64: projections, exp/log, distances, transports, origin maps."""

from __future__ import annotations

import torch
from manifold_cases import TOL, close, log_norms, make, manifold_and_dtype, max_radius, points, radius, tangents, width
from msg.manifolds import Lorentz, Product, Sphere

N = 256


@manifold_and_dtype
def test_projx_is_idempotent_and_fixes_points(name, dtype):
    m, d = make(name)
    x = points(m, d, N, dtype)
    close(m.projx(x), x, dtype)
    z = torch.randn(N, width(m, d), dtype=dtype) * 3
    p = m.projx(z)
    assert m.check_point_on_manifold(p)
    close(m.projx(p), p, dtype)


@manifold_and_dtype
def test_proju_is_idempotent_and_maps_to_the_tangent_space(name, dtype):
    m, d = make(name)
    x = points(m, d, N, dtype)
    u = m.proju(x, torch.randn(N, width(m, d), dtype=dtype))
    assert m.check_vector_on_tangent(x, u)
    close(m.proju(x, u), u, dtype)
    # egrad2rgrad of a tangent-space gradient maps into the tangent space too
    assert m.check_vector_on_tangent(x, m.egrad2rgrad(x, torch.randn_like(x)))


@manifold_and_dtype
def test_expmap_of_logmap_returns_the_point(name, dtype):
    m, d = make(name)
    x, y = points(m, d, N, dtype, seed=0), points(m, d, N, dtype, seed=1)
    close(m.expmap(x, m.logmap(x, y)), y, dtype)
    close(m.expmap(x, m.logmap(x, x)), x, dtype)


@manifold_and_dtype
def test_logmap_of_expmap_and_dist_equal_the_tangent_vector_and_norm(name, dtype):
    m, d = make(name)
    x = points(m, d, N, dtype)
    lo = 1e-6 if dtype == torch.float64 else 1e-3
    norms = log_norms(N, lo, max_radius(m), dtype)
    u = tangents(m, x, norms)
    y = m.expmap(x, u)
    assert m.check_point_on_manifold(y)
    # relative to the norm, plus the resolution of the points themselves
    torch.testing.assert_close(m.dist(x, y), norms.squeeze(-1), rtol=TOL[dtype], atol=TOL[dtype] * 1e-2)
    err = m.norm(x, m.proju(x, m.logmap(x, y) - u))
    assert bool((err <= TOL[dtype] * norms.squeeze(-1) + TOL[dtype] * 1e-2).all()), float(err.max())


@manifold_and_dtype
def test_dist_is_symmetric_and_zero_on_the_diagonal(name, dtype):
    m, d = make(name)
    x, y = points(m, d, N, dtype, seed=0), points(m, d, N, dtype, seed=1)
    close(m.dist(x, y), m.dist(y, x), dtype)
    assert bool((m.dist(x, x) == 0).all())
    assert m.dist(x, y, keepdim=True).shape == (N, 1)


@manifold_and_dtype
def test_transp_preserves_inner_products_and_maps_into_the_target_tangent_space(name, dtype):
    m, d = make(name)
    x, y = points(m, d, N, dtype, seed=0), points(m, d, N, dtype, seed=1)
    v, w = tangents(m, x, 1.0, seed=3), tangents(m, x, 1.0, seed=4)
    pv, pw = m.transp(x, y, v), m.transp(x, y, w)
    assert m.check_vector_on_tangent(y, pv)
    close(m.inner(y, pv, pw), m.inner(x, v, w), dtype)
    close(m.norm(y, pv), m.norm(x, v), dtype)
    # transport back is the inverse, along the same geodesic
    close(m.transp(y, x, pv), v, dtype)
    # transport along u agrees with the log direction: PT_{x->y}(Log_x y) = -Log_y x
    close(m.transp(x, y, m.logmap(x, y)), -m.logmap(y, x), dtype, scale=3.0)


@manifold_and_dtype
def test_origin_maps_agree_with_the_general_maps(name, dtype):
    m, d = make(name)
    o = m.origin(N, width(m, d), dtype=dtype)
    assert m.check_point_on_manifold(o)
    y = points(m, d, N, dtype, seed=1)
    u = m.tangent0(torch.randn(N, d, dtype=dtype) * 0.4 * radius(m))
    close(m.expmap0(u), m.expmap(o, u), dtype)
    close(m.logmap0(y), m.logmap(o, y), dtype)
    close(m.dist0(y), m.dist(o, y), dtype)
    close(m.transp0(y, u), m.transp(o, y, u), dtype)
    v = tangents(m, y, 1.0)
    close(m.transp0back(y, v), m.transp(y, o, v), dtype)
    close(m.transp0back(y, m.transp0(y, u)), u, dtype)
    close(m.logmap0(m.expmap0(u)), u, dtype)
    assert m.check_vector_on_tangent(y, m.transp0(y, u))


@manifold_and_dtype
def test_intrinsic_vectors_round_trip_through_the_origin_tangent_space(name, dtype):
    m, d = make(name)
    v = torch.randn(3, N, d, dtype=dtype)
    u = m.tangent0(v)
    assert u.shape == (3, N, m.ambient_dim(d))
    assert m.check_vector_on_tangent(m.origin(3, N, m.ambient_dim(d), dtype=dtype), u)
    torch.testing.assert_close(m.untangent0(u), v, rtol=0, atol=0)
    # the intrinsic coordinates are orthonormal: the metric at the origin is the Euclidean one
    close(m.norm(m.origin(m.ambient_dim(d), dtype=dtype), u), v.norm(dim=-1), dtype)


@manifold_and_dtype
def test_random_points_lie_on_the_manifold_with_the_requested_spread(name, dtype):
    m, d = make(name)
    x = m.random(4000, width(m, d), std=0.1, dtype=dtype, generator=torch.Generator().manual_seed(0))
    assert m.check_point_on_manifold(x)
    # E[dist0^2] = d * std^2 for the wrapped normal (inside the injectivity radius)
    torch.testing.assert_close(m.dist0(x).pow(2).mean(), torch.tensor(d * 0.01, dtype=dtype), rtol=0.1, atol=0)


def test_lorentz_float64_identities_hold_far_from_the_origin():
    """Points 10 R from the origin: float64 keeps ~1e-7 (the eps cosh^2 growth the Lorentz docstring documents)."""
    m = Lorentz()
    v = torch.nn.functional.normalize(torch.randn(N, 6, dtype=torch.float64), dim=-1) * 10
    x = m.expmap0(m.tangent0(v))
    u = tangents(m, x, 2.0)
    y = m.expmap(x, u)
    torch.testing.assert_close(m.dist(x, y), torch.full((N,), 2.0, dtype=torch.float64), rtol=1e-7, atol=0)
    torch.testing.assert_close(m.dist0(x), torch.full((N,), 10.0, dtype=torch.float64), rtol=1e-12, atol=0)
    torch.testing.assert_close(m.dist(m.origin(7, dtype=torch.float64), x), m.dist0(x), rtol=1e-12, atol=0)


def test_lorentz_far_pairs_use_the_exact_form_in_float32():
    """Origin to a point 12 R away in float32: the direct Minkowski form keeps full relative accuracy."""
    m = Lorentz()
    v = torch.nn.functional.normalize(torch.randn(N, 4), dim=-1) * 12
    y = m.expmap0(m.tangent0(v))
    torch.testing.assert_close(m.dist(m.origin(5), y), torch.full((N,), 12.0), rtol=1e-6, atol=0)


def test_sphere_near_antipodal_points_are_finite_and_accurate():
    m = Sphere()
    x = m.random(N, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    u = tangents(m, x, torch.pi - 1e-6)
    y = m.expmap(x, u)
    torch.testing.assert_close(m.dist(x, y), torch.full((N,), torch.pi - 1e-6, dtype=torch.float64), rtol=1e-9, atol=0)
    # exactly antipodal: the half chord form is accurate to ~sqrt(eps) there (Sphere docstring)
    antipodal = m.dist(x, -x)
    torch.testing.assert_close(antipodal, torch.full((N,), torch.pi, dtype=torch.float64), rtol=0, atol=1e-7)
    for out in (m.logmap(x, -x), m.transp(x, -x, u)):
        assert bool(torch.isfinite(out).all())


def test_expmap_saturates_instead_of_overflowing():
    from msg.manifolds import _math

    m = Lorentz()
    for dtype in (torch.float32, torch.float64):
        x = m.origin(3, 4, dtype=dtype)
        u = m.tangent0(torch.tensor([[1e4, 0, 0], [0, 1e3, 0], [0, 0, 10.0]], dtype=dtype))
        y = m.expmap(x, u)
        assert bool(torch.isfinite(y).all()) and m.check_point_on_manifold(y)
        bound = _math.max_cosh_arg(dtype)
        torch.testing.assert_close(m.dist0(y), torch.tensor([bound, bound, 10.0], dtype=dtype), rtol=1e-5, atol=0)


def test_product_acts_factor_by_factor():
    m = Product(Lorentz(-0.5), Sphere(2.0))
    d = 7
    x, y = points(m, d, N, torch.float64, seed=0), points(m, d, N, torch.float64, seed=1)
    (xh, xs), (yh, ys) = m.split_ambient(x), m.split_ambient(y)
    h, s = m.factors
    torch.testing.assert_close(m.split_ambient(m.logmap(x, y))[0], h.logmap(xh, yh))
    torch.testing.assert_close(m.split_ambient(m.logmap(x, y))[1], s.logmap(xs, ys))
    torch.testing.assert_close(m.dist(x, y) ** 2, h.dist(xh, yh) ** 2 + s.dist(xs, ys) ** 2)
    u = m.proju(x, torch.randn_like(x))
    torch.testing.assert_close(m.inner(x, u), h.inner(xh, m.split_ambient(u)[0]) + s.inner(xs, m.split_ambient(u)[1]))
    ci = m.component_inner(x, u)
    assert ci.shape == x.shape
    torch.testing.assert_close(ci[:, 0], h.inner(xh, m.split_ambient(u)[0]))


@manifold_and_dtype
def test_maps_broadcast_a_single_point_against_a_batch(name, dtype):
    m, d = make(name)
    y = points(m, d, 8, dtype, seed=1)
    x = points(m, d, 1, dtype, seed=0)[0]
    xb = x.expand_as(y)
    u = tangents(m, xb, 0.5 * radius(m))
    for op, args, expanded in [
        ("proju", (x, u), (xb, u)),
        ("expmap", (x, u), (xb, u)),
        ("logmap", (x, y), (xb, y)),
        ("dist", (x, y), (xb, y)),
        ("transp", (x, y, u), (xb, y, u)),
        ("inner", (x, u, u), (xb, u, u)),
    ]:
        close(getattr(m, op)(*args), getattr(m, op)(*expanded), dtype)
