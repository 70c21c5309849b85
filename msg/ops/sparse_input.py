"""Node features as a sparse matrix when few of them are non-zero, for a model's first (linear) layer.

Bag-of-words features are mostly zeros (Coauthor CS: 18333 x 6805, 0.9% non-zero). Multiplied by a layer's weight
as a dense matrix they cost :math:`|V| F D` multiply-adds forward and as many again for the weight's gradient; as a
sparse (COO) matrix, the non-zeros times D. :class:`SparseInput` makes the sparse copy once per input object and
keeps it, so that a training loop that passes the same ``x`` every epoch converts it once.

Used by HGCN (:mod:`msg.models.hgcn`) and the ANN baselines (:mod:`msg.models.ann`).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

__all__ = ["SparseInput"]


class SparseInput:
    """The (optionally prepared) input, as a sparse COO matrix below a fraction of non-zeros, kept for the last input
    object that needs no gradient (an input that needs one stays dense and is not kept)."""

    def __init__(self) -> None:
        self._last: tuple[Tensor, int, Tensor] | None = None

    def __call__(self, x: Tensor, below: float, prepare: Callable[[Tensor], Tensor] | None = None) -> Tensor:
        """``prepare(x)`` (``x`` without it), sparse when fewer than ``below`` of its entries are non-zero. The kept
        copy serves the same tensor object while it is unchanged (an in-place edit bumps its version: remade)."""
        if self._last is not None and self._last[0] is x and self._last[1] == x._version:
            return self._last[2]
        v = x if prepare is None else prepare(x)
        if not x.requires_grad:
            if below > 0 and v.count_nonzero() < below * v.numel():
                v = v.to_sparse()
            self._last = (x, x._version, v)
        return v

    @property
    def kept(self) -> Tensor | None:
        """The kept (prepared, possibly sparse) input, ``None`` if none."""
        return None if self._last is None else self._last[2]

    def clear(self) -> None:
        """Forget the kept input."""
        self._last = None
