r"""The fused multi-step kernel: all T steps of IF / LIF / ALIF as one autograd Function.

Every neuron of :mod:`msg.neurons.functional` is an affine charge followed by fire and reset:

.. math::
    h_t = k\, v_{t-1} + c\, x_t + d, \qquad
    (k, c, d) = \begin{cases} (1, 1, 0) & \text{IF} \\
                              (1 - \frac{1}{\tau}, \frac{1}{\tau}, \frac{v_r}{\tau}) & \text{LIF, decay\_input} \\
                              (1 - \frac{1}{\tau}, 1, \frac{v_r}{\tau}) & \text{LIF, not decay\_input} \end{cases}

(:math:`v_r := 0` for soft reset). :class:`MultiStepFunction` runs the recurrence without an autograd graph, step by
step into preallocated outputs (for LIF: one ``lerp``, one comparison and one reset op per step), and saves only
:math:`h_t` (plus :math:`b_{t-1}` and the refractory mask for ALIF). Its backward is the adjoint recurrence written
by hand. With :math:`\sigma'_t = \sigma'(h_t - A_t)` (zero while refractory) and the reset's partials
:math:`\partial v/\partial h, \partial v/\partial z, \partial v/\partial A`:

.. math::
    \bar v_t &= k\, \bar h_{t+1} + \bar v^{\text{out}}_t, \qquad
    \bar z_t = \bar z^{\text{out}}_t + (1 - \rho)\, \bar b_t + \tfrac{\partial v}{\partial z}\, \bar v_t \\
    \bar h_t &= \sigma'_t\, \bar z_t + \tfrac{\partial v}{\partial h}\, \bar v_t, \qquad
    \bar A_t = -\sigma'_t\, \bar z_t + \tfrac{\partial v}{\partial A}\, \bar v_t, \qquad
    \bar b_{t-1} = \rho\, \bar b_t + \beta\, \bar A_t, \qquad \bar x_t = c\, \bar h_t

(the :math:`\partial v/\partial z` term vanishes with ``detach_reset``). Parameter gradients accumulate
:math:`\bar h_t v_{t-1}` (:math:`k`), :math:`\bar h_t x_t` (:math:`c`), :math:`\bar h_t` (:math:`d`),
:math:`\bar A_t` (threshold), :math:`\bar A_t b_{t-1}` (:math:`\beta`) and :math:`\bar b_t (b_{t-1} - z_t)`
(:math:`\rho`), reduced to each parameter's shape (scalar or per neuron).

Why step by step and not vectorised over T: on a CPU an elementwise op over a whole :math:`(T, N)` tensor streams
it from memory, while one step of :math:`10^5` floats stays in cache; every temporary of the backward therefore
lives in a one-step buffer allocated once and the surrogate derivative is computed in place
(:meth:`~msg.neurons.surrogate.SurrogateFunction.derivative_`). Measured in ``benchmarks/neuron_kernels.py``.
The result equals :func:`msg.neurons.functional.multistep` over the matching step (tests check values and
gradients in float64).

Shapes:
    - **x_seq:** :math:`(T, N, *)`; **spikes:** :math:`(T, N, *)`; state tensors :math:`(N, *)`;
      per-neuron parameters broadcast against :math:`(N, *)`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from .functional import NeuronState
from .surrogate import SurrogateFunction

__all__ = ["MultiStepFunction", "KernelConfig", "charge_coefficients", "fused_multistep"]

Scalar = float | Tensor
PARAM_NAMES = ("decay", "scale", "bias", "threshold", "beta", "rho")


class KernelConfig(NamedTuple):
    """Non-tensor settings of :class:`MultiStepFunction`."""

    surrogate: SurrogateFunction
    v_reset: float | None
    detach_reset: bool
    refractory: int
    store_v_seq: bool


def charge_coefficients(tau: Scalar | None, v_reset: float | None, decay_input: bool) -> tuple[Scalar, Scalar, Scalar]:
    """``(k, c, d)`` of the affine charge (module docstring); ``tau=None`` is IF."""
    if tau is None:
        return 1.0, 1.0, 0.0
    inv_tau = 1.0 / tau
    bias = 0.0 if v_reset is None else v_reset * inv_tau
    return 1.0 - inv_tau, inv_tau if decay_input else 1.0, bias


def _value(t: Tensor | None) -> Scalar | None:
    """A one-element tensor as a Python number (cheaper scalar ops), otherwise the tensor."""
    return t.item() if t is not None and t.numel() == 1 else t


def _fma(base: Tensor, coef: Scalar, other: Tensor, out: Tensor) -> Tensor:
    """``out = base + coef * other`` for a Python or tensor ``coef``."""
    if isinstance(coef, Tensor):
        return torch.addcmul(base, coef, other, out=out)
    return torch.add(base, other, alpha=coef, out=out)


def _charge(x: Tensor, v: Tensor, k: Scalar, c: Scalar, d: Scalar, out: Tensor) -> Tensor:
    r"""``out = k v + c x + d`` with as few passes as the coefficients allow (one for IF and for LIF with
    ``decay_input``, where :math:`c = 1 - k` makes it ``lerp``)."""
    floats = not any(isinstance(p, Tensor) for p in (k, c))
    if floats and c == 1.0:
        torch.add(x, v, alpha=k, out=out)
    elif floats and c + k == 1.0:
        torch.lerp(v, x, c, out=out)
    else:
        torch.mul(x, c, out=out)
        _fma(out, k, v, out=out)
    if isinstance(d, Tensor) or d != 0.0:
        out.add_(d)
    return out


def _reset(h: Tensor, z: Tensor, level: Scalar, v_reset: float | None, out: Tensor) -> Tensor:
    """Post-reset membrane: ``h - z * level`` (soft) or ``v_reset`` where ``z`` fired (hard)."""
    if v_reset is None and isinstance(level, Tensor):
        return torch.addcmul(h, z, level, value=-1.0, out=out)
    if v_reset is None:
        return torch.add(h, z, alpha=-level, out=out)
    # h - h z is exactly h or 0, and adding z v_r then gives exactly v_r: the reference's (1 - z) h + z v_r
    torch.addcmul(h, h, z, value=-1.0, out=out)
    return out.add_(z, alpha=v_reset) if v_reset != 0.0 else out


def _level(thr: Scalar, beta: Scalar | None, b: Tensor | None, out: Tensor) -> Scalar:
    r"""Firing level :math:`A = \vartheta + \beta b` (just :math:`\vartheta` without adaptation)."""
    if b is None:
        return thr
    return torch.mul(b, beta, out=out).add_(thr)


def _forward(
    x: Tensor,
    state: NeuronState,
    params: tuple[Tensor | None, ...],
    cfg: KernelConfig,
    train: bool,
) -> tuple[Tensor, ...]:
    """The in-place recurrence over ``params = (decay, scale, bias, threshold, beta, rho)``. Returns
    ``spikes, v_out, b, r, h_seq, b_seq, allowed_seq``; the last three are saved for the backward (``None``
    unless ``train``)."""
    k, c, d, thr, beta, rho = (_value(p) for p in params)
    T, step_shape = x.shape[0], x.shape[1:]
    adaptive, refractory = state.b is not None, cfg.refractory > 0
    spikes = torch.empty_like(x)
    v_out = x.new_empty((T if cfg.store_v_seq else 1, *step_shape))
    h_seq = torch.empty_like(x) if train else None
    h_buf = None if train else torch.empty_like(state.v)
    b = b_seq = level_buf = None
    if adaptive:
        b, level_buf = state.b.clone(), torch.empty_like(state.v)
        b_seq = torch.empty_like(x) if train else None
    r = allowed = allowed_seq = None
    if refractory:
        r, allowed = state.r.clone(), torch.empty(step_shape, dtype=torch.bool, device=x.device)
        allowed_seq = torch.empty(x.shape, dtype=torch.bool, device=x.device) if train else None
    v = state.v
    for t in range(T):
        h = _charge(x[t], v, k, c, d, out=h_seq[t] if train else h_buf)
        if adaptive and train:
            b_seq[t].copy_(b)
        level = _level(thr, beta, b, level_buf)
        z = torch.ge(h, level, out=spikes[t])
        if refractory:
            torch.le(r, 0, out=allowed)
            z.mul_(allowed)
            if train:
                allowed_seq[t].copy_(allowed)
        v = _reset(h, z, level, cfg.v_reset, out=v_out[t] if cfg.store_v_seq else v_out[0])
        if adaptive:
            b.mul_(rho)
            _fma(b, 1.0 - rho, z, out=b)
        if refractory:
            r.sub_(1.0).clamp_min_(0.0).masked_fill_(z > 0, float(cfg.refractory))
    return spikes, v_out, b, r, h_seq, b_seq, allowed_seq


class MultiStepFunction(torch.autograd.Function):
    """Fused T-step neuron. ``apply(x_seq, v0, b0, r0, decay, scale, bias, threshold, beta, rho, cfg)`` returns
    ``(spikes, v_out, b_T, r_T)``: ``v_out`` is the post-reset trace :math:`(T, N, *)` with ``cfg.store_v_seq``,
    else the final membrane as :math:`(1, N, *)`. ``b0, r0, beta, rho`` may be ``None`` (no adaptation / no
    refractory period)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, v0: Tensor, b0: Tensor | None, r0: Tensor | None, *rest: Any) -> tuple:
        *params, cfg = rest
        spikes, v_out, b, r, h_seq, b_seq, allowed_seq = _forward(x, NeuronState(v0, b0, r0), params, cfg, True)
        # x only for the gradient of the input scale (learnable tau with decay_input)
        ctx.save_for_backward(x if ctx.needs_input_grad[5] else None, h_seq, spikes, v0, b_seq, allowed_seq, *params)
        ctx.cfg = cfg
        ctx.set_materialize_grads(False)
        if r is not None:
            ctx.mark_non_differentiable(r)
        return spikes, v_out, b, r

    @staticmethod
    def backward(ctx: Any, g_spikes: Tensor | None, g_v: Tensor | None, g_b: Tensor | None, _: Any) -> tuple:
        x, h_seq, z_seq, v0, b_seq, allowed, *params = ctx.saved_tensors
        cfg: KernelConfig = ctx.cfg
        needs = ctx.needs_input_grad
        need = dict(zip(PARAM_NAMES, needs[4:10], strict=True))
        k, c, d, thr, beta, rho = (_value(p) for p in params)
        T, hard, adaptive, v_r = h_seq.shape[0], cfg.v_reset is not None, b_seq is not None, cfg.v_reset
        scale_x = isinstance(c, Tensor) or c != 1.0
        need_level = need["threshold"] or need["beta"] or adaptive
        # every per-step temporary lives in a preallocated buffer of one step: the loop stays in cache
        sg, gz, gv, g_level, level_buf, v_prev = (torch.empty_like(v0) for _ in range(6))
        gh_bufs = (torch.empty_like(v0), torch.empty_like(v0)) if scale_x else None
        zeros = torch.zeros_like(v0)
        gb = (zeros.clone() if g_b is None else g_b.clone()) if adaptive else None
        acc = {name: torch.zeros_like(v0) for name in PARAM_NAMES if need[name]}
        g_x = torch.empty_like(h_seq)
        gh = None
        for t in range(T - 1, -1, -1):
            h, z = h_seq[t], z_seq[t]
            b_prev = b_seq[t] if adaptive else None
            level = _level(thr, beta, b_prev, level_buf)
            cfg.surrogate.derivative_(torch.sub(h, level, out=sg))
            if allowed is not None:
                sg.mul_(allowed[t])
            # adjoint of v_t: through h_{t+1}, plus the stored trace / final state
            has_gv = gh is not None
            if has_gv:
                torch.mul(gh, k, out=gv)
            if g_v is not None and (cfg.store_v_seq or t == T - 1):
                g_ext = g_v[t] if cfg.store_v_seq else g_v[0]
                if has_gv:
                    gv.add_(g_ext)
                else:
                    gv.copy_(g_ext)
                has_gv = True
            # total adjoint of z_t: output, adaptation b_t, and the reset (unless detached)
            gz_t = zeros if g_spikes is None else g_spikes[t]
            if adaptive:
                gz_t = _fma(gz_t, 1.0 - rho, gb, out=gz)
            if has_gv and not cfg.detach_reset:
                if hard:
                    gz_t = torch.addcmul(gz_t, gv, h, value=-1.0, out=gz)
                    if v_r != 0.0:
                        gz.add_(gv, alpha=v_r)
                elif isinstance(level, Tensor):
                    gz_t = torch.addcmul(gz_t, gv, level, value=-1.0, out=gz)
                else:
                    gz_t = torch.add(gz_t, gv, alpha=-level, out=gz)
            # adjoint of h_t: sigma' * gz + (dv/dh) * gv
            gh = gh_bufs[t % 2] if scale_x else g_x[t]
            if not has_gv:
                torch.mul(sg, gz_t, out=gh)
            elif hard:
                torch.addcmul(gv, gv, z, value=-1.0, out=gh).addcmul_(sg, gz_t)
            else:
                torch.addcmul(gv, sg, gz_t, out=gh)
            if scale_x:
                torch.mul(gh, c, out=g_x[t])
            if need_level:
                torch.mul(sg, gz_t, out=g_level).neg_()
                if has_gv and not hard:
                    g_level.addcmul_(gv, z, value=-1.0)
                if "threshold" in acc:
                    acc["threshold"].add_(g_level)
                if "beta" in acc:
                    acc["beta"].addcmul_(g_level, b_prev)
            if adaptive:
                if "rho" in acc:
                    acc["rho"].addcmul_(gb, b_prev).addcmul_(gb, z, value=-1.0)
                gb.mul_(rho)
                _fma(gb, beta, g_level, out=gb)
            if "decay" in acc:
                if t > 0:
                    level_prev = _level(thr, beta, b_seq[t - 1] if adaptive else None, v_prev)
                    _reset(h_seq[t - 1], z_seq[t - 1], level_prev, v_r, out=v_prev)
                acc["decay"].addcmul_(gh, v_prev if t > 0 else v0)
            if "scale" in acc:
                acc["scale"].addcmul_(gh, x[t])
            if "bias" in acc:
                acc["bias"].add_(gh)
        shapes = dict(zip(PARAM_NAMES, (p.shape if p is not None else None for p in params), strict=True))
        grads = {name: a.sum_to_size(shapes[name]) for name, a in acc.items()}
        return (
            g_x,
            gh * k if needs[1] else None,
            gb if adaptive and needs[2] else None,
            None,
            *(grads.get(name) for name in PARAM_NAMES),
            None,
        )


def fused_multistep(
    x_seq: Tensor,
    state: NeuronState,
    surrogate: SurrogateFunction,
    decay: Scalar,
    input_scale: Scalar,
    bias: Scalar,
    v_threshold: Scalar,
    v_reset: float | None,
    detach_reset: bool = False,
    beta: Scalar | None = None,
    rho: Scalar | None = None,
    refractory: int = 0,
    store_v_seq: bool = False,
) -> tuple[Tensor, NeuronState, Tensor | None]:
    """Run T steps of the affine-charge neuron (module docstring) in one fused kernel.

    ``(decay, input_scale, bias)`` is :math:`(k, c, d)` from :func:`charge_coefficients`; ``beta``/``rho`` (with
    ``state.b``) switch on ALIF adaptation and ``refractory`` (with ``state.r``) the refractory period. Without
    autograd (``torch.no_grad()`` or no input requiring grad) the recurrence runs directly and saves nothing.

    Returns ``(spikes, final_state, v_seq)``; ``v_seq`` is the post-reset membrane trace with ``store_v_seq``
    and ``None`` otherwise.
    """
    if not isinstance(surrogate, SurrogateFunction):
        raise ValueError(
            f"fused_multistep: surrogate must be a SurrogateFunction (its derivative is called), got {surrogate!r}"
        )
    if x_seq.dim() == 0 or x_seq.shape[0] == 0:
        raise ValueError(f"fused_multistep: x_seq needs a non-empty time dimension, got shape {tuple(x_seq.shape)}")
    like = dict(dtype=x_seq.dtype, device=x_seq.device)
    params = tuple(
        None if p is None else torch.as_tensor(p, **like) for p in (decay, input_scale, bias, v_threshold, beta, rho)
    )
    cfg = KernelConfig(surrogate, v_reset, detach_reset, refractory, store_v_seq)
    tensors = (x_seq, *state, *params)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        spikes, v_out, b, r = MultiStepFunction.apply(x_seq, *state, *params, cfg)
    else:
        spikes, v_out, b, r = _forward(x_seq, state, params, cfg, False)[:4]
    return spikes, NeuronState(v_out[-1], b, r), v_out if store_v_seq else None
