"""msg.plot.output: the one-file PNG/SVG output, its exact pixel size, overwrite refusal, lazy matplotlib."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

import msg
from msg.plot.output import new_figure, save_figure


def _figure(width: float = 4.0, height: float = 3.0):
    fig = new_figure(width, height)
    fig.subplots().plot([0, 1], [1, 0])
    return fig


def test_png_has_the_stated_pixel_size_and_is_the_only_file(tmp_path: Path, png_size) -> None:
    out = tmp_path / "new" / "folder" / "fig.png"
    assert save_figure(_figure(4.0, 3.0), out, dpi=50) == out
    assert png_size(out) == (200, 150)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [out]


def test_svg_has_the_stated_size_in_points(tmp_path: Path) -> None:
    out = tmp_path / "fig.svg"
    save_figure(_figure(4.0, 3.0), out, dpi=50)
    text = out.read_text()
    assert "<svg" in text and 'width="288pt"' in text and 'height="216pt"' in text  # 72 points per inch
    assert "<dc:date>" not in text  # no date: a rerun writes the same picture


def test_existing_file_is_kept_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "fig.png"
    out.write_bytes(b"mine")
    with pytest.raises(ValueError, match=r"fig\.png exists; pass --overwrite"):
        save_figure(_figure(), out, dpi=20)
    assert out.read_bytes() == b"mine"
    save_figure(_figure(), out, dpi=20, overwrite=True)
    assert out.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("name", "message"), [("fig.jpg", "must end in .png or .svg"), ("fig", "must end in .png or .svg")]
)
def test_other_formats_are_refused(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        save_figure(_figure(), tmp_path / name, dpi=20)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_is_not_an_output_file(tmp_path: Path) -> None:
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        save_figure(_figure(), tmp_path / "dir.png", dpi=20, overwrite=True)


@pytest.mark.parametrize(("width", "height", "dpi"), [(0, 3, 50), (4, float("nan"), 50), (4, 3, -1)])
def test_bad_sizes_name_the_argument(tmp_path: Path, width: float, height: float, dpi: float) -> None:
    with pytest.raises(ValueError, match="width|height|dpi"):
        save_figure(_figure(width, height), tmp_path / "fig.png", dpi=dpi)
    assert list(tmp_path.iterdir()) == []


def test_missing_matplotlib_names_the_plot_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # `from matplotlib.figure import ...` now fails
    with pytest.raises(ImportError, match=r"msg-snn\[plot\]"):
        new_figure(4.0, 3.0)


def test_importing_msg_plot_needs_no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(msg, "plot", sys.modules["msg.plot"])  # the package attribute is restored too
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith(("matplotlib.", "msg.plot"))]:
        monkeypatch.delitem(sys.modules, name)  # restored after the test
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # any `import matplotlib` now raises ImportError
    importlib.import_module("msg.plot")
    importlib.import_module("msg.plot.cli")
