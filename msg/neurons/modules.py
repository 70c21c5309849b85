r"""Neuron modules: IF, LIF and ALIF populations over the pure steps of :mod:`msg.neurons.functional`.

A node holds its state in non-persistent buffers (``v``; ALIF also ``b`` and ``r``), created at the first call
and cleared by :meth:`BaseNode.reset` (or :func:`reset_net` on a whole network). In single-step mode
(``step_mode='s'``) ``node(x)`` advances one step; in multi-step mode (``step_mode='m'``) ``node(x_seq)`` runs T
steps, through the fused kernel (``backend='fused'``, :mod:`msg.neurons.fused`) or the reference loop
(``backend='torch'``, :func:`~msg.neurons.functional.multistep`). Both return only the spikes; with
``store_v_seq=True`` the post-reset membrane trace is left in ``node.v_seq``. Credit-assignment wrappers call the
pure :meth:`BaseNode.run` (explicit state in and out, optional per-step hook) or :meth:`BaseNode.step`.

.. math::
    h_t = \text{charge}(x_t, v_{t-1}), \qquad z_t = \Theta(h_t - A_t), \qquad v_t = \text{reset}(h_t, z_t)

Shapes:
    - **single step:** input :math:`(N, *)`, spikes :math:`(N, *)`.
    - **multi step:** input :math:`(T, N, *)`, spikes :math:`(T, N, *)` in the input's dtype.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .functional import Hook, NeuronState, alif_step, if_step, initial_state, lif_step, multistep
from .fused import charge_coefficients, fused_multistep
from .surrogate import Sigmoid, SurrogateFunction

__all__ = ["BaseNode", "IFNode", "LIFNode", "ALIFNode", "reset_net", "BACKENDS", "STEP_MODES"]

BACKENDS = ("fused", "torch")
STEP_MODES = ("s", "m")
Hyper = float | Tensor


class BaseNode(nn.Module):
    r"""Shared machinery of the spiking nodes: hyper-parameters, state buffers, step modes and backends.

    Args:
        v_threshold (float or Tensor, optional): firing threshold :math:`\vartheta > 0`; a tensor gives one per
            neuron (broadcast against :math:`(N, *)`). (default: :obj:`1.0`)
        v_reset (float, optional): hard-reset potential; ``None`` resets softly by subtracting the threshold.
            (default: :obj:`0.0`)
        surrogate_function (SurrogateFunction, optional): spike function; ``None`` builds a fresh
            :class:`~msg.neurons.surrogate.Sigmoid`. (default: :obj:`None`)
        detach_reset (bool, optional): treat the spike inside the reset as a constant. (default: :obj:`False`)
        step_mode (str, optional): ``'s'`` (one step per call) or ``'m'`` (:math:`(T, N, *)` input).
            (default: :obj:`'s'`)
        backend (str, optional): multi-step kernel, ``'fused'`` or ``'torch'`` (the reference loop).
            (default: :obj:`'fused'`)
        store_v_seq (bool, optional): keep the multi-step membrane trace in ``self.v_seq``. (default: :obj:`False`)
        learnable_threshold (bool, optional): make ``v_threshold`` a Parameter. (default: :obj:`False`)
    """

    state_names: tuple[str, ...] = ("v",)

    def __init__(
        self,
        v_threshold: Hyper = 1.0,
        v_reset: float | None = 0.0,
        surrogate_function: SurrogateFunction | None = None,
        detach_reset: bool = False,
        step_mode: str = "s",
        backend: str = "fused",
        store_v_seq: bool = False,
        learnable_threshold: bool = False,
    ) -> None:
        super().__init__()
        self._hyper("v_threshold", v_threshold, learnable_threshold, strictly_positive=True)
        self.v_reset = None if v_reset is None else float(v_reset)
        self.surrogate_function = Sigmoid() if surrogate_function is None else surrogate_function
        self.detach_reset = bool(detach_reset)
        self.step_mode = step_mode
        self.backend = backend
        self.store_v_seq = bool(store_v_seq)
        self.v_seq: Tensor | None = None
        for name in self.state_names:
            self.register_buffer(name, None, persistent=False)

    # -- settings ---------------------------------------------------------------------------------------------
    def _fail(self, message: str) -> ValueError:
        return ValueError(f"{type(self).__name__}: {message}")

    def _hyper(self, name: str, value: Hyper, learnable: bool, strictly_positive: bool = False) -> None:
        """Register a hyper-parameter as a Parameter (learnable) or a buffer, after validating it."""
        tensor = torch.as_tensor(value, dtype=torch.get_default_dtype()).detach().clone()
        bad = ~(tensor > 0) if strictly_positive else ~(tensor >= 0)
        if bad.any():
            raise self._fail(f"{name} must be {'> 0' if strictly_positive else '>= 0'}, got {value}")
        if learnable:
            setattr(self, name, nn.Parameter(tensor))
        else:
            self.register_buffer(name, tensor)

    @property
    def step_mode(self) -> str:
        return self._step_mode

    @step_mode.setter
    def step_mode(self, mode: str) -> None:
        if mode not in STEP_MODES:
            raise self._fail(f"step_mode must be one of {STEP_MODES}, got {mode!r}")
        self._step_mode = mode

    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, backend: str) -> None:
        if backend not in BACKENDS:
            raise self._fail(f"backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "fused" and not isinstance(self.surrogate_function, SurrogateFunction):
            raise self._fail(
                f"backend='fused' needs a SurrogateFunction surrogate, got {type(self.surrogate_function).__name__}"
            )
        self._backend = backend

    def _cast(self, x: Tensor, *names: str) -> list[Tensor]:
        return [getattr(self, name).to(x.dtype) for name in names]

    # -- dynamics (subclasses) ----------------------------------------------------------------------------------
    def step(self, x: Tensor, state: NeuronState) -> tuple[Tensor, NeuronState]:
        """One pure step with this node's settings: ``(spike, new_state)``; the module's state is untouched."""
        raise NotImplementedError

    def kernel_kwargs(self, x: Tensor) -> dict[str, Any]:
        """Keyword arguments of :func:`~msg.neurons.fused.fused_multistep` for this node."""
        raise NotImplementedError

    def initial_state(self, x: Tensor) -> NeuronState:
        """The resting state for a step input like ``x``."""
        return initial_state(x, self.v_reset)

    @property
    def decay(self) -> Tensor:
        r"""The membrane's factor per step :math:`k` (1 without leak; OTTT's presynaptic-trace decay)."""
        return torch.ones_like(self.v_threshold)

    # -- state ----------------------------------------------------------------------------------------------
    @property
    def state(self) -> NeuronState | None:
        """The current state, ``None`` before the first call or after :meth:`reset`."""
        if self.v is None:
            return None
        return NeuronState(*(getattr(self, name) for name in self.state_names))

    def reset(self) -> None:
        """Forget the state (start of a new sequence)."""
        for name in self.state_names:
            setattr(self, name, None)
        self.v_seq = None

    def _state_for(self, x: Tensor) -> NeuronState:
        state = self.state
        if state is None:
            return self.initial_state(x)
        if state.v.shape != x.shape:
            raise self._fail(
                f"input step shape {tuple(x.shape)} differs from the state's {tuple(state.v.shape)}; call reset()"
            )
        return state

    def _commit(self, state: NeuronState, x: Tensor) -> None:
        # NaN in the input always reaches v (NaN >= threshold is False, so no reset replaces it): checking the
        # final membrane costs O(N), and the input is only scanned to word the error.
        if torch.isnan(state.v).any():
            cause = "contains NaN" if torch.isnan(x).any() else "produced NaN in the membrane potential"
            raise self._fail(f"input {cause}")
        for name in self.state_names:
            setattr(self, name, getattr(state, name))

    # -- calls ----------------------------------------------------------------------------------------------
    def single_step_forward(self, x: Tensor) -> Tensor:
        spike, state = self.step(x, self._state_for(x))
        self._commit(state, x)
        return spike

    def run(
        self, x_seq: Tensor, state: NeuronState | None = None, hook: Hook | None = None
    ) -> tuple[Tensor, NeuronState, Tensor | None]:
        """Run T steps from ``state`` (the resting state if ``None``) without touching the module's state: the
        entry point of the credit-assignment wrappers (segments from checkpoints, truncation, traces).

        With a ``hook`` (see :func:`~msg.neurons.functional.multistep`) or ``backend='torch'`` the reference loop
        runs; otherwise the fused kernel. Returns ``(spikes, final_state, v_seq)``, ``v_seq`` being the post-reset
        membrane trace when ``store_v_seq`` is set and ``None`` otherwise.
        """
        if x_seq.dim() < 2 or x_seq.shape[0] == 0:
            raise self._fail(f"multi-step input must be [T, N, ...] with T > 0, got shape {tuple(x_seq.shape)}")
        state = self.initial_state(x_seq[0]) if state is None else state
        if self.backend == "fused" and hook is None:
            return fused_multistep(
                x_seq, state, self.surrogate_function, store_v_seq=self.store_v_seq, **self.kernel_kwargs(x_seq)
            )
        trace: list[Tensor] = []

        def record(t: int, spike: Tensor, new_state: NeuronState) -> tuple[Tensor, NeuronState] | None:
            replaced = None if hook is None else hook(t, spike, new_state)
            trace.append((new_state if replaced is None else replaced[1]).v)
            return replaced

        spikes, state = multistep(self.step, x_seq, state, record if self.store_v_seq else hook)
        return spikes, state, torch.stack(trace) if self.store_v_seq else None

    def multi_step_forward(self, x_seq: Tensor) -> Tensor:
        state = self._state_for(x_seq[0]) if x_seq.dim() >= 2 and x_seq.shape[0] > 0 else None
        spikes, state, v_seq = self.run(x_seq, state)
        self._commit(state, x_seq)
        self.v_seq = v_seq
        return spikes

    def forward(self, x: Tensor) -> Tensor:
        if self.step_mode == "s":
            return self.single_step_forward(x)
        return self.multi_step_forward(x)

    def _show(self, name: str) -> str:
        value = getattr(self, name)
        return f"{name}={value.item():g}" if value.numel() == 1 else f"{name}=<{tuple(value.shape)}>"

    def extra_repr(self) -> str:
        return (
            f"{self._show('v_threshold')}, v_reset={self.v_reset}, detach_reset={self.detach_reset}, "
            f"step_mode={self.step_mode!r}, backend={self.backend!r}"
        )


class IFNode(BaseNode):
    r"""Integrate-and-fire neuron (non-leaky).

    .. math::
        h_t = v_{t-1} + x_t, \qquad z_t = \Theta(h_t - \vartheta), \qquad
        v_t = h_t - z_t \vartheta \ \text{(soft)} \ \text{or} \ (1 - z_t) h_t + z_t v_r \ \text{(hard)}

    Args are those of :class:`BaseNode`.

    Shapes:
        - **input:** :math:`(N, *)` (``'s'``) or :math:`(T, N, *)` (``'m'``); **output:** spikes, same shape.
    """

    def step(self, x: Tensor, state: NeuronState) -> tuple[Tensor, NeuronState]:
        (threshold,) = self._cast(x, "v_threshold")
        return if_step(x, state, self.surrogate_function, threshold, self.v_reset, self.detach_reset)

    def kernel_kwargs(self, x: Tensor) -> dict[str, Any]:
        (threshold,) = self._cast(x, "v_threshold")
        decay, scale, bias = charge_coefficients(None, self.v_reset, True)
        return dict(
            decay=decay,
            input_scale=scale,
            bias=bias,
            v_threshold=threshold,
            v_reset=self.v_reset,
            detach_reset=self.detach_reset,
        )


class LIFNode(BaseNode):
    r"""Leaky integrate-and-fire neuron (Euler step of :math:`\tau \dot v = -(v - v_r) + x`, spikingjelly's form).

    .. math::
        h_t = \begin{cases} v_{t-1} + \frac{1}{\tau}\bigl(x_t - (v_{t-1} - v_r)\bigr) & \text{decay\_input} \\
                            v_{t-1} - \frac{1}{\tau}(v_{t-1} - v_r) + x_t & \text{otherwise} \end{cases},
        \qquad z_t = \Theta(h_t - \vartheta)

    then reset as :class:`IFNode` (:math:`v_r := 0` in the charge for soft reset). With ``decay_input=False`` and
    soft reset this is snnTorch's ``Leaky(beta=1 - 1/tau, reset_mechanism='subtract', reset_delay=False)``.

    Args:
        tau (float or Tensor, optional): membrane time constant :math:`\tau > 0`, in steps; a tensor gives one
            per neuron. :math:`\tau < 1` makes the factor :math:`1 - 1/\tau` negative (spikingjelly rejects it;
            here it is allowed, e.g. for a learnable tau passing through). (default: :obj:`2.0`)
        decay_input (bool, optional): scale the input by :math:`1/\tau`. (default: :obj:`True`)
        learnable_tau (bool, optional): make ``tau`` a Parameter. (default: :obj:`False`)
        **kwargs: :class:`BaseNode` arguments.

    Shapes:
        - **input:** :math:`(N, *)` (``'s'``) or :math:`(T, N, *)` (``'m'``); **output:** spikes, same shape.
    """

    def __init__(self, tau: Hyper = 2.0, decay_input: bool = True, learnable_tau: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hyper("tau", tau, learnable_tau, strictly_positive=True)
        self.decay_input = bool(decay_input)

    @property
    def decay(self) -> Tensor:
        r"""The membrane's factor per step, :math:`1 - 1/\tau` (OTTT's presynaptic-trace decay)."""
        return 1.0 - 1.0 / self.tau

    def step(self, x: Tensor, state: NeuronState) -> tuple[Tensor, NeuronState]:
        tau, threshold = self._cast(x, "tau", "v_threshold")
        return lif_step(
            x, state, self.surrogate_function, tau, threshold, self.v_reset, self.decay_input, self.detach_reset
        )

    def kernel_kwargs(self, x: Tensor) -> dict[str, Any]:
        tau, threshold = self._cast(x, "tau", "v_threshold")
        decay, scale, bias = charge_coefficients(tau, self.v_reset, self.decay_input)
        return dict(
            decay=decay,
            input_scale=scale,
            bias=bias,
            v_threshold=threshold,
            v_reset=self.v_reset,
            detach_reset=self.detach_reset,
        )

    def extra_repr(self) -> str:
        return f"{self._show('tau')}, decay_input={self.decay_input}, {super().extra_repr()}"


class ALIFNode(LIFNode):
    r"""Adaptive LIF neuron of LSNN (Bellec et al., "Long short-term memory and learning-to-learn in networks of
    spiking neurons", NeurIPS 2018).

    .. math::
        A_t = \vartheta + \beta\, b_{t-1}, \qquad z_t = \Theta(h_t - A_t)\, \mathbb{1}[r_{t-1} = 0], \qquad
        b_t = \rho\, b_{t-1} + (1 - \rho)\, z_t, \qquad \rho = e^{-\Delta t / \tau_a}

    with the LIF charge :math:`h_t` of :class:`LIFNode`; soft reset subtracts :math:`A_t`. A per-neuron ``beta``
    with zeros mixes LIF and ALIF units in one population (LSNN's "LIF + ALIF" networks). With ``refractory = R``
    a spike blocks the next R steps (``r`` counts down; the membrane keeps integrating, as in LSNN). LSNN's
    membrane factor :math:`e^{-\Delta t/\tau_m}` is ``tau = 1 / (1 - exp(-dt / tau_m))`` here.

    Args:
        tau (float or Tensor, optional): membrane time constant in steps. (default: :obj:`20.0`)
        tau_a (float or Tensor, optional): adaptation time constant :math:`\tau_a > 0`. (default: :obj:`200.0`)
        beta (float or Tensor, optional): adaptation strength :math:`\beta \ge 0`. (default: :obj:`1.8`)
        dt (float, optional): step length :math:`\Delta t > 0` in the units of ``tau_a``. (default: :obj:`1.0`)
        refractory (int, optional): refractory steps :math:`R \ge 0`. (default: :obj:`0`)
        v_reset (float, optional): as :class:`BaseNode`; LSNN resets softly. (default: :obj:`None`)
        **kwargs: :class:`LIFNode` arguments.

    Shapes:
        - **input:** :math:`(N, *)` (``'s'``) or :math:`(T, N, *)` (``'m'``); **output:** spikes, same shape.
    """

    state_names = ("v", "b", "r")

    def __init__(
        self,
        tau: Hyper = 20.0,
        tau_a: Hyper = 200.0,
        beta: Hyper = 1.8,
        dt: float = 1.0,
        refractory: int = 0,
        v_reset: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(tau=tau, v_reset=v_reset, **kwargs)
        self._hyper("tau_a", tau_a, False, strictly_positive=True)
        self._hyper("beta", beta, False)
        if not dt > 0:
            raise self._fail(f"dt must be > 0, got {dt}")
        if int(refractory) != refractory or refractory < 0:
            raise self._fail(f"refractory must be an integer >= 0, got {refractory}")
        self.dt = float(dt)
        self.refractory = int(refractory)

    @property
    def rho(self) -> Tensor:
        r"""Adaptation decay :math:`\rho = e^{-\Delta t / \tau_a}`."""
        return torch.exp(-self.dt / self.tau_a)

    def initial_state(self, x: Tensor) -> NeuronState:
        return initial_state(x, self.v_reset, adaptive=True, refractory=self.refractory > 0)

    def step(self, x: Tensor, state: NeuronState) -> tuple[Tensor, NeuronState]:
        tau, threshold, beta = self._cast(x, "tau", "v_threshold", "beta")
        return alif_step(
            x,
            state,
            self.surrogate_function,
            tau,
            threshold,
            self.v_reset,
            self.decay_input,
            self.detach_reset,
            beta,
            self.rho.to(x.dtype),
            self.refractory,
        )

    def kernel_kwargs(self, x: Tensor) -> dict[str, Any]:
        (beta,) = self._cast(x, "beta")
        return dict(super().kernel_kwargs(x), beta=beta, rho=self.rho.to(x.dtype), refractory=self.refractory)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, {self._show('tau_a')}, {self._show('beta')}, dt={self.dt:g}, "
            f"refractory={self.refractory}"
        )


def reset_net(module: nn.Module) -> None:
    """Reset every stateful submodule of ``module`` (each one with a ``reset()`` method, as spikingjelly's
    ``functional.reset_net``)."""
    for m in module.modules():
        reset = getattr(m, "reset", None)
        if callable(reset):
            reset()
