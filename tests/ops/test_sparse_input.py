"""SparseInput: one sparse copy per unchanged input object."""

import torch

from msg.ops.sparse_input import SparseInput


def test_the_kept_copy_serves_the_same_unchanged_input_and_is_remade_after_an_in_place_edit():
    x = torch.zeros(50, 40)
    x[::7, ::5] = 1.0
    keep = SparseInput()
    first = keep(x, below=0.1)
    assert first.is_sparse and keep(x, below=0.1) is first
    x[0, 0] = 3.0  # in place: the old copy no longer matches x
    again = keep(x, below=0.1)
    assert again is not first and torch.equal(again.to_dense(), x)
    dense = keep(torch.ones(5, 5), below=0.1)
    assert not dense.is_sparse
