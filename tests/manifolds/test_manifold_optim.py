"""geoopt integration: ManifoldParameter and RiemannianAdam on every manifold (a Frechet mean with a known answer)."""

from __future__ import annotations

import geoopt
import pytest
import torch
from manifold_cases import NAMES, make, radius, width
from msg.manifolds import Lorentz, Sphere


def _symmetric_cloud(m, d, dtype, seed=0):
    """Centre c and points Exp_c(+-v_i): by symmetry their Frechet mean is c."""
    g = torch.Generator().manual_seed(seed)
    c = m.random(width(m, d), std=0.5 * radius(m), dtype=dtype, generator=g)
    v = 0.3 * radius(m) * torch.randn(8, d, dtype=dtype, generator=g)
    u = m.transp0(c.expand(16, -1), m.tangent0(torch.cat([v, -v])))
    return c, m.expmap(c.expand(16, -1), u)


@pytest.mark.parametrize(
    "name,dtype",
    [(n, torch.float64) for n in NAMES] + [("lorentz", torch.float32), ("sphere", torch.float32)],
    ids=lambda p: str(p).replace("torch.", ""),
)
def test_riemannian_adam_finds_the_frechet_mean_and_stays_on_the_manifold(name, dtype):
    m, d = make(name)
    c, cloud = _symmetric_cloud(m, d, dtype)
    p = geoopt.ManifoldParameter(m.origin(width(m, d), dtype=dtype), manifold=m)
    opt = geoopt.optim.RiemannianAdam([p], lr=2e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 1000)
    for _ in range(1000):
        opt.zero_grad()
        m.dist(p, cloud).pow(2).mean().backward()
        opt.step()
        sched.step()
    assert m.check_point_on_manifold(p.detach(), atol=1e-5, rtol=0)
    tol = 1e-4 * radius(m) if dtype == torch.float64 else 2e-3 * radius(m)
    assert float(m.dist(p.detach(), c)) < tol


@pytest.mark.parametrize("manifold", [Lorentz(-1.0, learnable=True), Sphere(1.0, learnable=True)], ids=repr)
def test_learnable_curvature_stays_on_its_side_of_zero(manifold):
    sign = torch.sign(manifold.curvature.detach())
    opt = torch.optim.SGD(manifold.parameters(), lr=10.0)
    for _ in range(50):  # pull K across zero as hard as possible: the parametrisation cannot cross it
        opt.zero_grad()
        (sign * manifold.curvature).backward()
        opt.step()
        k = manifold.curvature.detach()
        assert torch.sign(k) == sign and k != 0
    # and a geometric loss trains it without leaving its side either
    x = manifold.random(32, 5, std=0.5, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).detach()
    opt = torch.optim.Adam(manifold.parameters(), lr=0.1)
    for _ in range(50):
        opt.zero_grad()
        (manifold.dist(x[:16], x[16:]) - 1.0).pow(2).mean().backward()
        opt.step()
        k = manifold.curvature.detach()
        assert torch.sign(k) == sign and bool(torch.isfinite(k))


def test_manifold_parameter_accepts_every_manifold_and_rejects_bad_shapes():
    for name in NAMES:
        m, d = make(name)
        p = geoopt.ManifoldParameter(m.random(3, width(m, d)), manifold=m)
        assert p.manifold is m
    with pytest.raises(ValueError, match="Lorentz"):
        geoopt.ManifoldParameter(torch.zeros(3, 1), manifold=Lorentz())
