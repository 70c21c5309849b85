"""Test isolation: scratch TMPDIR / caches, no user data root, and the real datasets when CI provides them."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import pytest

_SCRATCH = Path(tempfile.mkdtemp(prefix="msg-tests-"))
# PyG writes generated files under TMPDIR; msg writes processed datasets to MSG_CACHE; tests must not read a
# user's MSG_DATA. Set before anything imports torch_geometric.
os.environ["TMPDIR"] = str(_SCRATCH / "tmp")
os.environ["MSG_CACHE"] = str(_SCRATCH / "cache")
os.environ["MSG_DATA"] = str(_SCRATCH / "data")
for sub in ("tmp", "cache", "data"):
    (_SCRATCH / sub).mkdir()
tempfile.tempdir = None  # re-read TMPDIR

REPO = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path | None:
    """The real test datasets: $MSG_SHARED_DATA (set by .ci/run), else ../shared/data beside the checkout."""
    env = os.environ.get("MSG_SHARED_DATA")
    candidates = [Path(env)] if env else [REPO.parent / "shared" / "data"]
    return next((c for c in candidates if (c / "Cora" / "raw").is_dir()), None)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_root()
    if root is None:
        pytest.skip("real datasets not found: set MSG_SHARED_DATA to the folder holding Cora/raw, Photo/raw, ...")
    return root


@pytest.fixture(scope="session")
def load_benchmark():
    """``load_benchmark(name)`` imports ``benchmarks/<name>.py`` (scripts, not a package) as a module."""

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
