"""Shared fixtures for msg.plot: one tiny training run on the shipped Cora, untrained saved models, PNG sizes."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from msg.tasks.config import TrainConfig
from msg.tasks.runner import build_model, run, save_model, write_json_atomic

TINY = dict(T=3, epochs=2, hidden=4, layers=1)
CORA_FEATURES, CORA_CLASSES = 1433, 7


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(results JSON, model file)`` of a 2-run, 2-epoch Lorentz MSG run on the shipped Cora."""
    folder = tmp_path_factory.mktemp("tiny_run")
    results, model = folder / "results.json", folder / "model.pt"
    write_json_atomic(results, run(TrainConfig(runs=2, **TINY), progress=False, save_model_to=model))
    return results, model


@pytest.fixture(scope="session")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``saved_model(manifold)``: an untrained tiny MSG for Cora on ``manifold``, saved as `msg train` saves it."""
    folder = tmp_path_factory.mktemp("models")

    def make(manifold: str) -> Path:
        path = folder / f"{manifold.replace(',', '_')}.pt"
        if not path.exists():
            cfg = TrainConfig(manifold=manifold, **TINY)
            save_model(path, build_model(cfg, CORA_FEATURES, CORA_CLASSES), cfg, CORA_FEATURES, CORA_CLASSES)
        return path

    return make


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def png_size() -> Callable[[Path], tuple[int, int]]:
    """``png_size(path) -> (width, height)`` in pixels, read from the PNG's IHDR chunk."""
    return _png_size
