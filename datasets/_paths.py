"""Where datasets are looked for and where processed files go.

Root resolution (first that applies): the ``root`` argument, the ``MSG_DATA`` environment variable, the user cache
folder (``$XDG_CACHE_HOME/msg/data``, default ``~/.cache/msg/data``). Under the root, files sit where PyTorch
Geometric's and ogb's own dataset classes put them, so data downloaded with PyG or ogb is found as it is.

A read-only root (a shared cluster folder, CI's copy of the test data) works: processed files then go to a writable
cache folder keyed by the root's absolute path (``$MSG_CACHE`` or ``$XDG_CACHE_HOME/msg/processed``), and nothing is
ever written under the root.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ENV_ROOT = "MSG_DATA"
ENV_CACHE = "MSG_CACHE"


def _xdg_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "msg"


def resolve_root(root: str | os.PathLike | None) -> Path:
    """The data root: ``root`` if given, else ``$MSG_DATA``, else the user cache folder."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_ROOT)
    if env:
        return Path(env).expanduser()
    return _xdg_cache() / "data"


def is_writable(folder: Path) -> bool:
    """True when files may be created in ``folder`` (or in its nearest existing parent, if it does not exist).

    A folder without any write permission bit counts as read-only even for root (who could write there anyway): a
    data folder marked read-only is never written to.
    """
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return bool(probe.stat().st_mode & 0o222) and os.access(probe, os.W_OK | os.X_OK)


def processed_cache(root: Path) -> Path:
    """A writable folder for the processed files of a read-only ``root`` (one per root path)."""
    base = Path(os.environ.get(ENV_CACHE) or _xdg_cache() / "processed").expanduser()
    key = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]
    return base / key
