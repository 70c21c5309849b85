"""Figures and image files: a pyplot-free matplotlib :class:`~matplotlib.figure.Figure`, saved as PNG or SVG.

matplotlib is imported here, lazily, and only through :func:`new_figure`: ``import msg`` and ``import msg.plot``
never need it. Figures are made with the object-oriented API (``matplotlib.figure.Figure``), not ``pyplot``: a
PNG is rendered by the Agg canvas and an SVG by the SVG canvas whatever backend the user's matplotlib is set to,
no window is ever opened, no global figure registry fills up, and the process-wide backend is left untouched.

Output rules (every ``msg plot`` subcommand): the file name ends in ``.png`` or ``.svg``; an existing file is kept
unless ``overwrite``; the image is rendered in memory and then written in one go, so nothing but that file (and
its parent folder, when missing) is created, and nothing at all when rendering fails.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = ("png", "svg")


def new_figure(width: float, height: float) -> Figure:
    """An empty ``width`` x ``height`` inch figure with constrained layout (raises ImportError naming the extra)."""
    for name, value in (("width", width), ("height", height)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ValueError(f"figure {name} must be a positive number of inches, got {value!r}")
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(
            "msg plot needs matplotlib, which is not installed; install the plot extra: pip install 'msg-snn[plot]'"
        ) from err
    return Figure(figsize=(width, height), layout="constrained")


def check_output(out: str | Path, overwrite: bool) -> Path:
    """Validate an output path before any work is done: a ``.png``/``.svg`` name, not an existing file."""
    path = Path(out)
    if path.suffix.lower().lstrip(".") not in FORMATS:
        raise ValueError(f"--out {out}: the file name must end in .png or .svg")
    if path.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name ending in .png or .svg")
    if path.exists() and not overwrite:
        raise ValueError(f"--out {out} exists; pass --overwrite to replace it (nothing was written)")
    return path


def save_figure(fig: Figure, out: str | Path, dpi: float, overwrite: bool = False) -> Path:
    """Render ``fig`` at ``dpi`` (a PNG is exactly width*dpi x height*dpi pixels) and write it to ``out``."""
    if not (isinstance(dpi, int | float) and math.isfinite(dpi) and dpi > 0):
        raise ValueError(f"dpi must be a positive number, got {dpi!r}")
    path = check_output(out, overwrite)
    fmt = path.suffix.lower().lstrip(".")
    buffer = io.BytesIO()
    # No bbox_inches="tight": the stated size is the size written. An SVG carries no date, so reruns compare equal.
    fig.savefig(buffer, format=fmt, dpi=dpi, metadata={"Date": None} if fmt == "svg" else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "wb" if overwrite else "xb") as handle:
            handle.write(buffer.getvalue())
    except FileExistsError as err:
        raise ValueError(f"--out {out} exists; pass --overwrite to replace it (nothing was written)") from err
    return path
