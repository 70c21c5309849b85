r"""Products of manifolds, e.g. :math:`\mathbb{H}^{d_1} \times \mathbb{S}^{d_2}` or the torus :math:`S^1 \times S^1`.

Ambient layout: a point (or tangent vector) of ``Product(M_1, ..., M_k)`` is the concatenation, along the last
dimension and in factor order, of the factors' ambient coordinates. An intrinsic dimension ``d`` is split among
the factors as ``dims`` when given (``sum(dims) == d``), otherwise equally with the remainder going to the leading
factors (``d = 7`` over two factors: ``(4, 3)``). Factor ``i`` then takes ``M_i.ambient_dim(d_i)`` ambient
coordinates (``d_i + 1`` for the hyperboloid and the sphere, ``d_i`` for Euclidean space), so the ambient width is
``d`` plus the number of curved factors, and the layout of a tensor follows from its last dimension alone
(:meth:`Product.split_ambient`). Intrinsic vectors are split the same way (:meth:`Product.split_intrinsic`).

The metric is the sum of the factors' metrics: inner products add, distances combine as
:math:`d = \sqrt{\sum_i d_i^2}`, and every map acts factor by factor.

Example: ``Product(Lorentz(), Sphere())`` with ``d = 32`` is :math:`\mathbb{H}^{16}\times\mathbb{S}^{16}` in
:math:`\mathbb{R}^{17+17}`; ``Product(Sphere(), Sphere(), dims=(1, 1))`` is the torus in :math:`\mathbb{R}^{2+2}`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from geoopt.utils import size2shape
from torch import Tensor

from . import _math
from .base import Manifold

__all__ = ["Product"]


class Product(Manifold):
    r"""Riemannian product of ``factors`` (see the module docstring for the ambient layout).

    Args:
        *factors (Manifold): the factor manifolds (at least one).
        dims (tuple of int, optional): intrinsic dimension of each factor; when omitted, any intrinsic dimension
            ``d >= len(factors)`` is split equally. (default: ``None``)

    ``curvature`` is the 1-D tensor of the factors' curvatures.
    """

    name = "Product"

    def __init__(self, *factors: Manifold, dims: Sequence[int] | None = None) -> None:
        super().__init__()
        if not factors:
            raise ValueError("Product: needs at least one factor manifold")
        for f in factors:
            if not isinstance(f, Manifold):
                raise TypeError(f"Product: factors must be msg.manifolds.Manifold instances, got {f!r}")
        if dims is not None:
            dims = tuple(dims)
            if len(dims) != len(factors) or not all(isinstance(d, int) and d >= 1 for d in dims):
                raise ValueError(f"Product: dims must hold one positive int per factor ({len(factors)}), got {dims!r}")
        self.factors = torch.nn.ModuleList(factors)
        self.dims = dims
        self.ambient_offset = sum(f.ambient_offset for f in factors)
        self._layouts: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}

    @property
    def curvature(self) -> Tensor:
        return torch.stack([f.curvature for f in self.factors])

    def __repr__(self) -> str:
        inner = ", ".join(repr(f) for f in self.factors)
        return f"Product({inner}, dims={self.dims})" if self.dims is not None else f"Product({inner})"

    # ------------------------------------------------------------------------------ layout
    def factor_dims(self, d: int) -> tuple[int, ...]:
        """Intrinsic dimension of each factor for total intrinsic dimension ``d``."""
        if isinstance(d, bool) or not isinstance(d, int):
            raise ValueError(f"{self!r}: intrinsic dimension must be an int, got {d!r}")
        k = len(self.factors)
        if self.dims is not None:
            if sum(self.dims) != d:
                raise ValueError(f"{self!r}: has intrinsic dimension {sum(self.dims)}, got d={d}")
            return self.dims
        if d < k:
            raise ValueError(f"{self!r}: intrinsic dimension must be at least {k} (one per factor), got d={d}")
        return tuple(d // k + (1 if i < d % k else 0) for i in range(k))

    def ambient_dim(self, d: int) -> int:
        return sum(f.ambient_dim(di) for f, di in zip(self.factors, self.factor_dims(d), strict=True))

    def _layout(self, n: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``(intrinsic dims, ambient widths)`` of the factors for ambient width ``n`` (cached)."""
        layout = self._layouts.get(n)
        if layout is None:
            dims = self.factor_dims(n - self.ambient_offset)
            layout = dims, tuple(f.ambient_dim(di) for f, di in zip(self.factors, dims, strict=True))
            self._layouts[n] = layout
        return layout

    def _ambient_problem(self, n: int) -> str | None:
        if self.dims is not None:
            width = self.ambient_dim(sum(self.dims))
            return None if n == width else f"must have ambient last dimension {width} (dims={self.dims}), got {n}"
        lowest = len(self.factors) + self.ambient_offset
        if n < lowest:
            return f"needs an ambient last dimension of at least {lowest} (one dimension per factor), got {n}"
        return None

    def split_ambient(self, x: Tensor) -> list[Tensor]:
        """Views of the factors' ambient coordinates of ``x`` (points or tangent vectors), in factor order."""
        self._validate("split_ambient", x=x)
        return list(torch.split(x, self._layout(x.shape[-1])[1], dim=-1))

    def split_intrinsic(self, v: Tensor) -> list[Tensor]:
        """Views of the factors' parts of an intrinsic vector ``v`` of shape ``[..., d]``."""
        return list(torch.split(v, self.factor_dims(v.shape[-1]), dim=-1))

    def _map(self, op: str, **tensors: Tensor) -> list:
        """Apply the factors' ``op`` to the factor parts of ``tensors`` (validated, same ambient width)."""
        self._validate(op, **tensors)
        widths = self._layout(next(iter(tensors.values())).shape[-1])[1]
        parts = [torch.split(t, widths, dim=-1) for t in tensors.values()]
        return [getattr(f, op)(*(p[i] for p in parts)) for i, f in enumerate(self.factors)]

    def _cat(self, op: str, **tensors: Tensor) -> Tensor:
        return torch.cat(self._map(op, **tensors), dim=-1)

    # ------------------------------------------------------------------------------ intrinsic <-> ambient
    def tangent0(self, v: Tensor) -> Tensor:
        parts = self.split_intrinsic(v)
        return torch.cat([f.tangent0(p) for f, p in zip(self.factors, parts, strict=True)], dim=-1)

    def untangent0(self, u: Tensor) -> Tensor:
        return self._cat("untangent0", u=u)

    # ------------------------------------------------------------------------------ the maps
    def origin(
        self, *size: int | tuple[int, ...], dtype: torch.dtype | None = None, device: torch.device | str | None = None
    ) -> Tensor:
        shape = size2shape(*size)
        self._assert_shape("origin", shape, "size")
        widths = self._layout(shape[-1])[1]
        points = [
            f.origin(*shape[:-1], w, dtype=dtype, device=device) for f, w in zip(self.factors, widths, strict=True)
        ]
        return torch.cat(points, dim=-1)

    def inner(self, x: Tensor, u: Tensor, v: Tensor | None = None, *, keepdim: bool = False) -> Tensor:
        v = u if v is None else v
        terms = self._map("inner", x=x, u=u, v=v)
        total = sum(terms[1:], terms[0])
        return total.unsqueeze(-1) if keepdim else total

    def component_inner(self, x: Tensor, u: Tensor, v: Tensor | None = None) -> Tensor:
        """Each factor's ``component_inner`` repeated over that factor's coordinates (for RiemannianAdam)."""
        self._validate("component_inner", x=x, u=u)
        xs, us = self.split_ambient(x), self.split_ambient(u)
        vs = [None] * len(xs) if v is None else self.split_ambient(v)
        pieces = []
        for f, xi, ui, vi in zip(self.factors, xs, us, vs, strict=True):
            ci = f.component_inner(xi, ui, vi)
            pieces.append(ci.expand(*torch.broadcast_shapes(ci.shape[:-1], ui.shape[:-1]), ui.shape[-1]))
        return torch.cat(pieces, dim=-1)

    def projx(self, x: Tensor) -> Tensor:
        return self._cat("projx", x=x)

    def proju(self, x: Tensor, u: Tensor) -> Tensor:
        return self._cat("proju", x=x, u=u)

    def egrad2rgrad(self, x: Tensor, u: Tensor) -> Tensor:
        return self._cat("egrad2rgrad", x=x, u=u)

    def expmap(self, x: Tensor, u: Tensor) -> Tensor:
        return self._cat("expmap", x=x, u=u)

    def expmap0(self, u: Tensor) -> Tensor:
        return self._cat("expmap0", u=u)

    def logmap(self, x: Tensor, y: Tensor) -> Tensor:
        return self._cat("logmap", x=x, y=y)

    def logmap0(self, y: Tensor) -> Tensor:
        return self._cat("logmap0", y=y)

    def transp(self, x: Tensor, y: Tensor, v: Tensor) -> Tensor:
        return self._cat("transp", x=x, y=y, v=v)

    def transp0(self, y: Tensor, u: Tensor) -> Tensor:
        return self._cat("transp0", y=y, u=u)

    def transp0back(self, y: Tensor, u: Tensor) -> Tensor:
        return self._cat("transp0back", y=y, u=u)

    def dist(self, x: Tensor, y: Tensor, *, keepdim: bool = False) -> Tensor:
        return self._combine_dists(self._map("dist", x=x, y=y), keepdim)

    def dist0(self, y: Tensor, *, keepdim: bool = False) -> Tensor:
        return self._combine_dists(self._map("dist0", y=y), keepdim)

    @staticmethod
    def _combine_dists(dists: list[Tensor], keepdim: bool) -> Tensor:
        total = _math.sqrt0(sum(d * d for d in dists))
        return total.unsqueeze(-1) if keepdim else total

    # ------------------------------------------------------------------------------ checks
    def _check_point_on_manifold(
        self, x: Tensor, *, atol: float | None = None, rtol: float | None = None
    ) -> tuple[bool, str | None]:
        for i, (f, xi) in enumerate(zip(self.factors, self.split_ambient(x), strict=True)):
            ok, reason = f._check_point_on_manifold(xi, atol=atol, rtol=rtol)
            if not ok:
                return False, f"{self!r}: factor {i}: {reason}"
        return True, None

    def _check_vector_on_tangent(
        self, x: Tensor, u: Tensor, *, atol: float | None = None, rtol: float | None = None
    ) -> tuple[bool, str | None]:
        pairs = zip(self.factors, self.split_ambient(x), self.split_ambient(u), strict=True)
        for i, (f, xi, ui) in enumerate(pairs):
            ok, reason = f._check_vector_on_tangent(xi, ui, atol=atol, rtol=rtol)
            if not ok:
                return False, f"{self!r}: factor {i}: {reason}"
        return True, None
