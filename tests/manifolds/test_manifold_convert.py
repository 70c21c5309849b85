"""Plotting charts: Poincare ball and stereographic coordinates, their inverses, and to_chart for products."""

from __future__ import annotations

import pytest
import torch
from msg.manifolds import (
    Euclidean,
    Lorentz,
    Product,
    Sphere,
    get_manifold,
    lorentz_to_poincare,
    poincare_to_lorentz,
    sphere_to_stereographic,
    stereographic_to_sphere,
    to_chart,
)

F64 = torch.float64


@pytest.mark.parametrize("k", [-1.0, -0.3, -4.0])
def test_poincare_round_trip_origin_and_ball(k):
    m = Lorentz(k)
    x = m.random(200, 4, std=1.5, dtype=F64, generator=torch.Generator().manual_seed(0))
    p = lorentz_to_poincare(x, k)
    r = float(m.radius)
    assert p.shape == (200, 3) and bool((p.norm(dim=-1) < r).all())
    torch.testing.assert_close(poincare_to_lorentz(p, k), x)
    torch.testing.assert_close(lorentz_to_poincare(m.origin(4, dtype=F64), k), torch.zeros(3, dtype=F64))
    # the Poincare distance from 0 is 2 R artanh(|p| / R), equal to the hyperboloid one
    torch.testing.assert_close(2 * r * torch.atanh(p.norm(dim=-1) / r), m.dist0(x))


@pytest.mark.parametrize("k", [1.0, 0.5, 3.0])
def test_stereographic_round_trip_and_origin(k):
    m = Sphere(k)
    x = m.random(200, 3, std=1.0, dtype=F64, generator=torch.Generator().manual_seed(1))
    p = sphere_to_stereographic(x, k)
    torch.testing.assert_close(stereographic_to_sphere(p, k), x)
    torch.testing.assert_close(sphere_to_stereographic(m.origin(3, dtype=F64), k), torch.zeros(2, dtype=F64))
    # the antipode of the origin goes far away but stays finite
    assert bool(torch.isfinite(sphere_to_stereographic(-m.origin(3, dtype=F64), k)).all())


def test_to_chart_dispatches_per_factor():
    torus = get_manifold("torus")
    z = torus.random(10, 4, generator=torch.Generator().manual_seed(0))
    c = to_chart(torus, z)
    assert c.shape == (10, 2)
    a, b = torus.split_ambient(z)
    torch.testing.assert_close(c, torch.cat([sphere_to_stereographic(a), sphere_to_stereographic(b)], -1))
    e = Euclidean()
    assert to_chart(e, z) is z
    mixed = Product(Lorentz(-0.5), Euclidean())
    y = mixed.random(5, 5)
    assert to_chart(mixed, y).shape == (5, 4)
    with pytest.raises(ValueError, match="to_chart"):
        to_chart(Lorentz(), torch.zeros(3, 1))


def test_wrong_curvature_sign_is_rejected():
    with pytest.raises(ValueError, match="lorentz_to_poincare: curvature must be a negative scalar"):
        lorentz_to_poincare(torch.zeros(2, 3), 1.0)
    with pytest.raises(ValueError, match="stereographic_to_sphere: curvature must be a positive scalar"):
        stereographic_to_sphere(torch.zeros(2, 3), -1.0)
