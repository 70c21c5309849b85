"""msg.manifolds: Riemannian manifolds with exact, numerically guarded maps.

:class:`Lorentz` (hyperboloid, :math:`K < 0`), :class:`Sphere` (:math:`K > 0`), :class:`Euclidean` and
:class:`Product` share one contract (:class:`Manifold`, geoopt-compatible): ``expmap(x, u)``, ``logmap(x, y)``,
``expmap0``, ``logmap0``, ``proju``, ``projx``, ``inner``, ``norm``, ``dist``, ``dist0``, ``transp(x, y, v)``,
``transp0``, ``transp0back``, ``origin``, ``random``, ``egrad2rgrad``, ``retr``, the checks, and the intrinsic
<-> ambient helpers ``ambient_dim``, ``tangent0``, ``untangent0``. Numerical guards: :mod:`msg.manifolds._math`.
Plotting charts: :mod:`msg.manifolds.convert`. Build one from a name with :func:`get_manifold`.
"""

from __future__ import annotations

from .base import CurvedManifold, Manifold
from .convert import (
    lorentz_to_poincare,
    poincare_to_lorentz,
    sphere_to_stereographic,
    stereographic_to_sphere,
    to_chart,
)
from .euclidean import Euclidean
from .lorentz import Lorentz
from .product import Product
from .sphere import Sphere

__all__ = [
    "Manifold",
    "CurvedManifold",
    "Lorentz",
    "Sphere",
    "Euclidean",
    "Product",
    "get_manifold",
    "MANIFOLD_NAMES",
    "lorentz_to_poincare",
    "poincare_to_lorentz",
    "sphere_to_stereographic",
    "stereographic_to_sphere",
    "to_chart",
]

_FACTORS = {"euclidean": Euclidean, "lorentz": Lorentz, "sphere": Sphere}

#: Names :func:`get_manifold` understands (``torus`` is the product of two circles).
MANIFOLD_NAMES: tuple[str, ...] = (*_FACTORS, "torus")


def get_manifold(spec: str | Manifold) -> Manifold:
    """Build a manifold from a name, or return a :class:`Manifold` unchanged.

    ``'lorentz'``, ``'sphere'``, ``'euclidean'`` (default curvatures -1, 1, 0); a comma-separated list such as
    ``'lorentz,sphere'`` is their :class:`Product` (equal split of the dimensions); ``'torus'`` is
    ``Product(Sphere(), Sphere(), dims=(1, 1))``, two circles (intrinsic dimension 2). Names are
    case-insensitive. Raises ``ValueError`` listing the known names for an unknown one.
    """
    if isinstance(spec, Manifold):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"get_manifold: expected a manifold name or a msg.manifolds.Manifold, got {spec!r}")
    names = [part.strip().lower() for part in spec.split(",")]
    for name in names:
        if name not in MANIFOLD_NAMES:
            raise ValueError(
                f"get_manifold: unknown manifold {name!r} in {spec!r}; known names: {', '.join(MANIFOLD_NAMES)} "
                "(or a comma-separated product of euclidean, lorentz, sphere such as 'lorentz,sphere')"
            )
    if names == ["torus"]:
        return Product(Sphere(), Sphere(), dims=(1, 1))
    if "torus" in names:
        raise ValueError(f"get_manifold: 'torus' is already a product and cannot be a factor in {spec!r}")
    factors = [_FACTORS[name]() for name in names]
    return factors[0] if len(factors) == 1 else Product(*factors)
