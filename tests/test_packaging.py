"""The wheel installs msg, msg.manifolds and msg.datasets, and no top-level datasets/manifolds package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_file_list(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    subprocess.run([*command, str(REPO)], check=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert "datasets" not in top and "manifolds" not in top, sorted(top)
    assert {n for n in top if not n.endswith(".dist-info")} == {"msg"}
    assert "msg/datasets/_data/cora.npz" in names and "msg/datasets/_data/cora.json" in names
    assert "msg/manifolds/__init__.py" in names and "msg/cli.py" in names
    assert "msg/configs/nc_photo_lorentz.json" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "msg = msg.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
