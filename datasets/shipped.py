"""The copy of Cora that ships inside the package, so that ``load_dataset("cora")`` works offline with no root.

Stored compactly (a few hundred kB): the non-zero positions of the binary bag-of-words matrix, the edge list, the
labels and the public split as small integer arrays in ``_data/cora.npz``, with its SHA-256 in ``_data/cora.json``
checked at every load. The tensors it gives are exactly the ones PyTorch Geometric's ``Planetoid(root, "Cora")``
gives from the raw Planetoid files (Yang, Cohen, Salakhutdinov, ICML 2016); a test compares them.

Rebuild it from the raw files (``ROOT/Cora/raw/ind.cora.*``) with::

    python -m msg.datasets.shipped ROOT
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

DATA_DIR = Path(__file__).resolve().parent / "_data"
CORA_NPZ = DATA_DIR / "cora.npz"
CORA_META = DATA_DIR / "cora.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_shipped_cora() -> Data:
    """Cora from the packaged file, verified against its recorded checksum."""
    meta = json.loads(CORA_META.read_text())
    digest = _sha256(CORA_NPZ)
    if digest != meta["sha256"]:
        raise ValueError(
            f"the shipped Cora file {CORA_NPZ} is corrupt (sha256 {digest}, expected {meta['sha256']}); "
            "reinstall msg or rebuild it with `python -m msg.datasets.shipped ROOT`"
        )
    with np.load(CORA_NPZ, allow_pickle=False) as f:
        num_nodes, num_features = (int(v) for v in f["x_shape"])
        x = torch.zeros(num_nodes, num_features)
        x[torch.from_numpy(f["x_rows"].astype(np.int64)), torch.from_numpy(f["x_cols"].astype(np.int64))] = 1.0
        masks = {}
        for split in ("train", "val", "test"):
            mask = torch.zeros(num_nodes, dtype=torch.bool)
            mask[torch.from_numpy(f[f"{split}_index"].astype(np.int64))] = True
            masks[f"{split}_mask"] = mask
        return Data(
            x=x,
            edge_index=torch.from_numpy(f["edge_index"].astype(np.int64)),
            y=torch.from_numpy(f["y"].astype(np.int64)),
            **masks,
        )


def build_shipped_cora(raw_root: Path, out: Path = CORA_NPZ) -> dict:
    """Write the compact Cora file from ``raw_root/Cora/raw`` (read through PyG's Planetoid); return its metadata."""
    from torch_geometric.datasets import Planetoid

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(Path(raw_root) / "Cora" / "raw", Path(tmp) / "Cora" / "raw")
        data = Planetoid(tmp, "Cora")[0]
    if not torch.equal(data.x, (data.x != 0).float()):
        raise ValueError("Cora features are expected to be binary; the raw files differ from Planetoid's")
    rows, cols = data.x.nonzero(as_tuple=True)
    arrays = {
        "x_shape": np.array(data.x.shape, dtype=np.int64),
        "x_rows": rows.numpy().astype(np.uint16),
        "x_cols": cols.numpy().astype(np.uint16),
        "edge_index": data.edge_index.numpy().astype(np.uint16),
        "y": data.y.numpy().astype(np.uint8),
    }
    for split in ("train", "val", "test"):
        arrays[f"{split}_index"] = data[f"{split}_mask"].nonzero().view(-1).numpy().astype(np.uint16)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    meta = {"name": "cora", "sha256": _sha256(out), "source": "Planetoid raw files ind.cora.* (kimiyoung/planetoid)"}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Rebuild the shipped Cora file from the raw Planetoid files.")
    parser.add_argument("root", type=Path, help="folder that holds Cora/raw/ind.cora.*")
    args = parser.parse_args(argv)
    meta = build_shipped_cora(args.root)
    print(f"wrote {CORA_NPZ} ({CORA_NPZ.stat().st_size} bytes, sha256 {meta['sha256']})")


if __name__ == "__main__":
    main()
