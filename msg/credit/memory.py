"""Counting the bytes autograd saves for the backward pass (the activation memory a credit method costs).

:class:`SavedTensorMeter` installs :func:`torch.autograd.graph.saved_tensors_hooks`: every tensor a node saves is
wrapped on packing and released when autograd drops the wrapper (the node's graph is freed). A saved tensor counts
``numel * element_size`` bytes (a view counts its own elements, not its base's storage) once while any node holds
it (the same tensor saved by two nodes is one allocation), and leaf tensors that require gradients (parameters, and
the detached inputs a recomputation starts from, which alias stored states) are not counted: they are not
activations and do not grow with T. ``peak`` is the largest live total seen, over the forward pass, the backward
pass and any recomputation inside it. Memory a method keeps for its backward pass outside autograd (the states
:class:`~msg.credit.Checkpoint` stores in its slots) is reported with :func:`hold` and counted the same way.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["SavedTensorMeter", "hold"]

_ACTIVE: list[SavedTensorMeter] = []


class _Packed:
    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor: Tensor) -> None:
        self.tensor = tensor


class SavedTensorMeter:
    """Context manager measuring live and peak saved-activation bytes; ``saves`` counts pack events."""

    def __init__(self) -> None:
        self.live = self.peak = self.saves = 0
        self._holders: dict[tuple, int] = {}
        self._hooks: Any = None

    def _release(self, key: tuple, nbytes: int) -> None:
        self._holders[key] -= 1
        if self._holders[key] == 0:
            del self._holders[key]
            self.live -= nbytes

    def _pack(self, tensor: Tensor) -> _Packed:
        packed = _Packed(tensor)
        self.saves += 1
        if tensor.is_leaf and tensor.requires_grad:
            return packed
        # the tensor is alive while packed, so its storage address cannot be reused by another one meanwhile
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape), tensor.stride())
        nbytes = tensor.numel() * tensor.element_size()
        if key not in self._holders:
            self._holders[key] = 0
            self.live += nbytes
            self.peak = max(self.peak, self.live)
        self._holders[key] += 1
        weakref.finalize(packed, self._release, key, nbytes)
        return packed

    @staticmethod
    def _unpack(packed: _Packed) -> Tensor:
        return packed.tensor

    def __enter__(self) -> SavedTensorMeter:
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _ACTIVE.remove(self)
        self._hooks.__exit__(*exc)

    def __repr__(self) -> str:
        return f"SavedTensorMeter(live={self.live}, peak={self.peak}, saves={self.saves})"


def hold(tensors: Sequence[Tensor | None]) -> list[_Packed]:
    """Count ``tensors`` in every active meter for as long as the returned handles live (memory a method keeps for
    its backward pass outside autograd's saved tensors)."""
    return [meter._pack(t) for meter in _ACTIVE for t in tensors if t is not None]
