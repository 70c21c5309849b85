r"""Equilibrium propagation in discrete time for convergent RNNs with static input.

After Scellier & Bengio, "Equilibrium Propagation: Bridging the Gap between Energy-Based Models and
Backpropagation" (Front. Comput. Neurosci. 2017) and Ernoult, Grollier, Querlioz, Bengio & Scellier, "Updates of
Equilibrium Prop Match Gradients of Backprop Through Time in an RNN with Static Input" (NeurIPS 2019).

A model is an :class:`EnergyModel`: a scalar *primitive function* :math:`\Phi(x, s, \theta)` whose gradient drives
the state. The *free phase* runs

.. math::
    s_{t+1} = \sigma\Big(\frac{\partial \Phi}{\partial s}(x, s_t, \theta)\Big), \qquad t = 0, \dots, T - 1,

to a fixed point :math:`s_*`; the *nudged phase* starts at :math:`s^\beta_0 = s_*` and adds the pull of the cost
:math:`\ell(s, y) = \tfrac12 \lVert o(s) - y \rVert^2`:

.. math::
    s^\beta_{t+1} = \sigma\Big(\frac{\partial \Phi}{\partial s}(x, s^\beta_t, \theta)\Big)
    - \beta\, \frac{\partial \ell}{\partial s}(s^\beta_t, y).

The per-step EP updates are

.. math::
    \Delta^\text{EP}_s(t) = \frac{s^\beta_{t+1} - s^\beta_t}{\beta}, \qquad
    \Delta^\text{EP}_\theta(t) = \frac{1}{\beta}\Big(\frac{\partial \Phi}{\partial \theta}(x, s^\beta_{t+1})
    - \frac{\partial \Phi}{\partial \theta}(x, s^\beta_t)\Big),

and the matching BPTT gradients, on the free trajectory with loss :math:`L = \ell(s_T, y)`, are
:math:`\nabla^\text{BPTT}_s(t) = \partial L / \partial s_{T-t}` and
:math:`\nabla^\text{BPTT}_\theta(t) = \partial L / \partial \theta_{T-t}`, where :math:`\theta_{T-t}` is the copy of
the parameters used by the transition into :math:`s_{T-t}`. The GDU property (Ernoult et al., Theorem 1): when the
dynamics derive from :math:`\Phi` (:math:`\sigma` the identity) and the free phase has converged,
:math:`\Delta^\text{EP}(t) \to -\nabla^\text{BPTT}(t)` as :math:`\beta \to 0` for every :math:`t`. The dynamics and
the EP updates are both obtained by automatic differentiation of :math:`\Phi`, so they stay consistent whatever the
model.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.func import functional_call

__all__ = [
    "EPTrace",
    "EnergyModel",
    "bptt_gradients",
    "ep_gradient",
    "ep_updates",
    "free_phase",
    "gdu_agreement",
    "nudged_phase",
]

State = list[Tensor]


class EnergyModel(nn.Module):
    r"""Base class of a convergent RNN with static input, defined by its primitive function.

    Subclasses implement :meth:`init_state` (the state at :math:`t = 0`, a list of tensors), :meth:`forward`
    (the primitive function :math:`\Phi(x, s)`, summed over the batch to a scalar), :meth:`output` (the part of
    the state the cost reads) and set ``activation`` (:math:`\sigma`, applied element-wise to every state tensor).
    A ``damping`` :math:`d \in [0, 1)` replaces :math:`\Phi` by :math:`\Phi_d` (:meth:`energy`), i.e.
    :math:`s_{t+1} = \sigma(d\, s_t + (1 - d)\, \partial_s \Phi)`: the linearised eigenvalues
    :math:`\lambda` of the undamped map become :math:`d + (1 - d)\lambda`, which for :math:`d = 1/2` and
    :math:`\lvert\lambda\rvert < 1` lie in :math:`(0, 1)`, so the dynamics cannot settle into a period-2
    oscillation. Everything below (EP updates, GDU) holds with :math:`\Phi_d` in place of :math:`\Phi`.

    .. math::
        s_{t+1} = \sigma\Big(\frac{\partial \Phi}{\partial s}(x, s_t, \theta)\Big)
        - \beta\,\frac{\partial \ell}{\partial s}(s_t, y), \qquad
        \ell(s, y) = \tfrac12 \sum_{b} m_b \lVert o_b(s) - y_b \rVert^2 .

    Shapes:
        - **x**: :math:`(B, F)` or whatever the subclass documents (static over time).
        - **state**: list of :math:`(B, D_n)` tensors; **output**: :math:`(B, C)`.
    """

    activation: nn.Module
    damping: float = 0.0

    def energy(self, x: Tensor, state: State, params: dict[str, Tensor] | None = None) -> Tensor:
        r"""The primitive function the dynamics follow, with damping :math:`d`:
        :math:`\Phi_d = \tfrac{d}{2} \sum_n \lVert s_n \rVert^2 + (1 - d)\, \Phi`; ``params`` replaces the
        module's parameters (per-step copies)."""
        if params is None:
            phi = self(x, state)
        else:
            phi = functional_call(self, {**dict(self.named_buffers()), **params}, (x, state))
        if self.damping == 0.0:
            return phi
        return 0.5 * self.damping * sum(s.pow(2).sum() for s in state) + (1.0 - self.damping) * phi

    def init_state(self, x: Tensor) -> State:
        raise NotImplementedError

    def forward(self, x: Tensor, state: State) -> Tensor:
        raise NotImplementedError

    def output(self, state: State) -> Tensor:
        raise NotImplementedError

    def cost(self, state: State, target: Tensor, mask: Tensor | None = None) -> Tensor:
        r"""Squared-error cost :math:`\ell = \tfrac12 \sum_b m_b \lVert o_b(s) - y_b \rVert^2` (a scalar)."""
        err = 0.5 * (self.output(state) - target).pow(2).sum(-1)
        return (err if mask is None else err * mask).sum()

    def step(
        self,
        x: Tensor,
        state: State,
        beta: float = 0.0,
        target: Tensor | None = None,
        mask: Tensor | None = None,
        create_graph: bool = False,
        params: dict[str, Tensor] | None = None,
    ) -> State:
        r"""One transition :math:`s_t \to s_{t+1}` (class docstring); ``beta = 0`` is the free dynamics.

        With ``create_graph`` the new state stays differentiable with respect to ``state`` and the parameters
        (BPTT); ``params`` replaces the module's parameters for this transition (per-step parameter copies).
        """
        with torch.enable_grad():
            leaves = [s if create_graph and s.requires_grad else s.detach().requires_grad_() for s in state]
            drive = torch.autograd.grad(self.energy(x, leaves, params), leaves, create_graph=create_graph)
            new = [self.activation(d) for d in drive]
            if beta == 0.0:
                return new
            pull = torch.autograd.grad(
                self.cost(leaves, target, mask), leaves, create_graph=create_graph, materialize_grads=True
            )
        return [n - beta * g for n, g in zip(new, pull, strict=True)]


def _check_model(fn: str, model: nn.Module) -> None:
    if not isinstance(model, EnergyModel):
        raise ValueError(f"{fn}: `model` must be an EnergyModel, got {type(model).__name__}")


def _check_steps(fn: str, **steps: int) -> None:
    for name, value in steps.items():
        if value < 1:
            raise ValueError(f"{fn}: `{name}` must be a positive integer, got {value}")


def _check_beta(fn: str, beta: float) -> None:
    if beta == 0.0 or not math.isfinite(beta):
        raise ValueError(f"{fn}: `beta` must be a finite non-zero nudging strength, got {beta}")


def free_phase(
    model: EnergyModel, x: Tensor, steps: int, state: State | None = None, tol: float | None = 1e-4
) -> State:
    r"""Run the free dynamics for ``steps`` steps and check that they reached a fixed point.

    .. math::
        s_{t+1} = \sigma\big(\partial_s \Phi(x, s_t)\big), \qquad
        r = \max \lvert s_T - s_{T-1} \rvert \le \text{tol}.

    Args:
        model: the convergent network.
        x: the static input.
        steps: number of steps :math:`T`.
        state: initial state (default ``model.init_state(x)``).
        tol: largest allowed last-step change :math:`r`; ``None`` skips the check. Non-convergent dynamics raise
            ``ValueError`` because EP and the GDU property assume a fixed point.

    Shapes:
        - **output**: the state at :math:`T`, detached, same shapes as ``model.init_state(x)``.
    """
    _check_model("free_phase", model)
    _check_steps("free_phase", steps=steps)
    s = model.init_state(x) if state is None else [t.detach() for t in state]
    prev = s
    for _ in range(steps):
        prev, s = s, model.step(x, s)
    if tol is not None:
        residual = max(float((a - b).abs().max()) for a, b in zip(s, prev, strict=True))
        if not residual <= tol:
            raise ValueError(
                f"free_phase: {type(model).__name__} did not converge: last-step change {residual:.3g} > "
                f"tol={tol} after steps={steps} (shrink the weights, add steps or raise tol)"
            )
    return s


def nudged_phase(
    model: EnergyModel,
    x: Tensor,
    fixed_point: State,
    target: Tensor,
    beta: float,
    steps: int,
    mask: Tensor | None = None,
) -> list[State]:
    r"""Nudged trajectory :math:`s^\beta_0 = s_*, s^\beta_1, \dots, s^\beta_K` (``steps`` = :math:`K`).

    .. math::
        s^\beta_{t+1} = \sigma\big(\partial_s \Phi(x, s^\beta_t)\big) - \beta\, \partial_s \ell(s^\beta_t, y).

    Shapes:
        - **target**: :math:`(B, C)`; **mask**: :math:`(B,)` or ``None``.
        - **output**: :math:`K + 1` states, each shaped like ``fixed_point``.
    """
    _check_model("nudged_phase", model)
    _check_beta("nudged_phase", beta)
    _check_steps("nudged_phase", steps=steps)
    trajectory = [[t.detach() for t in fixed_point]]
    for _ in range(steps):
        trajectory.append(model.step(x, trajectory[-1], beta, target, mask))
    return trajectory


class EPTrace(NamedTuple):
    """Per-step updates or gradients: ``params[name]`` is :math:`(K, *\\text{shape})`, ``states[n]`` is
    :math:`(K, B, D_n)`; index :math:`t` pairs EP's step :math:`t` with BPTT's transition into :math:`s_{T-t}`."""

    params: dict[str, Tensor]
    states: list[Tensor]


def _dphi_dtheta(model: EnergyModel, x: Tensor, state: State) -> tuple[Tensor, ...]:
    with torch.enable_grad():
        params = list(model.parameters())
        return torch.autograd.grad(model.energy(x, state), params, allow_unused=True, materialize_grads=True)


def ep_updates(
    model: EnergyModel,
    x: Tensor,
    target: Tensor,
    beta: float,
    free_steps: int,
    nudged_steps: int,
    mask: Tensor | None = None,
    tol: float | None = 1e-4,
) -> EPTrace:
    r"""Per-step EP updates :math:`\Delta^\text{EP}_\theta(t)` and :math:`\Delta^\text{EP}_s(t)`,
    :math:`t = 0, \dots, K - 1`.

    .. math::
        \Delta^\text{EP}_\theta(t) = \frac{1}{\beta}\big(\partial_\theta \Phi(x, s^\beta_{t+1})
        - \partial_\theta \Phi(x, s^\beta_t)\big), \qquad
        \Delta^\text{EP}_s(t) = \frac{s^\beta_{t+1} - s^\beta_t}{\beta}.

    Args:
        model, x, target, mask: as in :func:`nudged_phase`.
        beta: nudging strength (non-zero).
        free_steps: free-phase length :math:`T`; nudged_steps: :math:`K`.
        tol: convergence tolerance of the free phase (see :func:`free_phase`).

    Shapes:
        - **output**: an :class:`EPTrace` with :math:`K` steps.
    """
    _check_beta("ep_updates", beta)
    fixed_point = free_phase(model, x, free_steps, tol=tol)
    trajectory = nudged_phase(model, x, fixed_point, target, beta, nudged_steps, mask)
    grads = [_dphi_dtheta(model, x, s) for s in trajectory]
    names = [n for n, _ in model.named_parameters()]
    params = {
        name: torch.stack([(grads[t + 1][i] - grads[t][i]) / beta for t in range(nudged_steps)])
        for i, name in enumerate(names)
    }
    states = [
        torch.stack([(trajectory[t + 1][n] - trajectory[t][n]) / beta for t in range(nudged_steps)])
        for n in range(len(fixed_point))
    ]
    return EPTrace(params, states)


def bptt_gradients(
    model: EnergyModel,
    x: Tensor,
    target: Tensor,
    free_steps: int,
    steps: int,
    mask: Tensor | None = None,
    tol: float | None = 1e-4,
) -> EPTrace:
    r"""Per-step BPTT gradients of :math:`L = \ell(s_T, y)` on the free trajectory.

    The first :math:`T - K` steps run without a graph (they only bring the state to :math:`s_{T-K}`); the last
    :math:`K` transitions each use their own copy :math:`\theta_{T-t}` of the parameters, so

    .. math::
        \nabla^\text{BPTT}_\theta(t) = \frac{\partial L}{\partial \theta_{T-t}}, \qquad
        \nabla^\text{BPTT}_s(t) = \frac{\partial L}{\partial s_{T-t}}, \qquad t = 0, \dots, K - 1,

    and :math:`\sum_t \nabla^\text{BPTT}_\theta(t)` is the truncated-to-:math:`K` BPTT gradient.

    Args:
        model, x, target, mask: as in :func:`nudged_phase`.
        free_steps: total length :math:`T` of the free trajectory; steps: :math:`K \le T`.
        tol: convergence tolerance checked at :math:`s_{T-K}` when :math:`K < T` (see :func:`free_phase`).

    Shapes:
        - **output**: an :class:`EPTrace` with :math:`K` steps.
    """
    _check_model("bptt_gradients", model)
    _check_steps("bptt_gradients", free_steps=free_steps, steps=steps)
    if steps > free_steps:
        raise ValueError(f"bptt_gradients: `steps` must not exceed free_steps={free_steps}, got {steps}")
    head = free_steps - steps
    s = free_phase(model, x, head, tol=tol) if head > 0 else model.init_state(x)
    named = dict(model.named_parameters())
    copies = [{n: p.detach().clone().requires_grad_() for n, p in named.items()} for _ in range(steps)]
    with torch.enable_grad():
        trajectory = [[t.detach().requires_grad_() for t in s]]
        for k in range(steps):
            trajectory.append(model.step(x, trajectory[-1], create_graph=True, params=copies[k]))
        loss = model.cost(trajectory[-1], target, mask)
        # states s_T, ..., s_{T-K+1} and parameter copies theta_T, ..., theta_{T-K+1}
        state_inputs = [v for k in range(steps, 0, -1) for v in trajectory[k]]
        param_inputs = [copies[k][n] for k in range(steps - 1, -1, -1) for n in named]
        grads = torch.autograd.grad(loss, state_inputs + param_inputs, allow_unused=True, materialize_grads=True)
    n_state = len(s)
    state_grads, param_grads = grads[: steps * n_state], grads[steps * n_state :]
    states = [torch.stack(state_grads[n::n_state]) for n in range(n_state)]
    params = {name: torch.stack(param_grads[i :: len(named)]) for i, name in enumerate(named)}
    return EPTrace(params, states)


def gdu_agreement(ep: EPTrace, bptt: EPTrace) -> dict[str, Tensor]:
    r"""Per-step agreement between EP updates and *minus* the BPTT gradients (the GDU property).

    .. math::
        \cos(t) = \frac{\langle \Delta^\text{EP}(t), -\nabla^\text{BPTT}(t) \rangle}
        {\lVert \Delta^\text{EP}(t) \rVert\, \lVert \nabla^\text{BPTT}(t) \rVert}, \qquad
        \text{sign}(t) = \text{share of entries with }
        \operatorname{sign} \Delta^\text{EP}(t) = -\operatorname{sign} \nabla^\text{BPTT}(t)

    over every parameter and state entry flattened together. The sign is compared only where the BPTT gradient is
    not negligible, :math:`\lvert \nabla^\text{BPTT}_i(t) \rvert > 10^{-6} \max_j \lvert \nabla^\text{BPTT}_j(t)
    \rvert` (structurally zero entries, such as the input weights at :math:`t = 0`, carry no sign).

    Shapes:
        - **output**: ``{"cosine": (K,), "sign": (K,)}``.
    """
    a = torch.cat([v.flatten(1) for v in [*ep.params.values(), *ep.states]], 1)
    b = -torch.cat([v.flatten(1) for v in [*bptt.params.values(), *bptt.states]], 1)
    cosine = torch.nn.functional.cosine_similarity(a, b, dim=1, eps=1e-30)
    relevant = b.abs() > 1e-6 * b.abs().amax(1, keepdim=True)
    agree = (torch.sign(a) == torch.sign(b)) & relevant
    sign = agree.sum(1).to(a.dtype) / relevant.sum(1).clamp_min(1).to(a.dtype)
    return {"cosine": cosine, "sign": sign}


def ep_gradient(
    model: EnergyModel,
    x: Tensor,
    target: Tensor,
    beta: float,
    free_steps: int,
    nudged_steps: int,
    mask: Tensor | None = None,
    symmetric: bool = False,
    tol: float | None = None,
) -> State:
    r"""Write the EP estimate of :math:`-\partial L/\partial\theta` into ``p.grad`` for an optimiser step.

    .. math::
        g_\theta = -\frac{1}{\beta}\big(\partial_\theta\Phi(x, s^\beta_K) - \partial_\theta\Phi(x, s_*)\big)
        \quad\text{or, with ``symmetric``,}\quad
        g_\theta = -\frac{1}{2\beta}\big(\partial_\theta\Phi(x, s^\beta_K) - \partial_\theta\Phi(x, s^{-\beta}_K)\big),

    the sum of the per-step updates :math:`\Delta^\text{EP}_\theta(t)` over the nudged phase (the symmetric form
    cancels the first-order bias in :math:`\beta`, Laborieux et al., Front. Neurosci. 2021). Gradients are
    accumulated into existing ``p.grad`` like ``loss.backward()``.

    Args:
        model, x, target, mask, beta, free_steps, nudged_steps: as in :func:`ep_updates`.
        symmetric: use the two-sided estimate (default ``False``).
        tol: convergence tolerance of the free phase (default ``None``: not checked during training).

    Shapes:
        - **output**: the free fixed point :math:`s_*` (detached), e.g. for accuracy.
    """
    _check_beta("ep_gradient", beta)
    fixed_point = free_phase(model, x, free_steps, tol=tol)
    plus = nudged_phase(model, x, fixed_point, target, beta, nudged_steps, mask)[-1]
    base, scale = fixed_point, beta
    if symmetric:
        base = nudged_phase(model, x, fixed_point, target, -beta, nudged_steps, mask)[-1]
        scale = 2.0 * beta
    hi, lo = _dphi_dtheta(model, x, plus), _dphi_dtheta(model, x, base)
    for p, g1, g0 in zip(model.parameters(), hi, lo, strict=True):
        g = -(g1 - g0) / scale
        p.grad = g if p.grad is None else p.grad + g
    return fixed_point
