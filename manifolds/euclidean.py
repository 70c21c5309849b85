r"""Flat Euclidean space :math:`\mathbb{R}^D` (curvature 0) under the same contract as the curved manifolds.

Points and tangent vectors are the same :math:`[\ldots, D]` tensors, the origin is 0, ``expmap`` is addition,
``logmap`` subtraction, parallel transport the identity. It lets a model run its manifold path unchanged in flat
space (the Euclidean ablation of MSG).
"""

from __future__ import annotations

import torch
from geoopt.utils import size2shape
from torch import Tensor

from . import _math
from .base import Manifold

__all__ = ["Euclidean"]


class Euclidean(Manifold):
    r"""Euclidean space :math:`\mathbb{R}^D` with ``curvature`` 0 (a float64 buffer).

    Shapes:
        points and tangent vectors :math:`[\ldots, D]` (``ambient_dim(d) == d``).
    """

    name = "Euclidean"
    ambient_offset = 0

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("fixed_curvature", torch.tensor(0.0, dtype=torch.float64))

    def extra_repr(self) -> str:
        return ""

    def tangent0(self, v: Tensor) -> Tensor:
        """Identity: intrinsic and ambient coordinates coincide."""
        return v

    def untangent0(self, u: Tensor) -> Tensor:
        """Identity."""
        self._validate("untangent0", u=u)
        return u

    def origin(
        self, *size: int | tuple[int, ...], dtype: torch.dtype | None = None, device: torch.device | str | None = None
    ) -> Tensor:
        shape = size2shape(*size)
        self._assert_shape("origin", shape, "size")
        device = device if device is not None else self.curvature.device
        return torch.zeros(shape, dtype=dtype or torch.get_default_dtype(), device=device)

    def inner(self, x: Tensor, u: Tensor, v: Tensor | None = None, *, keepdim: bool = False) -> Tensor:
        v = u if v is None else v
        self._validate("inner", x=x, u=u, v=v)
        return _math.form(u, v, keepdim=keepdim)

    def projx(self, x: Tensor) -> Tensor:
        self._validate("projx", x=x)
        return x

    def proju(self, x: Tensor, u: Tensor) -> Tensor:
        self._validate("proju", x=x, u=u)
        return u

    def egrad2rgrad(self, x: Tensor, u: Tensor) -> Tensor:
        self._validate("egrad2rgrad", x=x, u=u)
        return u

    def expmap(self, x: Tensor, u: Tensor) -> Tensor:
        self._validate("expmap", x=x, u=u)
        return x + u

    def expmap0(self, u: Tensor) -> Tensor:
        self._validate("expmap0", u=u)
        return u

    def logmap(self, x: Tensor, y: Tensor) -> Tensor:
        self._validate("logmap", x=x, y=y)
        return y - x

    def logmap0(self, y: Tensor) -> Tensor:
        self._validate("logmap0", y=y)
        return y

    def dist(self, x: Tensor, y: Tensor, *, keepdim: bool = False) -> Tensor:
        self._validate("dist", x=x, y=y)
        delta = y - x
        return _math.sqrt0(_math.form(delta, delta, keepdim=keepdim))

    def dist0(self, y: Tensor, *, keepdim: bool = False) -> Tensor:
        self._validate("dist0", y=y)
        return _math.sqrt0(_math.form(y, y, keepdim=keepdim))

    def transp(self, x: Tensor, y: Tensor, v: Tensor) -> Tensor:
        self._validate("transp", x=x, y=y, v=v)
        return v

    def transp0(self, y: Tensor, u: Tensor) -> Tensor:
        self._validate("transp0", y=y, u=u)
        return u

    def transp0back(self, y: Tensor, u: Tensor) -> Tensor:
        self._validate("transp0back", y=y, u=u)
        return u

    def _check_point_on_manifold(
        self, x: Tensor, *, atol: float | None = None, rtol: float | None = None
    ) -> tuple[bool, str | None]:
        if not bool(torch.isfinite(x).all()):
            return False, f"{self!r}: `x` has non-finite entries"
        return True, None

    def _check_vector_on_tangent(
        self, x: Tensor, u: Tensor, *, atol: float | None = None, rtol: float | None = None
    ) -> tuple[bool, str | None]:
        if not bool(torch.isfinite(u).all()):
            return False, f"{self!r}: `u` has non-finite entries"
        return True, None
