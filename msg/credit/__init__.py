"""msg.credit: temporal credit assignment, one mechanism for every spiking model.

A model takes ``credit=`` (a :class:`CreditMethod` or a spec string for :func:`get_credit`) and hands its time loop
to it (:mod:`msg.credit.base` describes the three entry points ``unroll``, ``spike`` and ``layer``):

========================  ===================================================================================
``bptt``                  surrogate-gradient backprop through all T steps (:class:`BPTT`, the reference)
``tbptt:k``               truncated every k steps (:class:`TBPTT`)
``checkpoint:m``          exact BPTT with m memory slots, Gruslys et al.'s optimal recomputation policy
``checkpoint:sqrt``       exact BPTT, uniform sqrt(T) checkpoints (:class:`Checkpoint`)
``ottt`` / ``ottt_a``     online training through time, accumulate then step (:class:`OTTT`)
``ottt_o``                online training through time, optimizer step every time step
``rate``                  rate-based backprop (:class:`Rate`)
``dvm``                   differentiation via manifold, MSG's manifold path (:class:`DvM`)
========================  ===================================================================================

Arguments may be written ``tbptt:8`` or ``tbptt(8)``.
"""

from __future__ import annotations

import re

from .base import CreditMethod, detach_state, substitute, trainable
from .bptt import BPTT
from .checkpoint import Checkpoint, hsm_cost, hsm_policy, uniform_cost
from .dvm import DvM
from .ep import EnergyModel, EPTrace, bptt_gradients, ep_gradient, ep_updates, free_phase, gdu_agreement, nudged_phase
from .memory import SavedTensorMeter
from .ottt import OTTT, TraceState
from .rate import Rate, eligibility
from .sab import LSTMCore, SABOutput, SparseAttentiveBacktracking, sparse_attention_weights
from .sab import unroll as sab_unroll
from .tbptt import TBPTT

__all__ = [
    "EnergyModel",
    "EPTrace",
    "bptt_gradients",
    "ep_gradient",
    "ep_updates",
    "free_phase",
    "gdu_agreement",
    "nudged_phase",
    "LSTMCore",
    "SABOutput",
    "SparseAttentiveBacktracking",
    "sparse_attention_weights",
    "sab_unroll",
    "CreditMethod",
    "BPTT",
    "TBPTT",
    "Checkpoint",
    "OTTT",
    "TraceState",
    "Rate",
    "DvM",
    "CREDIT_METHODS",
    "get_credit",
    "hsm_cost",
    "hsm_policy",
    "uniform_cost",
    "eligibility",
    "SavedTensorMeter",
    "detach_state",
    "substitute",
    "trainable",
]

CREDIT_METHODS = ("bptt", "tbptt:k", "checkpoint:m", "checkpoint:sqrt", "ottt", "ottt_a", "ottt_o", "rate", "dvm")
"""The spec strings :func:`get_credit` accepts (``k``, ``m``: integers >= 1)."""

_SPEC = re.compile(r"^\s*([a-z_]+)\s*(?::\s*([^\s()]+)|\(\s*([^\s()]+)\s*\))?\s*$")


def _integer(method: str, name: str, text: str | None) -> int:
    if text is None or not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(f"get_credit: {method} needs an integer {name}, e.g. '{method}:8', got {text!r}")
    return int(text)


def get_credit(spec: str | CreditMethod) -> CreditMethod:
    """A credit method from a spec such as ``"bptt"``, ``"tbptt:8"``, ``"tbptt(8)"``, ``"checkpoint:16"``,
    ``"checkpoint:sqrt"``, ``"ottt_o"``, ``"rate"`` or ``"dvm"`` (case-insensitive); a :class:`CreditMethod` is
    returned as it is. Unknown names and bad arguments raise ``ValueError`` listing :data:`CREDIT_METHODS`."""
    if isinstance(spec, CreditMethod):
        return spec
    match = _SPEC.match(spec.lower()) if isinstance(spec, str) else None
    if match is None:
        raise ValueError(f"get_credit: cannot parse credit {spec!r}; known: {', '.join(CREDIT_METHODS)}")
    name, arg = match.group(1), match.group(2) or match.group(3)
    simple = {"bptt": BPTT, "ottt": OTTT, "rate": Rate, "dvm": DvM}
    if name in simple or name in ("ottt_a", "ottt_o"):
        if arg is not None:
            raise ValueError(f"get_credit: {name} takes no argument, got {spec!r}")
        if name in simple:
            return simple[name]()
        return OTTT(variant=name[-1].upper())
    if name == "tbptt":
        return TBPTT(_integer(name, "k", arg))
    if name == "checkpoint":
        return Checkpoint("sqrt" if arg == "sqrt" else _integer(name, "slots", arg))
    raise ValueError(f"get_credit: unknown credit method {spec!r}; known: {', '.join(CREDIT_METHODS)}")
