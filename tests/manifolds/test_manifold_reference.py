"""References: msg.manifolds agrees with geoopt's Lorentz and sphere in float64 wherever geoopt is accurate."""

from __future__ import annotations

import geoopt
import torch
from msg.manifolds import Lorentz, Sphere

F64 = torch.float64


def _pairs(m, n=200, std=0.6):
    g = torch.Generator().manual_seed(0)
    x = m.random(n, 6, std=std, dtype=F64, generator=g)
    y = m.random(n, 6, std=std, dtype=F64, generator=g)
    u = m.proju(x, std * torch.randn(n, 6, dtype=F64, generator=g))
    return x, y, u


def test_lorentz_matches_geoopt():
    for k in (-1.0, -0.25):
        ours, theirs = Lorentz(k), geoopt.Lorentz(k=-1.0 / k)
        x, y, u = _pairs(ours)
        torch.testing.assert_close(ours.expmap(x, u), theirs.expmap(x, u), rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(ours.logmap(x, y), theirs.logmap(x, y), rtol=1e-7, atol=1e-7)
        torch.testing.assert_close(ours.dist(x, y), theirs.dist(x, y), rtol=1e-7, atol=1e-7)
        v = ours.proju(x, torch.randn_like(x))
        torch.testing.assert_close(ours.transp(x, y, v), theirs.transp(x, y, v), rtol=1e-7, atol=1e-7)
        torch.testing.assert_close(ours.logmap0(y), theirs.logmap0(y), rtol=1e-7, atol=1e-7)
        torch.testing.assert_close(ours.origin(3, 6, dtype=F64), theirs.origin(3, 6, dtype=F64))


def test_unit_sphere_matches_geoopt():
    ours, theirs = Sphere(), geoopt.SphereExact()
    x, y, u = _pairs(ours)
    torch.testing.assert_close(ours.expmap(x, u), theirs.expmap(x, u), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.logmap(x, y), theirs.logmap(x, y), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ours.dist(x, y), theirs.dist(x, y), rtol=1e-10, atol=1e-10)
    g = torch.randn_like(x)
    torch.testing.assert_close(ours.egrad2rgrad(x, g), theirs.egrad2rgrad(x, g))
