"""The environment `make test` builds has the peer libraries and the compiled extra, so no test skips for them."""

from __future__ import annotations

import os

import pytest


@pytest.mark.skipif(os.environ.get("CI") != "true", reason="only CI promises the full test environment")
def test_peer_libraries_import_in_ci() -> None:
    from snntorch import Leaky  # noqa: F401
    from spikingjelly.activation_based import neuron  # noqa: F401
    from torch_sparse import SparseTensor  # noqa: F401
