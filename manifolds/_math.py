r"""Stable scalar math for the manifold maps: every numerical guard of :mod:`msg.manifolds` lives here.

The closed-form maps of the hyperboloid and the sphere need a handful of scalar functions of a geodesic
length :math:`\theta` (in units of the radius :math:`R = 1/\sqrt{|K|}`). Written naively, each one fails
somewhere: :math:`\sinh\theta/\theta` is ``0/0`` at :math:`\theta = 0`, :math:`\sqrt{\cdot}` has an infinite
derivative at 0 (autograd then multiplies ``inf`` by 0 and returns NaN), :math:`\cosh` overflows, ``arcosh`` of a
rounded ``1 - 1e-8`` is NaN. This module takes all of them as functions of :math:`s = \theta^2` (the squared norm
the maps compute anyway), which makes each of them analytic at :math:`s = 0`, and guards them as follows.

Guards (each is named, and none changes a result at ordinary inputs):

``EPS[dtype]`` — :func:`eps`
    The smallest quantity treated as non-zero where a formula divides by something that vanishes only at a
    singular configuration (the cut locus of the sphere: antipodal points, where the logarithm and the parallel
    transport are undefined). A table for ``float16``, ``bfloat16``, ``float32`` and ``float64``, each entry a
    few times above the dtype's resolution ``torch.finfo(dtype).eps`` (9.8e-4, 7.8e-3, 1.2e-7, 2.2e-16).

``TOLERANCE[dtype]`` — :func:`check_tolerance`
    Default ``atol``/``rtol`` of ``check_point_on_manifold`` and ``check_vector_on_tangent``: the constraint
    residual (for instance :math:`|K\langle x, x\rangle - 1|`) that points produced by this package stay within.

Series threshold — :func:`series_threshold`
    For :math:`s < \epsilon_{\text{dtype}}^{1/4}` (1.2e-4 in float64, 1.9e-2 in float32) the functions below use
    their Taylor series in :math:`s` (five terms; the first omitted one is below :math:`0.1\,\epsilon^{5/4}`),
    above it the closed form. The closed form is accurate in value everywhere, but autograd's derivative of
    e.g. :math:`\sinh\sqrt{s}/\sqrt{s}` cancels like :math:`\epsilon/s`; at the threshold that costs
    :math:`\epsilon^{3/4}` relative (2e-12 in float64). Both branches are evaluated on guarded inputs (the
    "double ``where``"), so the branch not taken never produces a NaN gradient.

``MAX_COSH_ARG[dtype]`` — :func:`max_cosh_arg`
    :func:`cosh_sinhc_sqrt` bounds the argument of :math:`\cosh`/:math:`\sinh` at this value: 300 in float64,
    30 in float32 and bfloat16, 3 in float16. Every later map takes Minkowski products of the coordinates of the
    result, which are :math:`\sim R\cosh(\theta_x + \theta)` for a step of length :math:`\theta R` from a
    point at distance :math:`\theta_x R` from the origin; the bound keeps their squares finite for
    :math:`\theta_x` up to 50 (float64), 13 (float32) and 1.5 (float16; the hyperboloid in half precision is
    for storage, not arithmetic). A longer step saturates: the exponential map returns the point at distance
    ``MAX_COSH_ARG * R`` along the same geodesic, never ``inf``. Steps that long carry no information in these
    dtypes anyway (float32 keeps no digits of a distance beyond ~10 R).

Clamps before ``sqrt``, ``arcosh``, divisions
    :func:`sqrt0` reads negative rounding noise as 0 and has a zero (sub)gradient at 0; the ``*_sqrt`` functions
    read ``s < 0`` as 0 (``s`` is a squared norm, negative only by rounding). ``arcosh`` is never called: distances
    are :math:`2R\operatorname{arsinh}\sqrt{s}` / :math:`2R\arcsin\sqrt{s}` of the squared half chord
    (:func:`asinh_sqrt`, :func:`asin_sqrt`), which keep full relative accuracy for nearby points where
    ``arcosh(1 + tiny)`` loses half the digits; their derivatives are 0 at ``s = 0`` (a distance has no gradient
    at coincident points; 0 is the subgradient) and ``asin_sqrt`` clamps :math:`1 - s` at ``EPS**2`` at the
    antipode.

Two primitives are not scalar functions: :func:`form`, the Euclidean or Minkowski bilinear form of two batches of
vectors, and :func:`half_chord`, the squared half chord :math:`h = K\langle y - x, y - x\rangle/4` in which the
logarithm and the distance are written. Their backward passes are written out — the VJP of a
bilinear or quadratic polynomial is exact by inspection (``g * J v``, ``g * K/2 * J (y - x)``, ...) — because
autograd would spend two to three extra passes over the ``[..., D+1]`` tensors on them, and these passes are the
whole cost of ``dist``; ``torch.autograd.gradcheck`` covers both in the tests. Every other derivative in
:mod:`msg.manifolds` is autograd's, through the closed forms.

References: the series are the Maclaurin series of the named functions (Abramowitz & Stegun, Handbook of
Mathematical Functions, ch. 4). Half-chord (half-angle) forms for short distances: W. Kahan, "How futile are
mindless assessments of roundoff in floating-point computation?" (2006).
"""

from __future__ import annotations

import functools
import math

import torch

__all__ = [
    "EPS",
    "TOLERANCE",
    "MAX_COSH_ARG",
    "eps",
    "check_tolerance",
    "max_cosh_arg",
    "series_threshold",
    "sqrt0",
    "cosh_sinhc_sqrt",
    "cos_sinc_sqrt",
    "asinhc_sqrt",
    "atanc_sqrt",
    "asin_sqrt",
    "asinh_sqrt",
    "form",
    "half_chord",
]

EPS: dict[torch.dtype, float] = {
    torch.float16: 4e-3,
    torch.bfloat16: 3e-2,
    torch.float32: 1e-6,
    torch.float64: 1e-12,
}

TOLERANCE: dict[torch.dtype, float] = {
    torch.float16: 2e-2,
    torch.bfloat16: 1e-1,
    torch.float32: 1e-5,
    torch.float64: 1e-10,
}

MAX_COSH_ARG: dict[torch.dtype, float] = {
    torch.float16: 3.0,
    torch.bfloat16: 30.0,
    torch.float32: 30.0,
    torch.float64: 300.0,
}

# Maclaurin coefficients in s = theta^2 (lowest order first).
_COSH = (1.0, 1.0 / 2, 1.0 / 24, 1.0 / 720, 1.0 / 40320)  # cosh(sqrt(s))
_SINHC = (1.0, 1.0 / 6, 1.0 / 120, 1.0 / 5040, 1.0 / 362880)  # sinh(sqrt(s)) / sqrt(s)
_COS = (1.0, -1.0 / 2, 1.0 / 24, -1.0 / 720, 1.0 / 40320)  # cos(sqrt(s))
_SINC = (1.0, -1.0 / 6, 1.0 / 120, -1.0 / 5040, 1.0 / 362880)  # sin(sqrt(s)) / sqrt(s)
_ASINHC = (1.0, -1.0 / 6, 3.0 / 40, -5.0 / 112, 35.0 / 1152)  # arsinh(sqrt(s)) / sqrt(s)
_ATANC = (1.0, -1.0 / 3, 1.0 / 5, -1.0 / 7, 1.0 / 9)  # arctan(sqrt(s)) / sqrt(s)


def _lookup(table: dict[torch.dtype, float], dtype: torch.dtype, what: str) -> float:
    try:
        return table[dtype]
    except KeyError:
        known = ", ".join(str(d).replace("torch.", "") for d in table)
        raise ValueError(f"{what}: no entry for dtype {dtype}; floating dtypes supported: {known}") from None


def eps(dtype: torch.dtype) -> float:
    """Guard epsilon of ``dtype`` (``EPS`` table): smallest denominator at a singular configuration."""
    return _lookup(EPS, dtype, "eps")


def check_tolerance(dtype: torch.dtype) -> float:
    """Default ``atol``/``rtol`` of the on-manifold and on-tangent-space checks for ``dtype``."""
    return _lookup(TOLERANCE, dtype, "check_tolerance")


def max_cosh_arg(dtype: torch.dtype) -> float:
    """Largest argument given to ``cosh``/``sinh`` in ``dtype`` (``MAX_COSH_ARG`` table)."""
    return _lookup(MAX_COSH_ARG, dtype, "max_cosh_arg")


def series_threshold(dtype: torch.dtype) -> float:
    """``s`` below which the ``*_sqrt`` functions use their Taylor series: ``finfo(dtype).eps ** 0.25``."""
    return torch.finfo(dtype).eps ** 0.25


def sqrt0(x: torch.Tensor) -> torch.Tensor:
    r"""Square root of a squared norm: ``sqrt(max(x, 0))`` with gradient 0 where ``x <= 0``.

    A norm is not differentiable at 0; this picks the subgradient 0 instead of autograd's ``inf * 0 = NaN``.
    """
    positive = x > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, x, 1.0)), 0.0)


def _horner(s: torch.Tensor, coeffs: tuple[float, ...]) -> torch.Tensor:
    out = torch.full_like(s, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        out = out * s + c
    return out


def _branches(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split ``s >= 0`` into the series and closed-form regimes, each fed a harmless value in the other's."""
    s = s.clamp_min(0)
    threshold = series_threshold(s.dtype)
    small = s < threshold
    return small, torch.where(small, s, 0.0), torch.where(small, threshold, s)


def cosh_sinhc_sqrt(s: torch.Tensor, max_arg: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``(cosh(t), sinh(t) / sqrt(s))`` with ``t = min(sqrt(s), max_arg)``, analytic at ``s = 0``.

    Without the bound (``t = sqrt(s)``) these are :math:`\cosh\theta` and :math:`\sinh\theta/\theta` for
    :math:`s = \theta^2`, the coefficients of the hyperbolic exponential map. With ``max_arg`` (see
    ``MAX_COSH_ARG``) a longer geodesic saturates at length ``max_arg``: the second value still divides by the
    true :math:`\theta`, so ``sinhc * u`` keeps the direction of ``u`` and has length :math:`\sinh(t)`.
    """
    small, s_series, s_closed = _branches(s)
    theta = torch.sqrt(s_closed)
    t = theta if max_arg is None else theta.clamp_max(max_arg)
    cosh = torch.where(small, _horner(s_series, _COSH), torch.cosh(t))
    sinhc = torch.where(small, _horner(s_series, _SINHC), torch.sinh(t) / theta)
    return cosh, sinhc


def cos_sinc_sqrt(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``(cos(sqrt(s)), sin(sqrt(s)) / sqrt(s))``, analytic at ``s = 0``: the spherical exponential map."""
    small, s_series, s_closed = _branches(s)
    theta = torch.sqrt(s_closed)
    cos = torch.where(small, _horner(s_series, _COS), torch.cos(theta))
    sinc = torch.where(small, _horner(s_series, _SINC), torch.sin(theta) / theta)
    return cos, sinc


def asinhc_sqrt(s: torch.Tensor) -> torch.Tensor:
    r"""``arsinh(sqrt(s)) / sqrt(s)``, analytic at ``s = 0``: the hyperbolic logarithm's length factor."""
    small, s_series, s_closed = _branches(s)
    root = torch.sqrt(s_closed)
    return torch.where(small, _horner(s_series, _ASINHC), torch.asinh(root) / root)


def atanc_sqrt(s: torch.Tensor) -> torch.Tensor:
    r"""``arctan(sqrt(s)) / sqrt(s)``, analytic at ``s = 0``: the spherical logarithm's length factor."""
    small, s_series, s_closed = _branches(s)
    root = torch.sqrt(s_closed)
    return torch.where(small, _horner(s_series, _ATANC), torch.atan(root) / root)


class _ArcSqrt(torch.autograd.Function):
    """``asin(sqrt(s))`` (``hyperbolic=False``) or ``asinh(sqrt(s))`` with the guarded derivative."""

    @staticmethod
    def forward(ctx, s: torch.Tensor, hyperbolic: bool) -> torch.Tensor:
        s = s.clamp_min(0) if hyperbolic else s.clamp(0, 1)
        root = s.sqrt()
        ctx.save_for_backward(s, root)
        ctx.hyperbolic = hyperbolic
        return root.asinh() if hyperbolic else root.asin()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        s, root = ctx.saved_tensors
        # d/ds = 1 / (2 sqrt(s) sqrt(1 +- s)): 0 (the subgradient) at s = 0, and 1 - s >= EPS^2 at the cut locus;
        # sqrt(s (1 +- s)) in one root, in place, to keep the pass over the batch short
        other = (1 + s) if ctx.hyperbolic else (1 - s).clamp_min_(eps(s.dtype) ** 2)
        denom = other.mul_(s).sqrt_()  # zero exactly where s is
        return torch.where(denom > 0, grad / denom.mul_(2).masked_fill_(denom == 0, 1.0), 0.0), None


def asin_sqrt(s: torch.Tensor) -> torch.Tensor:
    r"""``arcsin(sqrt(s))`` for ``s`` in ``[0, 1]`` (clamped): half the angle of a chord with :math:`\sin^2 = s`.

    Derivative :math:`1/(2\sqrt{s}\sqrt{1 - s})` with the subgradient 0 at :math:`s = 0` and :math:`1 - s`
    clamped at ``EPS**2`` (the antipode of the sphere), so it is finite everywhere.
    """
    return _ArcSqrt.apply(s, False)


def asinh_sqrt(s: torch.Tensor) -> torch.Tensor:
    r"""``arsinh(sqrt(s))`` for ``s >= 0`` (clamped), derivative :math:`1/(2\sqrt{s}\sqrt{1 + s})`, 0 at ``s = 0``."""
    return _ArcSqrt.apply(s, True)


def _unbroadcast(grad: torch.Tensor, like: torch.Tensor | torch.Size) -> torch.Tensor:
    """``grad`` summed over the dimensions that broadcasting added to ``like`` (a tensor: also in its dtype)."""
    shape = like if isinstance(like, torch.Size) else like.shape
    if grad.shape != shape:
        grad = grad.sum_to_size(shape)
    return grad if isinstance(like, torch.Size) else grad.to(like.dtype)


def rowdot(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``sum(u * v, -1)`` (``torch.linalg.vecdot``) by the fastest exact route. A squared norm (``v is u``) is
    ``vector_norm(u) ** 2`` (one pass, no temporary; within 3 ulps). On a CPU, for equal contiguous float32/float64
    shapes with many rows and a short last dimension, a batched ``[1, D] @ [D, 1]`` product, because ``vecdot``
    materialises ``u * v`` first. One thread, 1e5 x 33 rows: 1.5-1.6 vs 1.8-2.6 ms (float32) and 2.1 vs 2.2-5.2 ms
    (float64) for two tensors; 0.75 vs 1.0 and 1.0 vs 2.2 ms for a squared norm; for few rows or a long last
    dimension ``vecdot`` stays. Forward only: callers own the backward."""
    if v is u and u.is_floating_point():
        return torch.linalg.vector_norm(u, dim=-1).square()
    if (
        u.device.type == "cpu"
        and u.shape == v.shape
        and u.dim() >= 2
        and u.dtype in (torch.float32, torch.float64)
        and v.dtype == u.dtype
        and u.shape[-1] <= ROWDOT_MAX_DIM
        and u.numel() >= ROWDOT_MIN_ROWS * u.shape[-1]
        and u.is_contiguous()
        and v.is_contiguous()
    ):
        return torch.matmul(u.unsqueeze(-2), v.unsqueeze(-1)).squeeze(-1).squeeze(-1)
    return torch.linalg.vecdot(u, v)


ROWDOT_MIN_ROWS = 4096
""":func:`rowdot` uses the batched product from this many rows on (below it the call overhead dominates)."""
ROWDOT_MAX_DIM = 256
""":func:`rowdot` uses the batched product up to this last dimension (beyond it ``vecdot`` streams faster)."""


class _Form(torch.autograd.Function):
    """``sum_i s_i u_i v_i`` over the last dimension, ``s = (-1, 1, ..., 1)`` (Minkowski) or all ones."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, v: torch.Tensor, minkowski: bool) -> torch.Tensor:
        ctx.minkowski, ctx.same = minkowski, u is v
        ctx.save_for_backward(u) if ctx.same else ctx.save_for_backward(u, v)
        if not minkowski:
            return rowdot(u, v)
        # the full contiguous dot product and one strided column, rather than a dot over the strided [..., 1:]
        return rowdot(u, v) - 2 * (u[..., 0] * v[..., 0])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        g = grad.unsqueeze(-1)

        def signed(t: torch.Tensor) -> torch.Tensor:
            if ctx.minkowski:
                t[..., 0].neg_()
            return t

        if ctx.same:
            (u,) = ctx.saved_tensors
            return _unbroadcast(signed(2 * g * u), u), None, None
        u, v = ctx.saved_tensors
        grad_u = _unbroadcast(signed(g * v), u) if ctx.needs_input_grad[0] else None
        grad_v = _unbroadcast(signed(g * u), v) if ctx.needs_input_grad[1] else None
        return grad_u, grad_v, None


def form(u: torch.Tensor, v: torch.Tensor, *, minkowski: bool = False, keepdim: bool = False) -> torch.Tensor:
    r"""Bilinear form over the last dimension: :math:`\langle u, v\rangle = \sum_i u_i v_i`, or with
    ``minkowski=True`` :math:`-u_0 v_0 + \sum_{i\ge1} u_i v_i`. Broadcasts; exact VJP (module docstring).

    Pass the same tensor twice for a quadratic form (``form(d, d)``): its backward is then a single pass.
    """
    out = _Form.apply(u, v, minkowski)
    return out.unsqueeze(-1) if keepdim else out


class _HalfChord(torch.autograd.Function):
    """``(h, y - x)``. For the Minkowski form, the rows where ``h = (1 - K<x, y>)/2`` is the better-conditioned
    expression (usually few: pairs at very different distances from the origin) are recomputed from it, by index,
    in the forward and in the backward, so they cost in proportion to their number."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, y: torch.Tensor, k: torch.Tensor, minkowski: bool):
        ctx.set_materialize_grads(False)
        ctx.minkowski = minkowski
        delta = y - x
        chord = rowdot(delta, delta).unsqueeze(-1)
        rows = xr = yr = direct = None
        if minkowski:
            x0, y0 = x[..., :1].contiguous(), y[..., :1].contiguous()  # strided columns: read once
            d0_sq, x0y0 = (y0 - x0).square(), x0 * y0
            chord = chord - 2 * d0_sq
            use_direct = d0_sq > x0y0
            if bool(use_direct.any()):
                n = delta.shape[-1]
                rows = use_direct.reshape(-1).nonzero().squeeze(-1)
                xr = x.expand_as(delta).reshape(-1, n)[rows]
                yr = y.expand_as(delta).reshape(-1, n)[rows]
                direct = rowdot(xr, yr) - 2 * xr[:, 0] * yr[:, 0]
        h = k / 4 * chord
        if rows is not None:
            h.view(-1)[rows] = (1 - k * direct) / 2
        # the difference rather than x and y: one tensor instead of two (a caller's x and y may be temporaries),
        # and the backward needs no pass to recompute it
        ctx.save_for_backward(delta, k, chord, rows, xr, yr, direct)
        ctx.shapes = (x.shape, y.shape)
        return h, delta

    @staticmethod
    def backward(ctx, grad_h: torch.Tensor, grad_delta: torch.Tensor):
        delta, k, chord, rows, xr, yr, direct = ctx.saved_tensors
        x_shape, y_shape = ctx.shapes
        if grad_h is None:
            if grad_delta is None:
                return None, None, None, None
            return _unbroadcast(-grad_delta, x_shape), _unbroadcast(grad_delta, y_shape), None, None
        # dh/dy, dh/dx before the sign J of the Minkowski form: K/2 (y - x), -K/2 (y - x) from the chord;
        # -K/2 x, -K/2 y in the direct rows. Each gradient is one fresh [..., D+1] tensor, fixed up in place.
        c = grad_h * (k / 2)
        if rows is not None:
            c_rows = c.reshape(-1)[rows].unsqueeze(-1)
            c.view(-1)[rows] = 0
        grad_y = torch.mul(delta, c)
        grad_x = -grad_y
        if rows is not None:
            n = grad_y.shape[-1]
            grad_y.view(-1, n)[rows] = xr * -c_rows
            grad_x.view(-1, n)[rows] = yr * -c_rows
        if ctx.minkowski:
            grad_y[..., 0].neg_()
            grad_x[..., 0].neg_()
        if grad_delta is not None:
            grad_y.add_(grad_delta)
            grad_x.sub_(grad_delta)
        grad_k = None
        if ctx.needs_input_grad[2]:
            dh_dk = chord / 4
            if rows is not None:
                dh_dk.view(-1)[rows] = -direct / 2
            grad_k = (grad_h * dh_dk).sum().to(k.dtype)
        return _unbroadcast(grad_x, x_shape), _unbroadcast(grad_y, y_shape), grad_k, None


class _DirectHalfChord(torch.autograd.Function):
    """``h = (1 - K<x, y>)/2`` from the precomputed ``<x, y>`` (``direct``), with the few ``candidate`` rows
    (where the pair is close compared with its size) taken from the chord ``K<y - x, y - x>/4`` instead, gathered by
    index in the forward and in the backward so that they cost in proportion to their number."""

    @staticmethod
    def forward(ctx, x, y, k, minkowski: bool, direct, h, x0y0, candidate):
        ctx.minkowski = minkowski
        shape = torch.broadcast_shapes(x.shape, y.shape)
        h = h.expand(*shape[:-1], 1)
        rows = chord = delta = None
        if candidate is not None:
            rows, delta = _close_rows(x, y, shape, candidate)
            chord, sq = _chord(delta, minkowski)
            if minkowski:  # the chord only where its own error bound, eps |K| |y - x|^2 / 4, is the smaller one
                better = sq <= 4 * x0y0.expand(*shape[:-1], 1).reshape(-1).index_select(0, rows)
                rows, chord, delta = rows[better], chord[better], delta[better]
            h = h.contiguous()
            h.view(-1).index_copy_(0, rows, k / 4 * chord)
        ctx.save_for_backward(x, y, k, direct, rows, chord, delta)
        return h

    @staticmethod
    def backward(ctx, grad_h):
        x, y, k, direct, rows, chord, delta = ctx.saved_tensors
        shape = grad_h.shape[:-1] + (max(x.shape[-1], y.shape[-1]),)
        # direct rows: dh/dy = -K/2 J x, dh/dx = -K/2 J y; chord rows: dh/dy = K/2 J (y - x) = -dh/dx (c = -K/2 g)
        c = grad_h * (k / -2)
        step_y = None if rows is None else c.reshape(-1).index_select(0, rows).unsqueeze(-1).neg_() * delta
        grad_x, grad_y = _direct_grads(x, y, c, shape, rows, step_y)
        if ctx.minkowski:
            grad_y[..., 0].neg_()
            grad_x[..., 0].neg_()
        grad_k = None
        if ctx.needs_input_grad[2]:
            dh_dk = -direct / 2
            if rows is not None:
                dh_dk = dh_dk.expand_as(grad_h).contiguous()
                dh_dk.view(-1).index_copy_(0, rows, chord / 4)
            grad_k = (grad_h * dh_dk).sum().to(k.dtype)
        return _unbroadcast(grad_x, x), _unbroadcast(grad_y, y), grad_k, None, None, None, None, None


def _rows(t: torch.Tensor, shape: torch.Size, rows: torch.Tensor) -> torch.Tensor:
    """Rows ``rows`` (flat indices into ``shape[:-1]``) of ``t`` broadcast to ``shape``, as ``[len(rows), D]``.

    A broadcast ``t`` is indexed through its expanded view, never materialised: flattening the view would copy the
    whole broadcast (a 1e5 x 33 copy to sample 256 rows of the distances from one point to 1e5 others)."""
    if t.shape == shape:
        return t.reshape(-1, shape[-1]).index_select(0, rows)
    return t.expand(shape)[torch.unravel_index(rows, shape[:-1])]


def _close_rows(x: torch.Tensor, y: torch.Tensor, shape: torch.Size, close: torch.Tensor):
    """``(rows, y - x)`` of the pairs flagged in ``close`` (``[...]`` bool, broadcast to ``shape[:-1]``): flat row
    indices and their differences ``[len(rows), shape[-1]]``."""
    rows = close.expand(shape[:-1]).reshape(-1).nonzero().squeeze(-1)
    return rows, _rows(y, shape, rows) - _rows(x, shape, rows)


def _scaled_rows(c: torch.Tensor, v: torch.Tensor, like: torch.Size) -> torch.Tensor:
    """``c v`` summed to the shape ``like`` of a broadcast input (``c`` ``[..., 1]`` with a row for every row of the
    broadcast, ``v`` ``[..., D]``). A single point (``like`` has ``D`` elements) against a batch whose every row is
    in ``v`` gets the matrix-vector product ``c^T v``, without the ``[..., D]`` product and its sum: 0.4 vs 1.2 ms
    for 1e5 x 33 float32 rows (the distances from one point to many)."""
    dim = v.shape[-1]
    if like != v.shape and math.prod(like) == dim and v.dim() >= 2 and c.numel() * dim == v.numel():
        return (c.reshape(1, -1) @ v.reshape(-1, dim)).reshape(like)
    return _unbroadcast(v * c, like)


def _direct_grads(
    x: torch.Tensor,
    y: torch.Tensor,
    c: torch.Tensor,
    shape: torch.Size,
    rows: torch.Tensor | None,
    step_y: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(grad_x, grad_y)`` of an inner-product formula, ``c y`` and ``c x`` in ``shape``, with the gathered chord
    ``rows`` replaced by ``-step_y`` and ``step_y`` (each gradient is one multiplication, fixed up in place)."""
    if rows is None and x.shape != y.shape:  # one side broadcast: its gradient is a reduction, no [..., D] product
        return _scaled_rows(c, y, x.shape), _scaled_rows(c, x, y.shape)
    grad_y, grad_x = torch.mul(x, c), torch.mul(y, c)
    if grad_y.shape != shape:  # broadcasting left a dimension of size 1: fill it, the rows are indexed below
        grad_y, grad_x = grad_y.expand(shape).contiguous(), grad_x.expand(shape).contiguous()
    if rows is not None:
        dim = shape[-1]
        grad_y.view(-1, dim).index_copy_(0, rows, step_y)
        grad_x.view(-1, dim).index_copy_(0, rows, step_y.neg_())
    return grad_x, grad_y


def _chord(delta: torch.Tensor, minkowski: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(<delta, delta>, |delta|^2)`` over the last dimension (the form, and the Euclidean square for the bound)."""
    sq = rowdot(delta, delta)
    return (sq - 2 * delta[..., 0].square() if minkowski else sq), sq


GATHER_FRACTION = 0.1
""":func:`dist_half_chord` gathers the close pairs by index while they are at most this fraction of the batch."""
SAMPLE_ROWS = 256
""":func:`dist_half_chord` first estimates that fraction from this many evenly spaced rows of a larger batch."""


@functools.lru_cache(maxsize=32)
def _sample_index(rows: int, device: torch.device) -> torch.Tensor:
    """:data:`SAMPLE_ROWS` evenly spaced row indices of a batch of ``rows`` rows (cached: batch sizes repeat), the
    same rows as the strided view of :func:`_mostly_close`."""
    return torch.arange(0, (rows // SAMPLE_ROWS) * SAMPLE_ROWS, rows // SAMPLE_ROWS, device=device)


def _mostly_close(
    x: torch.Tensor, y: torch.Tensor, k: torch.Tensor, shape: torch.Size, rows: int, minkowski: bool
) -> bool:
    """Whether more than :data:`GATHER_FRACTION` of the sampled rows are close pairs (:func:`_close_pairs`).

    Every ``rows // SAMPLE_ROWS``-th row: a strided view of contiguous full-shape inputs (no gather), else indexed."""
    x, y = x.detach(), y.detach()
    if x.shape == shape == y.shape and x.is_contiguous() and y.is_contiguous():
        step = rows // SAMPLE_ROWS
        xs, ys = (t.view(-1, shape[-1])[: step * SAMPLE_ROWS : step] for t in (x, y))
    else:
        sample = _sample_index(rows, x.device)
        xs, ys = _rows(x, shape, sample), _rows(y, shape, sample)
    return int(_close_pairs(xs, ys, k.detach(), minkowski)[3].sum()) > GATHER_FRACTION * SAMPLE_ROWS


def _close_pairs(x: torch.Tensor, y: torch.Tensor, k: torch.Tensor, minkowski: bool):
    """``(<x, y>, h from it, x_0 y_0, mask of the pairs too close for it)``, all ``[..., 1]`` and without grad."""
    with torch.no_grad():
        direct = rowdot(x, y).unsqueeze(-1)
        x0y0 = None
        if minkowski:
            x0y0 = x[..., :1] * y[..., :1]
            direct = direct - 2 * x0y0
        h = (1 - k * direct) / 2
        close = (h.abs() < (k.abs() / 16) * x0y0) if minkowski else (h < 1 / 32)
    return direct, h, x0y0, close


def dist_half_chord(x: torch.Tensor, y: torch.Tensor, k: torch.Tensor, *, minkowski: bool = False) -> torch.Tensor:
    r"""The squared half chord ``h`` of :func:`half_chord` as ``[..., 1]``, without ``y - x`` (what ``dist`` needs).

    ``h = (1 - K<x, y>)/2`` costs one inner product (no ``[..., D+1]`` temporary) and is accurate unless the pair
    is close compared with its size: its rounding error is :math:`\sim\epsilon |K| |x||y|` (a few ulps of the
    dot product). Pairs where that could exceed about ten ulps of the distance (``|h| < |K| x_0 y_0 / 16`` on the
    hyperboloid, ``h < 1/32`` on the sphere) are close and use the chord. While they are few
    (:data:`GATHER_FRACTION`, estimated first from :data:`SAMPLE_ROWS` evenly spaced rows) they are gathered by
    index; otherwise :func:`half_chord` (the chord in every row) is cheaper. Exact VJP in ``x``, ``y`` and ``k``.
    """
    pairs = _direct_pairs(x, y, k, minkowski)
    if pairs is None:
        return half_chord(x, y, k, minkowski=minkowski)[0]
    direct, h, x0y0, close = pairs
    return _DirectHalfChord.apply(x, y, k, minkowski, direct, h, x0y0, close)


def _direct_pairs(x: torch.Tensor, y: torch.Tensor, k: torch.Tensor, minkowski: bool):
    """The regime of a distance: ``None`` when the close pairs are more than :data:`GATHER_FRACTION` of the batch
    (estimated first from :data:`SAMPLE_ROWS` rows of a larger one), so the chord in every row is cheaper;
    otherwise ``(<x, y>, h, x_0 y_0, close)`` of :func:`_close_pairs`, ``close`` the ``[...]`` mask of the rows to
    gather or ``None`` if there are none."""
    shape = torch.broadcast_shapes(x.shape, y.shape)
    rows = math.prod(shape[:-1])
    if rows > SAMPLE_ROWS and _mostly_close(x, y, k, shape, rows, minkowski):
        return None
    direct, h, x0y0, close = _close_pairs(x, y, k, minkowski)
    count = int(close.sum())
    if count > GATHER_FRACTION * close.numel():
        return None
    return direct, h, x0y0, close.squeeze(-1) if count else None


def half_chord(
    x: torch.Tensor, y: torch.Tensor, k: torch.Tensor, *, minkowski: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Squared half chord :math:`h = K\langle y - x, y - x\rangle/4` as ``[..., 1]``, and ``y - x``.

    On the sphere :math:`h = \sin^2(\theta/2)`, on the hyperboloid :math:`h = -\sinh^2(\theta/2)` with
    :math:`\theta = d(x, y)/R`. Computed from the difference it keeps full relative accuracy for nearby points.
    With ``minkowski=True`` the form cancels for points far from the origin, with an error
    :math:`\sim\epsilon\,(y_0 - x_0)^2`; the equal expression :math:`h = (1 - K\langle x, y\rangle_L)/2` has
    one :math:`\sim\epsilon\,x_0 y_0` instead, and each row takes the smaller (the second is the exact one between
    a point near the origin and a far one). Exact VJP in ``x``, ``y``, ``k`` and through the returned difference.
    """
    return _HalfChord.apply(x, y, k, minkowski)


# ----------------------------------------------------------------------------------------------- sphere distance
class _SphereChordDist(torch.autograd.Function):
    r"""``2R asin(|y - x| / 2R)`` in one Function: the chord's norm, the arcsine and the scale fused, so that the
    backward is one coefficient per row, :math:`\partial\theta/\partial y = (y - x) / (|y - x| \cos(\theta/2R))`
    (0 at ``x == y``, :math:`\cos` clamped at ``EPS`` at the antipode), instead of four chained Functions."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, y: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
        delta = y - x
        n = torch.linalg.vector_norm(delta, dim=-1, keepdim=True)
        two_r = radius * 2
        s = torch.div(n, two_r).clamp_(max=1)  # sin(theta / 2R); above 1 only by rounding at the antipode
        ctx.save_for_backward(delta, n, s)
        ctx.shapes, ctx.coincident = (x.shape, y.shape), _any_zero(n)
        return s.asin().mul_(two_r)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        delta, n, s = ctx.saved_tensors
        # c = grad / (|y - x| cos(theta / 2R)), cos clamped at EPS; 0 where x == y (the subgradient)
        c = grad / torch.mul(s, s).neg_().add_(1).clamp_min_(eps(s.dtype) ** 2).sqrt_().mul_(n)
        if ctx.coincident:
            c.masked_fill_(n == 0, 0.0)
        grad_y = _scaled_rows(c, delta, ctx.shapes[1]) if ctx.needs_input_grad[1] else None
        grad_x = _scaled_rows(c.neg_(), delta, ctx.shapes[0]) if ctx.needs_input_grad[0] else None
        return grad_x, grad_y, None


def _any_zero(n: torch.Tensor) -> bool:
    """Whether any chord length in ``n`` is 0 (``x == y``): one reduction in the forward, so that the backward
    builds the mask for the subgradient (an equality test and a fill, ~0.16 ms on 1e5 rows) only when needed."""
    return n.numel() > 0 and bool(n.amin() == 0)


def sphere_dist(x: torch.Tensor, y: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    r"""Geodesic distance on the sphere of radius ``radius`` (a tensor that needs no gradient), ``[..., 1]``:
    :math:`2R \arcsin(|y - x| / 2R)` from the chord, in every row.

    The chord keeps full relative accuracy for nearby points, where :math:`R \arccos(\langle x, y\rangle/R^2)`
    (geoopt's) cancels; for far points both are within a few ulps, and both lose accuracy near the antipode
    (:math:`\sim\sqrt{\epsilon} R`). So the distance takes no regime decision, unlike :func:`dist_half_chord`
    (which the hyperboloid needs: there the chord's form cancels for points far from the origin). One autograd
    Function with the arcsine fused in. Against an earlier version that sampled the pairs and took the inner
    product for far ones (``benchmarks/manifold_ops.py``, 1e5 x 33, one thread, three runs each, msg / geoopt's
    ``SphereExact.dist``): float32 1.08-1.16 -> 0.94-1.05, float64 1.03-1.10 -> 1.00-1.05. A learnable curvature
    takes the chained form of the same expression (:meth:`Sphere.dist`), which also differentiates in ``K``.
    """
    return _SphereChordDist.apply(x, y, radius)
