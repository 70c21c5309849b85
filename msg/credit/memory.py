"""Counting the bytes autograd saves for the backward pass (the activation memory a credit method costs).

:class:`SavedTensorMeter` installs :func:`torch.autograd.graph.saved_tensors_hooks`: every tensor a node saves is
wrapped on packing, its bytes (``numel * element_size``: a view counts its own elements, not its base's storage)
are added to the live total, and subtracted when autograd drops the wrapper (the node's graph is freed). ``peak``
is the largest live total seen, over the forward pass, the backward pass and any recomputation inside it. A tensor
saved by two nodes counts twice; parameters saved by a matmul count too (they do not grow with T).
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import Tensor

__all__ = ["SavedTensorMeter"]


class _Packed:
    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor: Tensor) -> None:
        self.tensor = tensor


class SavedTensorMeter:
    """Context manager measuring live and peak saved-tensor bytes; ``saves`` counts pack events."""

    def __init__(self) -> None:
        self.live = self.peak = self.saves = 0
        self._hooks: Any = None

    def _free(self, nbytes: int) -> None:
        self.live -= nbytes

    def _pack(self, tensor: Tensor) -> _Packed:
        nbytes = tensor.numel() * tensor.element_size()
        packed = _Packed(tensor)
        self.saves += 1
        self.live += nbytes
        self.peak = max(self.peak, self.live)
        weakref.finalize(packed, self._free, nbytes)
        return packed

    @staticmethod
    def _unpack(packed: _Packed) -> Tensor:
        return packed.tensor

    def __enter__(self) -> SavedTensorMeter:
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._hooks.__exit__(*exc)

    def __repr__(self) -> str:
        return f"SavedTensorMeter(live={self.live}, peak={self.peak}, saves={self.saves})"
