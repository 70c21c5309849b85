r"""Checkpointed BPTT: exact gradients in bounded memory, by recomputation (Gruslys et al., NeurIPS 2016).

Gruslys, Munos, Danihelka, Lanctot & Graves, "Memory-Efficient Backpropagation Through Time", NeurIPS 2016,
BPTT-HSM (hidden-state memorisation). With :math:`m` memory slots for recurrent states (the state a segment starts
from occupies one) and a recurrence of :math:`t` steps, the fewest step evaluations that back-propagate through it
satisfy

.. math::
    C(0, m) = 0, \quad C(1, m) = 1, \quad C(t, 1) = \tfrac{1}{2} t (t + 1), \qquad
    C(t, m) = \min_{1 \le y < t} \bigl[\, y + C(t - y, m - 1) + C(y, m) \,\bigr]

(run :math:`y` steps forward without a graph, store the state reached in a new slot, back-propagate the right part
with one slot fewer, free the slot, back-propagate the left part with all :math:`m`); the minimising :math:`y` is
the policy. :math:`C(t, m) = 2t - 1` once :math:`m \ge t - 1`. :func:`hsm_cost` solves the program bottom-up
(:math:`O(T^2 m)` work, vectorised over :math:`y`) and :class:`Checkpoint` executes the policy: the forward pass is
the policy's first descent (every step once, the states on its right-most path stored, the last leaf kept with its
graph), the backward pass the rest of the recursion, one leaf (a single step under HSM) with a graph at a time. The
stored states are reported to :class:`~msg.credit.SavedTensorMeter` (:func:`~msg.credit.memory.hold`), so measured
peaks include the slots. Every step is pure
(:mod:`msg.neurons.functional`), so recomputation reproduces the forward values bit for bit and the gradients are
those of :class:`~msg.credit.BPTT`. The number of step evaluations equals :math:`C(T, m)` (``step_evaluations``
counts them). For comparison, ``slots="sqrt"`` is the uniform policy of Chen et al. ("Training Deep Nets with
Sublinear Memory Cost", 2016): a state every :math:`k = \lceil\sqrt T\,\rceil` steps, and each segment of
:math:`k` steps recomputed with its graph in one go (:func:`uniform_cost`: :math:`2T - k_{\text{last}}`
evaluations, :math:`T/k` states plus :math:`k` steps of activations).

Doing better when one step's activations cost :math:`\alpha` state slots (``alpha``): the same program with one more
choice, running a segment of :math:`t` steps with its graph in one go when its activations fit,
:math:`C(t, m) = t` if :math:`1 + \lceil (t-1)\alpha \rceil \le m` (Gruslys et al.'s memorisation of internal
states, here as leaves of the recursion). The policy then spends the budget on a few long leaves instead of many
one-step backward calls: on the recurrent network of ``benchmarks/credit_memory_time.py`` (T = 1000, 50 slots,
95% of BPTT's saved activations spared either way) HSM needs 2,948 step evaluations and alpha = 1.13 needs 1,986,
which cut the time per iteration from x2.2 BPTT's to x1.27-1.29 (two runs, median of 5 rounds of thread CPU time).
The floor is set by the graph-free forward: with every step evaluated about twice, the time is BPTT's times
:math:`1 + F_0 / (F + B)` (:math:`F_0` a step without autograd, :math:`F`, :math:`B` with it and its backward),
so a cheap no-grad step (the spike skips its surrogate Function there) matters as much as the policy.
``alpha=None`` is BPTT-HSM exactly.

The recomputing :class:`torch.autograd.Function` routes gradients by hand, so every tensor the step closes over
that needs a gradient must be passed as ``params`` (:meth:`CreditMethod.layer` and :meth:`CreditMethod.spike` pass
the neuron's and the transform's parameters). One backward per forward (the kept graph of the last step is
consumed).

Shapes:
    - **x_seq:** :math:`(T, N, *)`; **outputs:** :math:`(T, \dots)`; state tensors as the step's.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from msg.neurons import BaseNode, multistep

from .base import CreditMethod, Step, Transform, check_sequence, trainable
from .memory import hold

__all__ = ["Checkpoint", "hsm_cost", "hsm_policy", "uniform_cost"]

_INF = 2**40  # larger than any cost computed here (T^2 / 2 < 2^40 for T < 10^6), small enough not to overflow sums


@functools.lru_cache(maxsize=16)
def _table(T: int, slots: int, alpha: float | None) -> tuple[np.ndarray, np.ndarray]:
    """``(cost, split)`` of shape ``(T + 1, slots + 1)``; ``split`` is 0 where the segment runs as one leaf."""
    cost = np.full((T + 1, slots + 1), _INF, dtype=np.int64)
    split = np.zeros((T + 1, slots + 1), dtype=np.int64)
    cost[0, :], cost[1, :] = 0, 1  # C(1, 0) = 1: a single step runs from the working state, no slot needed
    for m in range(1, slots + 1):
        longest = 1 if alpha is None else 1 + int((m - 1) // alpha)  # (t - 1) alpha <= m - 1
        for t in range(2, T + 1):
            if t <= longest:
                cost[t, m] = t
                continue
            if alpha is None and m >= t - 1:
                cost[t, m], split[t, m] = 2 * t - 1, 1
                continue
            y = np.arange(1, t)
            total = y + cost[t - y, m - 1] + cost[y, m]
            best = int(np.argmin(total))
            cost[t, m], split[t, m] = total[best], best + 1
    return cost, split


def _check_budget(owner: str, T: int, slots: int, alpha: float | None = None) -> None:
    if isinstance(T, bool) or int(T) != T or T < 0:
        raise ValueError(f"{owner}: T must be an integer >= 0, got {T!r}")
    if isinstance(slots, bool) or int(slots) != slots or slots < 1:
        raise ValueError(f"{owner}: slots must be an integer >= 1, got {slots!r}")
    if alpha is not None and not (isinstance(alpha, int | float) and 0 < alpha < math.inf):
        raise ValueError(f"{owner}: alpha must be a finite number > 0 or None, got {alpha!r}")


def _capped(T: int, slots: int, alpha: float | None) -> int:
    """The budget beyond which more slots change nothing: ``T - 1`` for HSM (every sub-problem is then
    closed-form), or enough for the whole sequence to run as one leaf."""
    cap = T - 1 if alpha is None else 1 + math.ceil((T - 1) * alpha)
    return max(1, min(slots, cap))


def hsm_cost(T: int, slots: int, alpha: float | None = None) -> int:
    """:math:`C(T, m)`: step evaluations of the optimal policy with ``slots`` memory slots (``alpha``: see
    :class:`Checkpoint`; ``None`` is BPTT-HSM)."""
    _check_budget("hsm_cost", T, slots, alpha)
    if T <= 1:
        return int(T)
    return int(_table(T, _capped(T, slots, alpha), alpha)[0][T, _capped(T, slots, alpha)])


def hsm_policy(T: int, slots: int, alpha: float | None = None) -> np.ndarray:
    """The optimal first split :math:`y(t, m)` of every sub-problem of a ``T``-step sequence, indexed
    ``[t, min(m, cap)]`` with ``cap = hsm_policy(...).shape[1] - 1`` (0: run the segment as one leaf with its
    graph)."""
    _check_budget("hsm_policy", T, slots, alpha)
    if T <= 1:
        return np.zeros((T + 1, 2), dtype=np.int64)
    return _table(T, _capped(T, slots, alpha), alpha)[1]


def uniform_cost(T: int, k: int) -> int:
    """Step evaluations of the uniform policy with segments of ``k`` steps: every step once forward, and every
    segment but the last (kept with its graph) once more."""
    _check_budget("uniform_cost", T, k)
    return T + (T - (T - k * ((T - 1) // k)))


class _Slot(NamedTuple):
    """A stored state and its handles in the active :class:`~msg.credit.SavedTensorMeter` s (the slots are memory
    kept for the backward pass outside autograd's saved tensors, so they are reported to the meters)."""

    state: tuple[Tensor | None, ...]
    handles: list[Any]

    @staticmethod
    def keep(state: tuple[Tensor | None, ...]) -> _Slot:
        return _Slot(state, hold(state))


class _Leaf(NamedTuple):
    """A segment run with its graph: the detached inputs it was run from, what it produced, and its start slot."""

    start: int
    xs: list[Tensor]
    state_in: tuple[Tensor | None, ...]
    ys: list[Tensor]
    state_out: tuple[Tensor | None, ...]
    slot: _Slot


class _Plan:
    """One execution: the step, its inputs, the policy, and the counters; shared by forward and backward."""

    def __init__(
        self, method: Checkpoint, step: Step, x_seq: Tensor, state: Any, params: tuple[Tensor, ...], T: int
    ) -> None:
        self.method, self.step, self.params, self.T = method, step, params, T
        self.x = x_seq.detach()
        self.x_needs_grad = x_seq.requires_grad
        self.make_state = (lambda items: type(state)(*items)) if hasattr(state, "_fields") else tuple
        self.k = math.isqrt(T - 1) + 1 if method.slots == "sqrt" else 0  # ceil(sqrt(T))
        self.policy = None if self.k else hsm_policy(T, method.slots, method.alpha)

    def split(self, t: int, m: int) -> int:
        if self.k:
            return self.k if t > self.k else 0
        return int(self.policy[t, min(m, self.policy.shape[1] - 1)])

    def _run(self, pos: int, state: tuple, outputs: list[Tensor] | None) -> tuple[Tensor, tuple]:
        self.method.step_evaluations += 1
        y, new = self.step(self.x[pos], self.make_state(state))
        if outputs is not None:
            outputs[pos] = y.detach()
        return y, tuple(new)

    def descend(
        self, pos: int, t: int, m: int, slot: _Slot, outputs: list[Tensor] | None
    ) -> tuple[list[tuple[int, int, int, _Slot]], _Leaf]:
        """Follow the policy's right-most path from ``pos``: run each left part without a graph (recording the
        outputs on the first descent), keep its start state as pending, and run the final leaf with its graph."""
        pending = []
        while (y := self.split(t, m)) > 0:
            pending.append((pos, y, m, slot))
            state = slot.state
            with torch.no_grad():
                for i in range(pos, pos + y):
                    state = self._run(i, state, outputs)[1]
            pos, t, m, slot = pos + y, t - y, m - 1, _Slot.keep(state)
        with torch.enable_grad():
            state_in = tuple(
                None if s is None else s.detach().requires_grad_(s.is_floating_point()) for s in slot.state
            )
            xs, ys, state = [], [], state_in
            for i in range(pos, pos + t):
                xs.append(self.x[i].detach().requires_grad_(self.x_needs_grad))
                self.method.step_evaluations += 1
                y, new = self.step(xs[-1], self.make_state(state))
                state = tuple(new)
                ys.append(y)
                if outputs is not None:
                    outputs[i] = y.detach()
        return pending, _Leaf(pos, xs, state_in, ys, state, slot)

    def backprop(
        self, leaf: _Leaf, g_y: Tensor | None, g_state: tuple, g_x: Tensor | None, g_params: list[Tensor | None]
    ) -> tuple:
        """Back-propagate one leaf: returns the gradient of its start state, accumulates input and parameter
        gradients."""
        outs, grads = [], []
        for i, y in enumerate(leaf.ys):
            if g_y is not None and y.requires_grad:
                outs.append(y)
                grads.append(g_y[leaf.start + i])
        for s, g in zip(leaf.state_out, g_state, strict=True):
            if s is not None and g is not None and s.requires_grad:
                outs.append(s)
                grads.append(g)
        wrt_state = [s for s in leaf.state_in if s is not None and s.requires_grad]
        wrt = [*wrt_state, *(leaf.xs if self.x_needs_grad else []), *self.params]
        if not outs or not wrt:
            return tuple(None for _ in leaf.state_in)
        found = list(torch.autograd.grad(outs, wrt, grads, allow_unused=True))
        g_in = iter(found[: len(wrt_state)])
        g_start = tuple(next(g_in) if s is not None and s.requires_grad else None for s in leaf.state_in)
        rest = found[len(wrt_state) :]
        if self.x_needs_grad:
            for i, g in enumerate(rest[: len(leaf.xs)]):
                if g is not None:
                    g_x[leaf.start + i] += g
            rest = rest[len(leaf.xs) :]
        for j, g in enumerate(rest):
            if g is not None:
                g_params[j] = g if g_params[j] is None else g_params[j] + g
        return g_start


class _CheckpointFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, plan: _Plan, n_state: int, x_seq: Tensor, *flat: Tensor | None) -> tuple:
        state = tuple(flat[:n_state])
        outputs: list[Tensor] = [None] * plan.T  # type: ignore[list-item]
        slots = plan.T if plan.policy is None else plan.method.slots
        pending, leaf = plan.descend(0, plan.T, slots, _Slot.keep(state), outputs)
        ctx.plan, ctx.pending, ctx.leaf = plan, pending, leaf
        ctx.set_materialize_grads(False)
        final = tuple(None if s is None else s.detach() for s in leaf.state_out)
        return (torch.stack(outputs), *final)

    @staticmethod
    def backward(ctx: Any, g_y: Tensor | None, *g_final: Tensor | None) -> tuple:
        plan: _Plan = ctx.plan
        g_x = torch.zeros_like(plan.x) if plan.x_needs_grad else None
        g_params: list[Tensor | None] = [None] * len(plan.params)
        g_state = plan.backprop(ctx.leaf, g_y, tuple(g_final), g_x, g_params)
        stack = list(ctx.pending)
        ctx.pending = ctx.leaf = None
        while stack:
            pos, t, m, slot = stack.pop()
            pending, leaf = plan.descend(pos, t, m, slot, None)
            g_state = plan.backprop(leaf, g_y, g_state, g_x, g_params)
            stack.extend(pending)
        return (None, None, g_x, *g_state, *g_params)


class Checkpoint(CreditMethod):
    r"""Exact BPTT gradients with recomputation under a memory budget (module docstring).

    Args:
        slots (int or str): memory budget in recurrent-state slots, :math:`m \ge 1` (the optimal policy of the
            dynamic program), or ``"sqrt"`` for the uniform :math:`\lceil\sqrt T\,\rceil` policy.
        alpha (float, optional): the saved activations of one step, in state slots. ``None`` (default): only
            states are memorised and one step runs with its graph at a time (BPTT-HSM). A number lets the policy
            spend slots on longer leaves: a segment of :math:`t` steps may run with its graph in one go when
            :math:`1 + \lceil (t - 1)\alpha \rceil \le m`, costing :math:`t` (so :math:`C(t, m) = t` there, and
            fewer, larger backward calls; measure :math:`\alpha` with :class:`~msg.credit.SavedTensorMeter`).

    Attributes:
        step_evaluations (int): step evaluations so far (forward and recomputation) under autograd; tests compare
            it with :func:`hsm_cost`. Without autograd (``torch.no_grad()``) the plain loop runs and is not counted.

    Shapes:
        - **x_seq:** :math:`(T, N, *)`; **outputs:** :math:`(T, \dots)`.
    """

    name = "checkpoint"

    def __init__(self, slots: int | str, alpha: float | None = None) -> None:
        if slots != "sqrt":
            if isinstance(slots, bool) or not isinstance(slots, int | np.integer) or slots < 1:
                raise ValueError(f"Checkpoint: slots must be an integer >= 1 or 'sqrt', got {slots!r}")
            slots = int(slots)
        if alpha is not None and (slots == "sqrt" or not (isinstance(alpha, int | float) and 0 < alpha < math.inf)):
            raise ValueError(f"Checkpoint: alpha must be a finite number > 0 with integer slots, got {alpha!r}")
        self.slots, self.alpha = slots, None if alpha is None else float(alpha)
        self.step_evaluations = 0

    def cost(self, T: int) -> int:
        """Step evaluations of one forward and backward over ``T`` steps under this policy."""
        if self.slots == "sqrt":
            return uniform_cost(T, math.isqrt(T - 1) + 1) if T > 0 else 0
        return hsm_cost(T, self.slots, self.alpha)

    def unroll(self, step: Step, x_seq: Tensor, state: Any, params: Sequence[Tensor] = ()) -> tuple[Tensor, Any]:
        check_sequence(type(self).__name__, x_seq)
        if not torch.is_grad_enabled():  # nothing to back-propagate: the plain loop, no slots, no leaf graph
            return multistep(step, x_seq, state)
        params = tuple(p for p in params if p.requires_grad)
        plan = _Plan(self, step, x_seq, state, params, x_seq.shape[0])
        flat = tuple(state)
        y, *final = _CheckpointFunction.apply(plan, len(flat), x_seq, *flat, *params)
        return y, plan.make_state(tuple(final))

    def layer(
        self, neuron: BaseNode, inputs: Tensor, transform: Transform, params: Sequence[Tensor] | None = None
    ) -> Tensor:
        """The transform runs inside the recomputed step, so its activations are not kept for all T steps either;
        ``params`` must list what it uses that needs gradients unless it is a module."""
        check_sequence(type(self).__name__, inputs)
        if params is None and not isinstance(transform, torch.nn.Module):
            raise ValueError(
                "Checkpoint: the transform is not a module, so its parameters cannot be found; pass params= (the "
                "tensors it uses that need gradients)"
            )
        params = trainable(transform) if params is None else tuple(params)

        def step(s: Tensor, state: Any) -> tuple[Tensor, Any]:
            return neuron.step(transform(s), state)

        first = transform(inputs[0]).detach()
        return self.unroll(step, inputs, neuron.initial_state(first), (*params, *trainable(neuron)))[0]

    def __repr__(self) -> str:
        alpha = "" if self.alpha is None else f", alpha={self.alpha:g}"
        return f"Checkpoint(slots={self.slots!r}{alpha})"
