r"""The manifold contract of :mod:`msg.manifolds` and the machinery shared by the hyperboloid and the sphere.

Conventions, the same on every manifold:

- Points and tangent vectors are tensors of *ambient* coordinates in the last dimension; leading dimensions are
  batch dimensions and broadcast. The point comes first in every signature: ``expmap(x, u)``, ``logmap(x, y)``,
  ``transp(x, y, v)``.
- Curvature is the sectional curvature :math:`K`: negative on the hyperboloid, positive on the sphere, zero for
  Euclidean space; :math:`R = 1/\sqrt{|K|}` is the radius. ``manifold.curvature`` is a 0-dim tensor: a float64
  buffer when fixed (0-dim, so it never changes the dtype of the data it multiplies), or derived from the
  Parameter ``log_abs_curvature`` as :math:`K = \pm\exp(\cdot)` when learnable, which keeps its sign.
- The model side works with *intrinsic* tangent vectors in :math:`\mathbb{R}^d`: ``ambient_dim(d)`` is the
  ambient width of a ``d``-dimensional manifold, ``tangent0(v)`` embeds an intrinsic vector as a tangent vector at
  the origin and ``untangent0(u)`` is its inverse on that tangent space.

:class:`Manifold` subclasses :class:`geoopt.manifolds.base.Manifold`, so every manifold works with
:class:`geoopt.ManifoldParameter` and :class:`geoopt.optim.RiemannianAdam` (``retr`` is the exact exponential map
and ``retr_transp`` transports by exact parallel transport).

:class:`CurvedManifold` implements both curved models at once. With the ambient bilinear form
:math:`\langle\cdot,\cdot\rangle` (Minkowski for :math:`K<0`, Euclidean for :math:`K>0`) both are
:math:`\{x : K\langle x, x\rangle = 1\}`, and with :math:`\theta = d(x, y)/R`,
:math:`\cos_K`, :math:`\sin_K` = :math:`\cosh`, :math:`\sinh` (hyperboloid) or :math:`\cos`, :math:`\sin` (sphere):

.. math::

    \operatorname{Exp}_x(u) &= \cos_K(\theta)\,x + \frac{\sin_K\theta}{\theta}\,u,
        \qquad \theta^2 = |K|\langle u, u\rangle \\
    \operatorname{Log}_x(y) &= \frac{\theta}{\sin_K\theta}\,\bigl(\Delta + 2h\,x\bigr),
        \qquad \Delta = y - x,\; h = \tfrac{K}{4}\langle\Delta, \Delta\rangle \\
    \operatorname{PT}_{x\to y}(v) &= v - \frac{K\langle y, v\rangle}{1 + \cos_K\theta}\,(x + y)

where :math:`h` (the squared half chord, :math:`\sin^2(\theta/2)` on the sphere and :math:`-\sinh^2(\theta/2)` on
the hyperboloid) replaces :math:`\cos_K\theta - 1 = -2h`, which would cancel catastrophically for nearby points.
The transport is written with :math:`\langle y, v\rangle` so that its result lies in :math:`T_y` for any ``v``.
The guards these formulas need are in :mod:`msg.manifolds._math`.
"""

from __future__ import annotations

import abc
import math

import geoopt
import torch
from geoopt.utils import size2shape
from torch import Tensor

from . import _math

__all__ = ["Manifold", "CurvedManifold"]


class Manifold(geoopt.manifolds.base.Manifold):
    """Contract base class of :mod:`msg.manifolds` (geoopt-compatible; see the module docstring).

    Subclasses set ``name`` and ``ambient_offset`` (``ambient_dim(d) - d``) and implement the maps.
    """

    ndim = 1
    reversible = False
    ambient_offset: int = 0

    # ----------------------------------------------------------------------------------------- curvature
    def _init_curvature(self, curvature: float | Tensor, *, sign: int, learnable: bool) -> None:
        value = float(curvature)
        if not math.isfinite(value) or value * sign <= 0:
            side = "negative" if sign < 0 else "positive"
            raise ValueError(
                f"{type(self).__name__}: curvature must be {side} (sectional curvature: negative for hyperbolic, "
                f"positive for spherical space), got {value}"
            )
        self._sign = sign
        if learnable:
            self.log_abs_curvature = torch.nn.Parameter(torch.tensor(math.log(abs(value)), dtype=torch.float64))
        else:
            self.register_buffer("fixed_curvature", torch.tensor(value, dtype=torch.float64))

    @property
    def learnable(self) -> bool:
        """Whether the curvature is a learnable (sign-constrained) parameter."""
        return "log_abs_curvature" in self._parameters

    @property
    def curvature(self) -> Tensor:
        """Sectional curvature ``K`` as a 0-dim tensor (a buffer, or ``±exp(log_abs_curvature)``)."""
        if self.learnable:
            return self._sign * self.log_abs_curvature.exp()
        return self.fixed_curvature

    def extra_repr(self) -> str:
        text = f"curvature={float(f'{float(self.curvature.detach()):.6g}')!r}"
        return text + ", learnable=True" if self.learnable else text

    def __repr__(self) -> str:
        return f"{self.name}({self.extra_repr()})"

    # ------------------------------------------------------------------------------ intrinsic <-> ambient
    def ambient_dim(self, d: int) -> int:
        """Ambient width of the ``d``-dimensional manifold (the last dimension of its points)."""
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise ValueError(f"{self!r}: intrinsic dimension must be a positive int, got {d!r}")
        return d + self.ambient_offset

    def intrinsic_dim(self, n: int) -> int:
        """Intrinsic dimension ``d`` of points with ambient width ``n`` (inverse of :meth:`ambient_dim`)."""
        problem = self._ambient_problem(n)
        if problem is not None:
            raise ValueError(f"{self!r}: {problem}")
        return n - self.ambient_offset

    def _ambient_problem(self, n: int) -> str | None:
        """Why ``n`` is not a valid ambient width, or ``None``."""
        lowest = 1 + self.ambient_offset
        if n < lowest:
            return f"needs an ambient last dimension of at least {lowest} (D+{self.ambient_offset}), got {n}"
        return None

    @abc.abstractmethod
    def tangent0(self, v: Tensor) -> Tensor:
        """Map an intrinsic vector ``v`` of shape ``[..., d]`` to an ambient tangent vector at the origin."""

    @abc.abstractmethod
    def untangent0(self, u: Tensor) -> Tensor:
        """Inverse of :meth:`tangent0` on the tangent space at the origin: ``[..., ambient] -> [..., d]``."""

    # ------------------------------------------------------------------------------------ shape checks
    def _check_shape(self, shape: tuple[int, ...], name: str) -> tuple[bool, str | None]:
        if len(shape) == 0:
            return False, f"{self!r}: `{name}` must have at least one dimension, got a 0-dim tensor"
        problem = self._ambient_problem(shape[-1])
        if problem is not None:
            return False, f"{self!r}: `{name}` {problem} (shape {tuple(shape)})"
        return True, None

    def _assert_shape(self, op: str, shape: tuple[int, ...], name: str) -> None:
        ok, reason = self._check_shape(shape, name)
        if not ok:
            raise ValueError(f"{op}: {reason}")

    def _validate(self, op: str, **tensors: Tensor) -> None:
        """Raise ``ValueError`` unless every tensor has the same valid ambient last dimension."""
        first = None
        for name, t in tensors.items():
            if first is None:
                self._assert_shape(op, t.shape, name)
                first = (name, t.shape[-1])
            elif t.dim() == 0 or t.shape[-1] != first[1]:
                raise ValueError(
                    f"{self!r}.{op}: `{name}` has shape {tuple(t.shape)}, but its last dimension must match "
                    f"`{first[0]}`'s ({first[1]})"
                )

    # ------------------------------------------------------------------- checks with dtype tolerances
    @staticmethod
    def _tolerances(dtype: torch.dtype, atol: float | None, rtol: float | None) -> tuple[float, float]:
        default = _math.check_tolerance(dtype)
        return (default if atol is None else atol), (default if rtol is None else rtol)

    def check_point_on_manifold(
        self, x: Tensor, *, explain: bool = False, atol: float | None = None, rtol: float | None = None
    ) -> bool | tuple[bool, str | None]:
        """Whether ``x`` lies on the manifold; ``atol``/``rtol`` default to ``_math.TOLERANCE[x.dtype]``.

        With ``explain=True`` returns ``(ok, reason)``; the reason names the manifold and the size of the error.
        """
        return super().check_point_on_manifold(x, explain=explain, atol=atol, rtol=rtol)

    def assert_check_point_on_manifold(self, x: Tensor, *, atol: float | None = None, rtol: float | None = None):
        """Raise ``ValueError`` (naming the manifold and the error size) unless ``x`` lies on the manifold."""
        ok, reason = self.check_point_on_manifold(x, explain=True, atol=atol, rtol=rtol)
        if not ok:
            raise ValueError(reason)

    def check_vector_on_tangent(
        self,
        x: Tensor,
        u: Tensor,
        *,
        ok_point: bool = False,
        explain: bool = False,
        atol: float | None = None,
        rtol: float | None = None,
    ) -> bool | tuple[bool, str | None]:
        """Whether ``u`` lies in the tangent space at ``x`` (and, unless ``ok_point``, ``x`` on the manifold)."""
        ok, reason = self._check_shape(x.shape, "x")
        if ok:
            ok, reason = self._check_shape(u.shape, "u")
        if ok and u.shape[-1] != x.shape[-1]:
            ok, reason = False, f"{self!r}: `u` has last dimension {u.shape[-1]}, `x` has {x.shape[-1]}"
        if ok and not ok_point:
            ok, reason = self._check_point_on_manifold(x, atol=atol, rtol=rtol)
        if ok:
            ok, reason = self._check_vector_on_tangent(x, u, atol=atol, rtol=rtol)
        return (ok, reason) if explain else ok

    def assert_check_vector_on_tangent(
        self, x: Tensor, u: Tensor, *, ok_point: bool = False, atol: float | None = None, rtol: float | None = None
    ):
        """Raise ``ValueError`` unless ``u`` lies in the tangent space at ``x``."""
        ok, reason = self.check_vector_on_tangent(x, u, ok_point=ok_point, explain=True, atol=atol, rtol=rtol)
        if not ok:
            raise ValueError(reason)

    # ------------------------------------------------------------------------------------ the contract
    def retr(self, x: Tensor, u: Tensor) -> Tensor:
        """Retraction used by geoopt's optimisers: the exact exponential map."""
        return self.expmap(x, u)

    def norm(self, x: Tensor, u: Tensor, *, keepdim: bool = False) -> Tensor:
        """Riemannian norm of the tangent vector ``u`` at ``x`` (gradient 0 at ``u = 0``)."""
        return _math.sqrt0(self.inner(x, u, keepdim=keepdim))

    def random(
        self,
        *size: int | tuple[int, ...],
        std: float = 1.0,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Wrapped normal points ``expmap0(tangent0(v))``, ``v ~ N(0, std^2 I)``; ``size`` ends in the ambient width."""
        shape = size2shape(*size)
        self._assert_shape("random", shape, "size")
        d = self.intrinsic_dim(shape[-1])
        dtype = dtype or torch.get_default_dtype()
        device = device if device is not None else self.curvature.device
        v = torch.randn(*shape[:-1], d, dtype=dtype, device=device, generator=generator) * std
        return self.expmap0(self.tangent0(v))

    @abc.abstractmethod
    def origin(
        self, *size: int | tuple[int, ...], dtype: torch.dtype | None = None, device: torch.device | str | None = None
    ) -> Tensor:
        """The origin ``o`` repeated to ``size`` (the last entry is the ambient width)."""

    @abc.abstractmethod
    def logmap(self, x: Tensor, y: Tensor) -> Tensor:
        """Logarithmic map: the tangent vector at ``x`` whose geodesic reaches ``y`` at time 1."""

    @abc.abstractmethod
    def expmap0(self, u: Tensor) -> Tensor:
        """Exponential map at the origin (``u`` is first projected onto the origin's tangent space)."""

    @abc.abstractmethod
    def logmap0(self, y: Tensor) -> Tensor:
        """Logarithmic map at the origin."""

    @abc.abstractmethod
    def dist(self, x: Tensor, y: Tensor, *, keepdim: bool = False) -> Tensor:
        """Geodesic distance (finite gradient, the subgradient 0, at ``x == y``)."""

    @abc.abstractmethod
    def dist0(self, y: Tensor, *, keepdim: bool = False) -> Tensor:
        """Geodesic distance from the origin."""

    @abc.abstractmethod
    def transp(self, x: Tensor, y: Tensor, v: Tensor) -> Tensor:
        """Parallel transport of ``v`` from ``T_x`` to ``T_y`` along the (minimising) geodesic."""

    @abc.abstractmethod
    def transp0(self, y: Tensor, u: Tensor) -> Tensor:
        """Parallel transport of ``u`` from the origin to ``y`` (closed form, no logarithm)."""

    @abc.abstractmethod
    def transp0back(self, y: Tensor, u: Tensor) -> Tensor:
        """Parallel transport of ``u`` from ``y`` back to the origin."""


class CurvedManifold(Manifold):
    """Shared implementation of the hyperboloid and the sphere (formulas in the module docstring).

    Subclasses provide the ambient bilinear form and the few places where the two models need different
    numerics: the tangent projection, the point projection, the trigonometric coefficients, the half chord
    and the functions of it.
    """

    ambient_offset = 1
    _minkowski = False  # the ambient form of the model: Euclidean (sphere) or Minkowski (hyperboloid)

    def __init__(self, curvature: float | Tensor, learnable: bool, sign: int) -> None:
        super().__init__()
        self._init_curvature(curvature, sign=sign, learnable=learnable)

    @property
    def radius(self) -> Tensor:
        """``R = 1 / sqrt(|K|)`` as a 0-dim tensor."""
        return (self._sign * self.curvature).rsqrt()

    # ------------------------------------------------------------------------------ subclass hooks
    @abc.abstractmethod
    def _inner(self, u: Tensor, v: Tensor, keepdim: bool = False) -> Tensor:
        """The ambient bilinear form (Minkowski or Euclidean)."""

    @abc.abstractmethod
    def _exp_coefficients(self, s: Tensor) -> tuple[Tensor, Tensor]:
        """``(cos_K(theta), sin_K(theta) / theta)`` for ``s = theta^2``."""

    @abc.abstractmethod
    def _half_chord(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """``(h, y - x)`` with ``h = K <y - x, y - x> / 4`` as ``[..., 1]`` (:func:`_math.half_chord`)."""

    @abc.abstractmethod
    def _log_factor(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """``(h, theta / sin_K(theta))`` for the half chord ``h``, with ``h`` clamped to its range first."""

    @abc.abstractmethod
    def _dist_from_half_chord(self, h: Tensor) -> Tensor:
        """Distance ``R * theta`` as a function of the half chord ``h`` (read within its range)."""

    @abc.abstractmethod
    def _one_plus_cos(self, x: Tensor, y: Tensor) -> Tensor:
        """``1 + cos_K(theta)`` as ``[..., 1]``, computed stably."""

    @abc.abstractmethod
    def _radius_plus_y0(self, y: Tensor) -> Tensor:
        """``R + y_0`` as ``[..., 1]`` (``R (1 + cos_K)`` of the angle between ``y`` and the origin)."""

    # ------------------------------------------------------------------------------ intrinsic <-> ambient
    def tangent0(self, v: Tensor) -> Tensor:
        """Prepend the zero time/pole coordinate: ``[..., d] -> [..., d + 1]``."""
        return torch.nn.functional.pad(v, (1, 0))

    def untangent0(self, u: Tensor) -> Tensor:
        """Drop the first coordinate (zero on the origin's tangent space): ``[..., d + 1] -> [..., d]``."""
        self._validate("untangent0", u=u)
        return u[..., 1:]

    def _origin_vector(self, like: Tensor) -> Tensor:
        """The origin ``(R, 0, ..., 0)`` as a ``[n]`` vector in ``like``'s dtype and device (differentiable in K)."""
        r = self.radius.to(dtype=like.dtype, device=like.device).reshape(1)
        return torch.nn.functional.pad(r, (0, like.shape[-1] - 1))

    # ------------------------------------------------------------------------------------ the maps
    def origin(
        self, *size: int | tuple[int, ...], dtype: torch.dtype | None = None, device: torch.device | str | None = None
    ) -> Tensor:
        shape = size2shape(*size)
        self._assert_shape("origin", shape, "size")
        device = device if device is not None else self.curvature.device
        like = torch.empty(shape[-1], dtype=dtype or torch.get_default_dtype(), device=device)
        return self._origin_vector(like).expand(shape).contiguous()

    def inner(self, x: Tensor, u: Tensor, v: Tensor | None = None, *, keepdim: bool = False) -> Tensor:
        """Riemannian metric at ``x``: the ambient form restricted to the tangent space."""
        v = u if v is None else v
        self._validate("inner", x=x, u=u, v=v)
        return self._inner(u, v, keepdim=keepdim)

    def expmap0(self, u: Tensor) -> Tensor:
        self._validate("expmap0", u=u)
        us = u[..., 1:]
        s = (self._sign * self.curvature) * _math.form(us, us, keepdim=True)
        cos, sinc = self._exp_coefficients(s)
        return self.projx(torch.cat((self.radius * cos, sinc * us), dim=-1))

    def logmap(self, x: Tensor, y: Tensor) -> Tensor:
        self._validate("logmap", x=x, y=y)
        h, delta = self._half_chord(x, y)
        h, f = self._log_factor(h)
        return torch.addcmul(f * delta, 2 * h * f, x)

    def dist(self, x: Tensor, y: Tensor, *, keepdim: bool = False) -> Tensor:
        self._validate("dist", x=x, y=y)
        d = self._dist_from_half_chord(_math.dist_half_chord(x, y, self.curvature, minkowski=self._minkowski))
        return d if keepdim else d.squeeze(-1)

    def transp(self, x: Tensor, y: Tensor, v: Tensor) -> Tensor:
        self._validate("transp", x=x, y=y, v=v)
        coef = self.curvature * self._inner(y, v, keepdim=True) / self._one_plus_cos(x, y)
        return torch.addcmul(v, -coef, x + y)

    def transp0(self, y: Tensor, u: Tensor) -> Tensor:
        self._validate("transp0", y=y, u=u)
        coef = self.curvature * self.radius * self._inner(y, u, keepdim=True) / self._radius_plus_y0(y)
        return torch.addcmul(u, -coef, y + self._origin_vector(y))

    def transp0back(self, y: Tensor, u: Tensor) -> Tensor:
        self._validate("transp0back", y=y, u=u)
        return torch.addcmul(u, -u[..., :1] / self._radius_plus_y0(y), y + self._origin_vector(y))

    # ------------------------------------------------------------------------------------ checks
    def _check_point_on_manifold(
        self, x: Tensor, *, atol: float | None = None, rtol: float | None = None
    ) -> tuple[bool, str | None]:
        atol, rtol = self._tolerances(x.dtype, atol, rtol)
        x, k = x.detach(), self.curvature.detach()
        residual = (k * self._inner(x, x) - 1).abs()
        allowed = atol + rtol * k.abs() * (x * x).sum(dim=-1)
        if not bool((residual <= allowed).all()):
            return False, (
                f"{self!r}: `x` is not on the manifold: max |K<x,x> - 1| = {float(residual.max()):.3g} "
                f"(allowed atol + rtol*|K||x|^2 with atol={atol:g}, rtol={rtol:g}); project it with projx"
            )
        return True, None

    def _check_vector_on_tangent(
        self, x: Tensor, u: Tensor, *, atol: float | None = None, rtol: float | None = None
    ) -> tuple[bool, str | None]:
        atol, rtol = self._tolerances(u.dtype, atol, rtol)
        x, u = x.detach(), u.detach()
        residual = self._inner(x, u).abs()
        allowed = atol + rtol * torch.linalg.vector_norm(x, dim=-1) * torch.linalg.vector_norm(u, dim=-1)
        if not bool((residual <= allowed).all()):
            return False, (
                f"{self!r}: `u` is not in the tangent space at `x`: max |<x,u>| = {float(residual.max()):.3g} "
                f"(allowed atol + rtol*|x||u| with atol={atol:g}, rtol={rtol:g}); project it with proju"
            )
        return True, None
