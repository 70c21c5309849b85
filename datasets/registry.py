"""The dataset registry: one entry per name, loaded through PyG's and ogb's own classes where they exist.

``load_dataset(name, root=None)`` returns a :class:`torch_geometric.data.Data`. Files are looked for under the root
(see :mod:`msg.datasets._paths`) exactly where PyG and ogb put them; a read-only root works (processed files go to a
writable cache). Missing files give :class:`DatasetNotFoundError` naming the files and the folder, unreadable ones
:class:`CorruptDatasetError`; nothing under the root is deleted or overwritten.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import URLError

import torch
from torch_geometric.data import Data

from . import hgcn
from ._paths import is_writable, processed_cache, resolve_root
from .errors import CorruptDatasetError, DatasetNotFoundError
from .ogb import edge_split_tensor, numpy_safe_globals, ogb_files
from .shipped import CORA_NPZ, load_shipped_cora


@dataclass(frozen=True)
class DatasetSpec:
    """What msg knows about a dataset before loading it.

    Args:
        name: registry key (lower case).
        family: loader family: ``planetoid``, ``amazon``, ``coauthor``, ``karate``, ``hgcn``, ``ogbn`` or ``ogbl``.
        folder: the folder under the root that holds it (PyG's / ogb's / HGCN's own name).
        files: required files, relative to ``ROOT/folder``.
        pyg_name: the name PyG's class takes (``"Cora"``, ``"Photo"``, ...), or ogb's dataset name.
        splits: the splits it offers besides msg's random node and link splits.
        description: one line for ``msg datasets list``.
    """

    name: str
    family: str
    folder: str
    files: tuple[str, ...]
    pyg_name: str
    splits: tuple[str, ...]
    description: str


def _planetoid(name: str, pyg: str, what: str) -> DatasetSpec:
    stem = pyg.lower()
    files = tuple(f"raw/ind.{stem}.{part}" for part in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"))
    return DatasetSpec(name, "planetoid", pyg, files, pyg, ("public",), f"Planetoid citation graph ({what})")


def _npz(name: str, family: str, pyg: str, npz: str, what: str) -> DatasetSpec:
    return DatasetSpec(name, family, pyg, (f"raw/{npz}.npz",), pyg, (), what)


def _hgcn(name: str, what: str) -> DatasetSpec:
    return DatasetSpec(name, "hgcn", name, tuple(hgcn.hgcn_files(name)), name, (), what)


def _ogb(name: str, what: str) -> DatasetSpec:
    return DatasetSpec(name, name[:4], name.replace("-", "_"), (), name, ("official",), what)


REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        _planetoid("cora", "Cora", "2,708 papers, 7 classes; ships inside msg"),
        _planetoid("citeseer", "CiteSeer", "3,327 papers, 6 classes"),
        _planetoid("pubmed", "PubMed", "19,717 papers, 3 classes"),
        _npz("computers", "amazon", "Computers", "amazon_electronics_computers", "Amazon co-purchase, 10 classes"),
        _npz("photo", "amazon", "Photo", "amazon_electronics_photo", "Amazon co-purchase graph, 8 classes"),
        _npz("cs", "coauthor", "CS", "ms_academic_cs", "Coauthor CS co-authorship graph, 15 classes"),
        _npz("physics", "coauthor", "Physics", "ms_academic_phy", "Coauthor Physics co-authorship graph, 5 classes"),
        DatasetSpec("karate", "karate", "", (), "KarateClub", (), "Zachary's karate club (built into PyG)"),
        _hgcn("disease_nc", "HGCN disease-spreading tree, node classification"),
        _hgcn("disease_lp", "HGCN disease-spreading tree, link prediction"),
        _hgcn("airport", "HGCN flight network, node classification"),
        _ogb("ogbn-arxiv", "OGB arXiv citation graph, 40 classes"),
        _ogb("ogbn-products", "OGB Amazon products graph, 47 classes"),
        _ogb("ogbn-proteins", "OGB protein association graph, 112 binary tasks"),
        _ogb("ogbl-collab", "OGB author collaboration graph, link prediction (Hits@50)"),
        _ogb("ogbl-ddi", "OGB drug-drug interaction graph, link prediction (Hits@20); one-hot node identities"),
    )
}


def get_spec(name: str) -> DatasetSpec:
    """The registry entry for ``name`` (case-insensitive); ``ValueError`` listing the known names otherwise."""
    key = str(name).lower()
    if key not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(REGISTRY)}")
    return REGISTRY[key]


def list_datasets() -> list[str]:
    """The names :func:`load_dataset` accepts."""
    return list(REGISTRY)


def _with_processed_dir(cls: type, processed_dir: Path) -> type:
    """``cls`` with its processed files redirected to ``processed_dir`` (for a read-only root)."""
    return type(cls.__name__, (cls,), {"processed_dir": property(lambda self: str(processed_dir))})


_OGB_SAFE_GLOBALS_DONE = False


def _allow_pyg_in_torch_load() -> None:
    """ogb 1.3.6 calls ``torch.load`` without ``weights_only``; allow PyG's data classes in the safe unpickler."""
    global _OGB_SAFE_GLOBALS_DONE
    if _OGB_SAFE_GLOBALS_DONE:
        return
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    torch.serialization.add_safe_globals([DataEdgeAttr, DataTensorAttr, GlobalStorage])
    _OGB_SAFE_GLOBALS_DONE = True


def _check_files(spec: DatasetSpec, folder: Path, files: tuple[str, ...], download: bool, root: Path) -> bool:
    """Raise when files are missing and cannot be downloaded; return whether a download will be attempted."""
    missing = [f for f in files if not (folder / f).exists()]
    if not missing:
        return False
    if spec.family in ("ogbn", "ogbl") and folder.is_dir() and any(m.startswith("RELEASE") for m in missing):
        # ogb would ask on stdin whether to delete the folder; never prompt, never delete.
        raise DatasetNotFoundError(spec.name, folder, missing, "a partly created ogb folder: complete or remove it")
    if not download and spec.family in ("ogbn", "ogbl"):
        how = f"not downloaded here; fetch it with `msg datasets info {spec.name} --root {root} --download`"
        raise DatasetNotFoundError(spec.name, folder, missing, how)
    if not download:
        raise DatasetNotFoundError(spec.name, folder, missing, "download=False")
    if not is_writable(root):
        raise DatasetNotFoundError(spec.name, folder, missing, "the root is read-only, so nothing can be downloaded")
    return True


def _processed_dir(root: Path, spec: DatasetSpec, default: Path) -> Path | None:
    """``None`` when PyG's default processed folder is writable, else a folder in the writable cache."""
    return None if is_writable(default) else processed_cache(root) / spec.folder / "processed"


def _load_pyg(spec: DatasetSpec, root: Path, download: bool) -> tuple[Data, str]:
    from torch_geometric import datasets as pyg

    folder = root / spec.folder
    downloading = _check_files(spec, folder, spec.files, download, root)
    cls = {"planetoid": pyg.Planetoid, "amazon": pyg.Amazon, "coauthor": pyg.Coauthor}[spec.family]
    redirect = _processed_dir(root, spec, folder / "processed")
    if redirect is not None:
        cls = _with_processed_dir(cls, redirect)
    try:
        data = cls(str(root), spec.pyg_name)[0]
    except (URLError, ConnectionError, TimeoutError) as err:
        raise DatasetNotFoundError(spec.name, folder, list(spec.files), f"download failed: {err}") from err
    except (EOFError, ValueError, KeyError, OSError, zipfile.BadZipFile, IndexError, RuntimeError) as err:
        if downloading:
            raise DatasetNotFoundError(spec.name, folder, list(spec.files), f"download failed: {err}") from err
        raise CorruptDatasetError(spec.name, folder, err) from err
    where = f"{folder / 'raw'} (PyG {cls.__name__}; processed in {redirect or folder / 'processed'})"
    return data, where


def _open_ogb(spec: DatasetSpec, root: Path, download: bool, cls: type, split: Callable) -> tuple[Any, Any, str]:
    """Open an ogb dataset class on ``root`` (checked first: no prompt, no download without network) and read its
    official split with ``split(dataset)``; return the dataset, the split and where it was read from."""
    folder = root / spec.folder
    downloading = _check_files(spec, folder, ogb_files(spec.name), download, root)
    _allow_pyg_in_torch_load()
    redirect = _processed_dir(root, spec, folder / "processed")
    name = cls.__name__
    if redirect is not None:
        cls = _with_processed_dir(cls, redirect)
    files = list(ogb_files(spec.name))
    try:
        dataset = cls(spec.name, root=str(root))
        parts = split(dataset)
    except (URLError, ConnectionError, TimeoutError) as err:
        raise DatasetNotFoundError(spec.name, folder, files, f"download failed: {err}") from err
    except pickle.UnpicklingError as err:  # torch.load(weights_only=True) refused something: say what, briefly
        reason = next((line.strip() for line in str(err).splitlines() if "WeightsUnpickler error" in line), str(err))
        short = pickle.UnpicklingError(f"a file holds more than tensors and plain arrays, refused unread ({reason})")
        raise CorruptDatasetError(spec.name, folder, short) from err
    except (EOFError, ValueError, KeyError, OSError, IndexError, RuntimeError) as err:
        if downloading:
            raise DatasetNotFoundError(spec.name, folder, files, str(err)) from err
        raise CorruptDatasetError(spec.name, folder, err) from err
    return dataset, parts, f"{folder} (ogb {name}; processed in {redirect or folder / 'processed'})"


def _load_ogbn(spec: DatasetSpec, root: Path, download: bool) -> tuple[Data, str]:
    from ogb.nodeproppred import PygNodePropPredDataset

    dataset, split, where = _open_ogb(spec, root, download, PygNodePropPredDataset, lambda d: d.get_idx_split())
    data = dataset[0]
    if data.x is None and data.edge_attr is not None:
        # ogbn-proteins has edge features only; like OGB's reference examples, a node's features are the mean of
        # the features of its incoming edges.
        from torch_geometric.utils import scatter

        data.x = scatter(data.edge_attr, data.edge_index[1], 0, dim_size=data.num_nodes, reduce="mean")
    if data.y.dim() == 2 and data.y.size(1) == 1:
        data.y = data.y.view(-1)
    for part, key in (("train", "train"), ("val", "valid"), ("test", "test")):
        mask = torch.zeros(data.num_nodes, dtype=torch.bool)
        mask[split[key]] = True
        data[f"{part}_mask"] = mask
    return data, where


LINK_SPLIT_KEYS = (
    ("train_pos_edge_index", "train", "edge"),
    ("val_pos_edge_index", "valid", "edge"),
    ("val_neg_edge_index", "valid", "edge_neg"),
    ("test_pos_edge_index", "test", "edge"),
    ("test_neg_edge_index", "test", "edge_neg"),
)
"""Attribute of the loaded graph <- (part, key) of ogb's ``get_edge_split()``; pairs stored as [2, E]."""


def _edge_split(dataset: Any) -> dict:
    with torch.serialization.safe_globals(numpy_safe_globals()):  # ogb's split files hold numpy arrays
        return dataset.get_edge_split()


def _load_ogbl(spec: DatasetSpec, root: Path, download: bool) -> tuple[Data, str]:
    from ogb.linkproppred import PygLinkPropPredDataset

    dataset, split, where = _open_ogb(spec, root, download, PygLinkPropPredDataset, _edge_split)
    data = dataset[0]
    try:
        for attr, part, key in LINK_SPLIT_KEYS:
            data[attr] = edge_split_tensor(split[part], key)
    except (KeyError, ValueError, TypeError) as err:
        raise CorruptDatasetError(spec.name, root / spec.folder, err) from err
    if data.x is None:
        # ogbl-ddi has no node features. One-hot node identities make a model's first projection a learnable
        # embedding per node (what OGB's reference ddi models train), for every model msg has; MSG's encoder
        # multiplies them as SparseFeatures (nnz = |V|). Dense storage: |V|^2 floats (73 MB for ddi's 4,267 nodes).
        data.x = torch.eye(data.num_nodes, dtype=torch.float32)
    return data, where


def _load_hgcn(spec: DatasetSpec, root: Path, download: bool) -> tuple[Data, str]:
    folder = root / spec.folder
    missing = [f for f in spec.files if not (folder / f).exists()]
    if missing:
        raise DatasetNotFoundError(spec.name, folder, missing, "HGCN's graphs are not downloadable by msg")
    try:
        data = hgcn.load_airport(folder) if spec.name == "airport" else hgcn.load_disease(spec.name, folder)
    except (EOFError, ValueError, KeyError, OSError, zipfile.BadZipFile, ImportError) as err:
        raise CorruptDatasetError(spec.name, folder, err) from err
    return data, f"{folder} (HGCN files)"


def _load_karate(spec: DatasetSpec, root: Path, download: bool) -> tuple[Data, str]:
    from torch_geometric.datasets import KarateClub

    return KarateClub()[0], "built into PyG (KarateClub)"


_LOADERS: dict[str, Callable[[DatasetSpec, Path, bool], tuple[Data, str]]] = {
    "planetoid": _load_pyg,
    "amazon": _load_pyg,
    "coauthor": _load_pyg,
    "ogbn": _load_ogbn,
    "ogbl": _load_ogbl,
    "hgcn": _load_hgcn,
    "karate": _load_karate,
}


def load_with_source(
    name: str, root: str | os.PathLike | None = None, download: bool = True
) -> tuple[Data, str]:
    """Like :func:`load_dataset`, and also say where the data was read from."""
    spec = get_spec(name)
    resolved = resolve_root(root)
    if spec.name == "cora" and not all((resolved / spec.folder / f).exists() for f in spec.files):
        return load_shipped_cora(), f"{CORA_NPZ} (shipped with msg)"
    return _LOADERS[spec.family](spec, resolved, download)


def load_dataset(name: str, root: str | os.PathLike | None = None, download: bool = True) -> Data:
    """Load a graph by name as a :class:`torch_geometric.data.Data`.

    Args:
        name: one of :func:`list_datasets` (case-insensitive).
        root: data root; default ``$MSG_DATA``, else the user cache folder. Files are read where PyG / ogb / HGCN
            put them under it (``ROOT/Cora/raw/ind.cora.*``, ``ROOT/Photo/raw/*.npz``, ``ROOT/disease_nc/...``,
            ``ROOT/ogbn_arxiv/...``, ``ROOT/ogbl_collab/...``). It may be read-only.
        download: let PyG / ogb download missing files (needs network and a writable root). Without network a
            :class:`DatasetNotFoundError` names the missing files and the folder to put them in.

    ``cora`` falls back to the copy shipped inside msg when the root has no raw Cora files. Planetoid and OGB node
    graphs come with their official ``train_mask`` / ``val_mask`` / ``test_mask``; OGB link graphs (``ogbl-*``)
    hold the training edges as ``edge_index`` and ogb's official edge split as ``train_pos_edge_index``,
    ``val_pos_edge_index``, ``val_neg_edge_index``, ``test_pos_edge_index``, ``test_neg_edge_index`` ([2, E]).
    """
    return load_with_source(name, root, download)[0]
