"""Shared cases for the msg.manifolds tests: the manifolds under test, sampling helpers and tolerances."""

from __future__ import annotations

import pytest
import torch
from msg.manifolds import Euclidean, Lorentz, Manifold, Product, Sphere, get_manifold

# name -> (factory, intrinsic dimension)
CASES: dict[str, tuple] = {
    "lorentz": (lambda: Lorentz(), 5),
    "lorentz_k0.3": (lambda: Lorentz(-0.3), 4),
    "lorentz_k2": (lambda: Lorentz(-2.0), 3),
    "sphere": (lambda: Sphere(), 5),
    "sphere_k2.5": (lambda: Sphere(2.5), 3),
    "circle": (lambda: Sphere(), 1),
    "euclidean": (lambda: Euclidean(), 4),
    "lorentz,sphere": (lambda: get_manifold("lorentz,sphere"), 7),
    "sphere,euclidean,lorentz": (lambda: Product(Sphere(0.5), Euclidean(), Lorentz(-0.5)), 6),
    "torus": (lambda: get_manifold("torus"), 2),
}
NAMES = list(CASES)
DTYPES = [torch.float32, torch.float64]

# Identities at moderate norms hold to these (relative) tolerances; float64 is the exact path (~1e-10 asked).
TOL = {torch.float32: 2e-4, torch.float64: 1e-10}


def make(name: str) -> tuple[Manifold, int]:
    factory, d = CASES[name]
    return factory(), d


def width(m: Manifold, d: int) -> int:
    return m.ambient_dim(d)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def radius(m: Manifold) -> float:
    """Smallest radius ``1/sqrt|K|`` among the curved factors (1 for flat space): the length scale."""
    factors = m.factors if isinstance(m, Product) else [m]
    radii = [float(f.radius.detach()) for f in factors if not isinstance(f, Euclidean)]
    return min(radii, default=1.0)


def points(m: Manifold, d: int, n: int, dtype: torch.dtype, std: float = 0.4, seed: int = 0) -> torch.Tensor:
    """Wrapped-normal points around the origin, ``std`` per intrinsic coordinate in units of the radius."""
    return m.random(n, width(m, d), std=std * radius(m), dtype=dtype, generator=gen(seed))


def max_radius(m: Manifold) -> float:
    """Largest tangent norm for identities: 3 R, inside every spherical factor's injectivity radius (pi R)."""
    return 3.0 * radius(m)


def tangents(m: Manifold, x: torch.Tensor, norms: torch.Tensor | float, seed: int = 1) -> torch.Tensor:
    """Tangent vectors at ``x`` with the given Riemannian norms (random directions)."""
    u = m.proju(x, torch.randn(x.shape, dtype=x.dtype, generator=gen(seed)))
    return u / m.norm(x, u, keepdim=True) * norms


def log_norms(n: int, lo: float, hi: float, dtype: torch.dtype, seed: int = 2) -> torch.Tensor:
    """``n`` norms log-uniform in ``[lo, hi]``, as ``[n, 1]``."""
    e = torch.rand(n, 1, dtype=dtype, generator=gen(seed))
    return lo * (hi / lo) ** e


def close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype, scale: float = 1.0) -> None:
    """Assert ``actual ~ expected`` to the dtype's identity tolerance, relative to ``scale``."""
    torch.testing.assert_close(actual, expected, rtol=TOL[dtype], atol=TOL[dtype] * scale)


manifold_and_dtype = pytest.mark.parametrize(
    "name,dtype", [(n, d) for n in NAMES for d in DTYPES], ids=[f"{n}-{str(d)[6:]}" for n in NAMES for d in DTYPES]
)
