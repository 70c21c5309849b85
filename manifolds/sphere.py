r"""The sphere of sectional curvature :math:`K > 0` embedded in :math:`\mathbb{R}^{D+1}`.

.. math::

    \mathbb{S}^D_K = \{x \in \mathbb{R}^{D+1} : |x|^2 = 1/K\}

with origin :math:`o = (R, 0, \dots, 0)`, :math:`R = 1/\sqrt{K}`. The maps are those of
:class:`~msg.manifolds.base.CurvedManifold` with :math:`\cos_K = \cos`, :math:`\sin_K = \sin`; the
sphere-specific numerics are:

- ``proju`` is the orthogonal projection :math:`u - K\langle x, u\rangle x` (well conditioned on the sphere),
  ``projx`` rescales to radius :math:`R` and maps the zero vector to the origin.
- Distances use :math:`d = 2R\arcsin\sqrt{h}` with the squared half chord
  :math:`h = K|y - x|^2/4 = \sin^2(\theta/2)`, exact to rounding for nearby points where
  :math:`R\arccos(K\langle x, y\rangle)` loses half the digits, and with a finite gradient at the antipode.
  Near the antipode the roles swap: :math:`1 - h` cancels, and the distance of two exactly antipodal points is
  accurate to :math:`\sim\sqrt{\epsilon}\,R` (1e-8 R in float64).
- Cut locus: the logarithm and the parallel transport are not defined between antipodal points. There the
  denominators :math:`\cos^2(\theta/2) = 1 - h` and :math:`1 + \cos\theta` are clamped at ``_math.EPS[dtype]``
  (the distance's derivative clamps :math:`1 - h` at ``EPS**2``), so the results and their gradients stay finite;
  everywhere else the clamps are inactive.
  ``dist(x, expmap(x, u)) = |u|`` holds for :math:`|u| < \pi R` (the injectivity radius).

Reference: Absil, Mahony & Sepulchre, "Optimization Algorithms on Matrix Manifolds" (2008), on the sphere.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import _math
from .base import CurvedManifold

__all__ = ["Sphere", "radius_plus_x0"]


def radius_plus_x0(x: Tensor, radius: Tensor | float) -> Tensor:
    r"""``R + x_0`` for ``x`` on the sphere of radius ``R``, as ``[..., 1]``, stable near the antipode of the origin.

    Uses :math:`R + x_0 = |x_{1:}|^2 / (R - x_0)` where :math:`x_0 < 0` (the direct sum cancels there) and clamps
    at ``EPS[dtype] * R``: the value is 0 only at the antipode :math:`-o`, the cut locus of the origin.
    """
    x0 = x[..., :1]
    far = x0 < 0
    xs = x[..., 1:]
    r2 = _math.form(xs, xs, keepdim=True)
    stable = torch.where(far, r2 / torch.where(far, radius - x0, 1.0), radius + x0)
    return stable.clamp_min(_math.eps(x.dtype) * radius)


class Sphere(CurvedManifold):
    r"""Sphere :math:`\mathbb{S}^D_K` of radius :math:`1/\sqrt{K}` in :math:`\mathbb{R}^{D+1}` (module docstring).

    Args:
        curvature (float, optional): sectional curvature :math:`K > 0`. (default: ``1.0``)
        learnable (bool, optional): learn :math:`K = \exp(\kappa)` through the Parameter
            ``log_abs_curvature`` :math:`\kappa`. (default: ``False``)

    Shapes:
        points and tangent vectors :math:`[\ldots, D+1]`; ``dist``/``inner``/``norm`` :math:`[\ldots]`
        (:math:`[\ldots, 1]` with ``keepdim=True``). A circle is ``D = 1``.
    """

    name = "Sphere"

    def __init__(self, curvature: float | Tensor = 1.0, learnable: bool = False) -> None:
        super().__init__(curvature, learnable, sign=1)

    def _inner(self, u: Tensor, v: Tensor, keepdim: bool = False) -> Tensor:
        return _math.form(u, v, keepdim=keepdim)

    def _rescale(self, x: Tensor) -> Tensor:
        return x * (self.radius * torch.rsqrt(_math.form(x, x, keepdim=True)))

    def projx(self, x: Tensor) -> Tensor:
        """Rescale to radius ``R``; the zero vector (no direction) maps to the origin."""
        self._validate("projx", x=x)
        nonzero = _math.form(x, x, keepdim=True) > 0
        return torch.where(nonzero, self._rescale(torch.where(nonzero, x, 1.0)), self._origin_vector(x))

    def proju(self, x: Tensor, u: Tensor) -> Tensor:
        r"""Orthogonal projection onto :math:`T_x`: :math:`u - K\langle x, u\rangle x`."""
        self._validate("proju", x=x, u=u)
        return torch.addcmul(u, -self.curvature * _math.form(x, u, keepdim=True), x)

    def expmap(self, x: Tensor, u: Tensor) -> Tensor:
        r"""Exponential map of :meth:`proju`\ ``(x, u)``, re-projected onto the sphere.

        Folded for speed: with :math:`a = \langle x, u\rangle`, the projected vector :math:`u - Kax` has
        :math:`\theta^2 = K(|u|^2 - Ka^2)` and the result is
        :math:`(\cos\theta - Ka\,\tfrac{\sin\theta}{\theta})\,x + \tfrac{\sin\theta}{\theta}\,u`, rescaled to
        radius :math:`R`.
        """
        self._validate("expmap", x=x, u=u)
        k = self.curvature
        a = _math.form(x, u, keepdim=True)
        cos, sinc = self._exp_coefficients(k * (_math.form(u, u, keepdim=True) - k * a * a))
        return self._rescale(torch.addcmul((cos - k * a * sinc) * x, sinc, u))

    def egrad2rgrad(self, x: Tensor, u: Tensor) -> Tensor:
        """Riemannian gradient: the orthogonal projection of the Euclidean gradient."""
        return self.proju(x, u)

    def _exp_coefficients(self, s: Tensor) -> tuple[Tensor, Tensor]:
        return _math.cos_sinc_sqrt(s)

    def _half_chord(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return _math.half_chord(x, y, self.curvature)

    def _log_factor(self, h: Tensor) -> tuple[Tensor, Tensor]:
        # theta / sin(theta) with sin^2(theta / 2) = h in [0, 1]: arctan(t) / t / cos^2(theta / 2),
        # t = tan(theta / 2); cos^2(theta / 2) = 1 - h is zero only at the cut locus, clamped at EPS there.
        h = h.clamp(0, 1)
        cos2 = (1 - h).clamp_min(_math.eps(h.dtype))
        return h, _math.atanc_sqrt(h / cos2) / cos2

    def _dist_from_half_chord(self, h: Tensor) -> Tensor:
        return 2 * self.radius * _math.asin_sqrt(h)

    def dist(self, x: Tensor, y: Tensor, *, keepdim: bool = False) -> Tensor:
        r""":math:`2R\arcsin(|y - x| / 2R)`: the chord in every row (:func:`_math.sphere_dist`), one fused Function;
        a learnable curvature takes the chained form of the same expression, which also differentiates in ``K``.
        Both extend the distance off the sphere alike, so gradients in ``x``, ``y`` and ``K`` do not depend on the
        path taken or on the other pairs in the batch."""
        self._validate("dist", x=x, y=y)
        if self.curvature.requires_grad and torch.is_grad_enabled():
            d = self._dist_from_half_chord(_math.half_chord(x, y, self.curvature)[0])
        else:
            d = _math.sphere_dist(x, y, self.radius.detach())
        return d if keepdim else d.squeeze(-1)

    def _one_plus_cos(self, x: Tensor, y: Tensor) -> Tensor:
        # 1 + cos(theta) = K |x + y|^2 / 2: exact near the antipode, where 1 + K <x, y> cancels.
        s = x + y
        return (self.curvature / 2 * _math.form(s, s, keepdim=True)).clamp_min(_math.eps(s.dtype))

    def _radius_plus_y0(self, y: Tensor) -> Tensor:
        return radius_plus_x0(y, self.radius)

    def logmap0(self, y: Tensor) -> Tensor:
        self._validate("logmap0", y=y)
        ys = y[..., 1:]
        d0 = y[..., :1] - self.radius
        h = self.curvature / 4 * (d0 * d0 + _math.form(ys, ys, keepdim=True))
        return self.tangent0(self._log_factor(h)[1] * ys)

    def dist0(self, y: Tensor, *, keepdim: bool = False) -> Tensor:
        r""":math:`d(o, y) = R\operatorname{atan2}(|y_{1:}|, y_0)`."""
        self._validate("dist0", y=y)
        ys = y[..., 1:]
        r = _math.sqrt0(_math.form(ys, ys, keepdim=keepdim))
        y0 = y[..., 0:1] if keepdim else y[..., 0]
        return self.radius * torch.atan2(r, y0)
