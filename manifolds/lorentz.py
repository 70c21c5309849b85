r"""The hyperboloid (Lorentz) model of hyperbolic space with sectional curvature :math:`K < 0`.

.. math::

    \mathbb{H}^D_K = \{x \in \mathbb{R}^{D+1} : \langle x, x\rangle_L = 1/K,\ x_0 > 0\}, \qquad
    \langle u, v\rangle_L = -u_0 v_0 + \textstyle\sum_{i \ge 1} u_i v_i ,

with origin :math:`o = (R, 0, \dots, 0)`, :math:`R = 1/\sqrt{-K}`. The maps are those of
:class:`~msg.manifolds.base.CurvedManifold` with :math:`\cos_K = \cosh`, :math:`\sin_K = \sinh`; the
hyperboloid-specific numerics are:

- ``projx`` keeps the spatial part and recomputes :math:`x_0 = \sqrt{R^2 + |x_{1:}|^2}`, which lands on the upper
  sheet exactly up to one rounding.
- ``proju`` completes the time coordinate, :math:`u_0 = \langle x_{1:}, u_{1:}\rangle / x_0`: the projection onto
  :math:`T_x` along :math:`e_0`. Like the Minkowski-orthogonal projection :math:`u + K\langle x, u\rangle_L\, x`
  it is the identity on :math:`T_x`, but that one has norm :math:`\sim\cosh^2 d(o, x)` and multiplies the
  rounding error of a tangent vector by it (DESIGN.md: projecting far from the origin is what made a prototype
  diverge), while this one is as accurate as ``u`` itself. ``expmap`` projects with it; ``egrad2rgrad`` uses the
  orthogonal projection, which the Riemannian gradient requires.
- Geodesics saturate at length ``_math.MAX_COSH_ARG[dtype] * R`` (300 R in float64, 30 R in float32), beyond which
  the squared coordinates of the result would overflow.
- Distances use :math:`d = 2R\operatorname{arsinh}\sqrt{-h}` with the half chord
  :math:`h = K\langle y - x, y - x\rangle_L/4`, exact to rounding for nearby points where
  :math:`R\operatorname{arcosh}(K\langle x, y\rangle_L)` loses half the digits. Both Minkowski forms cancel
  when the points are far from the origin: the chord one with an error :math:`\sim\epsilon\,(y_0 - x_0)^2`, the
  direct one :math:`h = (1 - K\langle x, y\rangle_L)/2` with :math:`\sim\epsilon\,x_0 y_0`, so ``h`` takes
  whichever is smaller (the direct form is the exact one between the origin and a far point).
- Accuracy therefore degrades with the distance from the origin like :math:`\epsilon\cosh^2 d(o, x)`: identities
  hold to ~1e-12 in float64 and ~1e-6 in float32 within :math:`3R` of the origin, ~1e-4 in float32 at
  :math:`5R` (which is why the MSG model runs its manifold path in float64; DESIGN.md).

References: Nickel & Kiela, "Learning Continuous Hierarchies in the Lorentz Model of Hyperbolic Geometry" (ICML
2018); Chami et al., "Hyperbolic Graph Convolutional Neural Networks" (NeurIPS 2019).
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import _math
from .base import CurvedManifold

__all__ = ["Lorentz"]


class Lorentz(CurvedManifold):
    r"""Hyperboloid model :math:`\mathbb{H}^D_K` in :math:`\mathbb{R}^{D+1}` (see the module docstring).

    Args:
        curvature (float, optional): sectional curvature :math:`K < 0`. (default: ``-1.0``)
        learnable (bool, optional): learn :math:`K = -\exp(\kappa)` through the Parameter
            ``log_abs_curvature`` :math:`\kappa`. (default: ``False``)

    Shapes:
        points and tangent vectors :math:`[\ldots, D+1]`; ``dist``/``inner``/``norm`` :math:`[\ldots]`
        (:math:`[\ldots, 1]` with ``keepdim=True``).
    """

    _minkowski = True

    name = "Lorentz"

    def __init__(self, curvature: float | Tensor = -1.0, learnable: bool = False) -> None:
        super().__init__(curvature, learnable, sign=-1)

    def _inner(self, u: Tensor, v: Tensor, keepdim: bool = False) -> Tensor:
        return _math.form(u, v, minkowski=True, keepdim=keepdim)

    def _lift(self, xs: Tensor) -> Tensor:
        """The point of the upper sheet with spatial part ``xs``: ``(sqrt(R^2 + |xs|^2), xs)``."""
        x0 = torch.sqrt(_math.form(xs, xs, keepdim=True) - 1 / self.curvature)
        return torch.cat((x0, xs), dim=-1)

    def projx(self, x: Tensor) -> Tensor:
        """Project onto the upper sheet by recomputing the time coordinate from the spatial ones."""
        self._validate("projx", x=x)
        return self._lift(x[..., 1:])

    def proju(self, x: Tensor, u: Tensor) -> Tensor:
        """Project onto :math:`T_x` along :math:`e_0`: ``u_0 = <x_{1:}, u_{1:}> / x_0`` (module docstring)."""
        self._validate("proju", x=x, u=u)
        x0, xs = x.split([1, x.shape[-1] - 1], dim=-1)
        us = u[..., 1:]
        u0 = _math.form(xs, us, keepdim=True) / x0
        batch = u0.shape[:-1]
        return torch.cat((u0, us.expand(*batch, us.shape[-1])), dim=-1)

    def expmap(self, x: Tensor, u: Tensor) -> Tensor:
        r"""Exponential map of :meth:`proju`\ ``(x, u)``, re-projected with :meth:`projx`.

        Folded for speed: with the spatial parts :math:`x_s, u_s` and the projected time coordinate
        :math:`u_0 = \langle x_s, u_s\rangle / x_0`, the result is the lift of
        :math:`\cosh\theta\, x_s + \frac{\sinh\theta}{\theta} u_s`, :math:`\theta^2 = -K(|u_s|^2 - u_0^2)`
        (the time coordinate of :math:`\cosh\theta\,x + \ldots` is recomputed by the projection anyway).
        """
        self._validate("expmap", x=x, u=u)
        x0, xs = x.split([1, x.shape[-1] - 1], dim=-1)
        us = u[..., 1:]
        u0 = _math.form(xs, us, keepdim=True) / x0
        s = -self.curvature * (_math.form(us, us, keepdim=True) - u0 * u0)
        cosh, sinhc = self._exp_coefficients(s)
        return self._lift(torch.addcmul(cosh * xs, sinhc, us))

    def egrad2rgrad(self, x: Tensor, u: Tensor) -> Tensor:
        r"""Riemannian gradient: :math:`P_x(J u)` with :math:`J = \operatorname{diag}(-1, 1, \ldots)` and the
        Minkowski-orthogonal projection :math:`P_x(w) = w - K\langle x, w\rangle_L\, x`."""
        self._validate("egrad2rgrad", x=x, u=u)
        ju = torch.cat((-u[..., :1], u[..., 1:]), dim=-1)
        return torch.addcmul(ju, -self.curvature * _math.form(x, u, keepdim=True), x)

    def component_inner(self, x: Tensor, u: Tensor, v: Tensor | None = None) -> Tensor:
        """``inner(x, u, v, keepdim=True)``; a squared norm (``v=None``) is clamped at 0 against rounding."""
        inner = self.inner(x, u, v, keepdim=True)
        return inner.clamp_min(0) if v is None else inner

    def _exp_coefficients(self, s: Tensor) -> tuple[Tensor, Tensor]:
        return _math.cosh_sinhc_sqrt(s, _math.max_cosh_arg(s.dtype))

    def _half_chord(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return _math.half_chord(x, y, self.curvature, minkowski=True)

    def _log_factor(self, h: Tensor) -> tuple[Tensor, Tensor]:
        # theta / sinh(theta) with sinh^2(theta / 2) = -h <= 0: arsinh(sqrt(-h)) / (sqrt(-h) sqrt(1 - h)).
        h = h.clamp_max(0)
        return h, _math.asinhc_sqrt(-h) / torch.sqrt(1 - h)

    def _dist_from_half_chord(self, h: Tensor) -> Tensor:
        return 2 * self.radius * _math.asinh_sqrt(-h)

    def _one_plus_cos(self, x: Tensor, y: Tensor) -> Tensor:
        # 1 + cosh(theta) = 1 + K <x, y>_L >= 2: no cancellation, no guard.
        return 1 + self.curvature * _math.form(x, y, minkowski=True, keepdim=True)

    def _radius_plus_y0(self, y: Tensor) -> Tensor:
        return self.radius + y[..., :1]

    def logmap0(self, y: Tensor) -> Tensor:
        r""":math:`\operatorname{Log}_o(y) = (0,\ \operatorname{arsinh}(|y_{1:}|/R)\,R\,y_{1:}/|y_{1:}|)`; uses only the
        spatial part, so it is exact at any distance."""
        self._validate("logmap0", y=y)
        ys = y[..., 1:]
        s = -self.curvature * _math.form(ys, ys, keepdim=True)
        return self.tangent0(_math.asinhc_sqrt(s) * ys)

    def dist0(self, y: Tensor, *, keepdim: bool = False) -> Tensor:
        r""":math:`d(o, y) = R\operatorname{arsinh}(|y_{1:}|/R)`."""
        self._validate("dist0", y=y)
        ys = y[..., 1:]
        return self.radius * torch.asinh(_math.sqrt0(-self.curvature * _math.form(ys, ys, keepdim=keepdim)))

    def _check_point_on_manifold(
        self, x: Tensor, *, atol: float | None = None, rtol: float | None = None
    ) -> tuple[bool, str | None]:
        ok, reason = super()._check_point_on_manifold(x, atol=atol, rtol=rtol)
        x0 = x.detach()[..., 0]
        if ok and not bool((x0 > 0).all()):
            return False, f"{self!r}: `x` has x_0 <= 0 (lower sheet); min x_0 = {float(x0.min()):.3g}"
        return ok, reason
