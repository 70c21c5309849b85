r"""Conversions to flat charts for plotting: hyperboloid to Poincaré ball, sphere to stereographic coordinates.

Both are the stereographic projection from the antipode of the origin, :math:`-o = (-R, 0, \ldots, 0)`, onto the
hyperplane :math:`x_0 = 0`:

.. math::

    p = \frac{R\, x_{1:}}{R + x_0}.

On the hyperboloid (:math:`K < 0`) the image is the Poincaré ball of radius :math:`R`; on the sphere
(:math:`K > 0`) all of :math:`\mathbb{R}^D` (the antipode :math:`-o` goes to infinity). The origin maps to 0 in
both. Inverses:

.. math::

    \text{ball: } x = \Bigl(R\frac{R^2 + |p|^2}{R^2 - |p|^2},\ \frac{2R^2 p}{R^2 - |p|^2}\Bigr), \qquad
    \text{sphere: } x = \Bigl(R\frac{R^2 - |p|^2}{R^2 + |p|^2},\ \frac{2R^2 p}{R^2 + |p|^2}\Bigr).

Guards: :math:`R^2 - |p|^2` is clamped at ``EPS[dtype] * R^2`` (a point on or outside the ball's boundary has no
preimage), and :math:`R + x_0` on the sphere uses :func:`~msg.manifolds.sphere.radius_plus_x0`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import _math
from .base import Manifold
from .euclidean import Euclidean
from .lorentz import Lorentz
from .product import Product
from .sphere import Sphere, radius_plus_x0

__all__ = [
    "lorentz_to_poincare",
    "poincare_to_lorentz",
    "sphere_to_stereographic",
    "stereographic_to_sphere",
    "to_chart",
]


def _radius(curvature: float | Tensor, sign: int, fn: str) -> Tensor:
    k = torch.as_tensor(curvature, dtype=torch.float64)
    if k.dim() != 0 or not bool(torch.isfinite(k)) or float(k) * sign <= 0:
        side = "negative" if sign < 0 else "positive"
        raise ValueError(f"{fn}: curvature must be a {side} scalar (sectional curvature), got {curvature!r}")
    return (sign * k).rsqrt()


def lorentz_to_poincare(x: Tensor, curvature: float | Tensor = -1.0) -> Tensor:
    """Hyperboloid point ``[..., D+1]`` to the Poincaré ball of radius ``R``: ``[..., D]``."""
    r = _radius(curvature, -1, "lorentz_to_poincare")
    return r * x[..., 1:] / (r + x[..., :1])


def poincare_to_lorentz(p: Tensor, curvature: float | Tensor = -1.0) -> Tensor:
    """Poincaré ball point ``[..., D]`` to the hyperboloid: ``[..., D+1]``."""
    r = _radius(curvature, -1, "poincare_to_lorentz")
    sq = (p * p).sum(dim=-1, keepdim=True)
    denom = (r * r - sq).clamp_min(_math.eps(p.dtype) * r * r)
    return torch.cat((r * (r * r + sq) / denom, 2 * r * r * p / denom), dim=-1)


def sphere_to_stereographic(x: Tensor, curvature: float | Tensor = 1.0) -> Tensor:
    """Sphere point ``[..., D+1]`` to stereographic coordinates ``[..., D]`` (projection from ``-o``)."""
    r = _radius(curvature, 1, "sphere_to_stereographic")
    return r * x[..., 1:] / radius_plus_x0(x, r)


def stereographic_to_sphere(p: Tensor, curvature: float | Tensor = 1.0) -> Tensor:
    """Stereographic coordinates ``[..., D]`` to the sphere: ``[..., D+1]``."""
    r = _radius(curvature, 1, "stereographic_to_sphere")
    sq = (p * p).sum(dim=-1, keepdim=True)
    denom = r * r + sq
    return torch.cat((r * (r * r - sq) / denom, 2 * r * r * p / denom), dim=-1)


def to_chart(manifold: Manifold, x: Tensor) -> Tensor:
    """Flat plotting coordinates ``[..., d]`` of points ``x`` of ``manifold``.

    Poincaré ball for :class:`Lorentz`, stereographic coordinates for :class:`Sphere`, the identity for
    :class:`Euclidean`, and the concatenation of the factors' charts for :class:`Product` (a torus point becomes
    two stereographic circle coordinates).
    """
    manifold._validate("to_chart", x=x)
    if isinstance(manifold, Lorentz):
        return lorentz_to_poincare(x, manifold.curvature.detach())
    if isinstance(manifold, Sphere):
        return sphere_to_stereographic(x, manifold.curvature.detach())
    if isinstance(manifold, Euclidean):
        return x
    if isinstance(manifold, Product):
        return torch.cat(
            [to_chart(f, xi) for f, xi in zip(manifold.factors, manifold.split_ambient(x), strict=True)], -1
        )
    raise TypeError(f"to_chart: no chart for {manifold!r}")
