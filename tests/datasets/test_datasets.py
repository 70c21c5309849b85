"""msg.datasets: real data statistics, the shipped Cora, OGB through ogb's own loader, and the error paths."""

from __future__ import annotations

import builtins
import os
import pickle
import shutil
import stat
from contextlib import nullcontext
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from msg.datasets import (
    CorruptDatasetError,
    DatasetNotFoundError,
    dataset_info,
    graph_stats,
    list_datasets,
    load_dataset,
    load_with_source,
    shipped,
)

# From ../shared/data/SOURCES.md: nodes, undirected edges (no self-loops), features, classes.
SOURCES = {
    "cora": (2708, 5278, 1433, 7),
    "citeseer": (3327, 4552, 3703, 6),
    "photo": (7650, 119081, 745, 8),
    "cs": (18333, 81894, 6805, 15),
    "disease_nc": (1044, 1043, 1044, 2),  # identity features: the feature file is missing
    "disease_lp": (2665, 2664, 11, 2),
}


def _tree_listing(root: Path) -> list[tuple[str, int, float]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime) for p in root.rglob("*"))


@pytest.mark.parametrize("name", list(SOURCES))
def test_real_dataset_statistics_and_read_only_root(name: str, shared_data: Path) -> None:
    before = _tree_listing(shared_data)
    with pytest.warns(UserWarning, match="identity features") if name == "disease_nc" else nullcontext():
        data, source = load_with_source(name, root=shared_data)
    stats = graph_stats(data)
    assert (stats["nodes"], stats["undirected_edges"], stats["features"], stats["classes"]) == SOURCES[name]
    assert str(shared_data) in source
    assert _tree_listing(shared_data) == before, "nothing may be written under a read-only root"


def test_shipped_cora_equals_planetoid(shared_data: Path, tmp_path: Path) -> None:
    from torch_geometric.datasets import Planetoid

    shutil.copytree(shared_data / "Cora" / "raw", tmp_path / "Cora" / "raw")
    reference = Planetoid(str(tmp_path), "Cora")[0]
    data, source = load_with_source("cora")  # MSG_DATA points at an empty folder: the shipped copy is used
    assert "shipped" in source
    assert set(data.keys()) == set(reference.keys())
    for key in reference.keys():
        assert data[key].dtype == reference[key].dtype, key
        assert torch.equal(data[key], reference[key]), key


def test_shipped_cora_is_small_and_checksummed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert shipped.CORA_NPZ.stat().st_size < 1_000_000
    broken = tmp_path / "cora.npz"
    payload = bytearray(shipped.CORA_NPZ.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    broken.write_bytes(bytes(payload))
    monkeypatch.setattr(shipped, "CORA_NPZ", broken)
    with pytest.raises(ValueError, match="corrupt"):
        shipped.load_shipped_cora()


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'coraa'.*cora, citeseer, pubmed"):
        load_dataset("coraa")
    assert {"cora", "photo", "cs", "physics", "karate", "airport", "ogbn-arxiv", "ogbn-proteins"} <= set(
        list_datasets()
    )


def test_missing_files_name_files_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"ind\.pubmed\.x.*" + str(tmp_path / "PubMed")):
        load_dataset("pubmed", root=tmp_path, download=False)
    with pytest.raises(DatasetNotFoundError, match="disease_nc.edges.csv"):
        load_dataset("disease_nc", root=tmp_path)


def test_failed_download_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch_geometric.datasets.amazon as amazon

    def offline(*args: object, **kwargs: object) -> None:
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(amazon, "download_url", offline)
    with pytest.raises(DatasetNotFoundError, match="amazon_electronics_computers.npz.*download failed"):
        load_dataset("computers", root=tmp_path)


def test_read_only_root_refuses_download(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(DatasetNotFoundError, match="read-only"):
            load_dataset("photo", root=root)
        assert list(root.iterdir()) == []
    finally:
        root.chmod(stat.S_IRWXU)


def test_truncated_file_is_reported_and_kept(shared_data: Path, tmp_path: Path) -> None:
    raw = tmp_path / "Photo" / "raw"
    raw.mkdir(parents=True)
    source = (shared_data / "Photo" / "raw" / "amazon_electronics_photo.npz").read_bytes()
    target = raw / "amazon_electronics_photo.npz"
    target.write_bytes(source[: len(source) // 3])
    with pytest.raises(CorruptDatasetError, match="truncated or corrupt"):
        load_dataset("photo", root=tmp_path)
    assert target.stat().st_size == len(source) // 3, "the user's file must be left as it was"


def test_root_from_environment(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSG_DATA", str(shared_data))
    _, source = load_with_source("citeseer")
    assert source.startswith(str(shared_data / "CiteSeer"))


def test_ogbn_arxiv_through_ogb_loader_and_evaluator(tmp_path: Path) -> None:
    from ogb.nodeproppred import Evaluator
    from ogb_fake import write_ogbn_arxiv

    folder = write_ogbn_arxiv(tmp_path, num_nodes=60, num_edges=200)
    for path in (folder, tmp_path):  # read-only root: processed files go to the cache
        os.chmod(path, stat.S_IRUSR | stat.S_IXUSR)
    try:
        data, source = load_with_source("ogbn-arxiv", root=tmp_path)
    finally:
        for path in (tmp_path, folder):
            os.chmod(path, stat.S_IRWXU)
    assert "ogb" in source and not (tmp_path / "ogbn_arxiv" / "processed").exists()
    assert data.num_nodes == 60 and data.x.shape == (60, 128) and data.y.shape == (60,)
    assert int(data.train_mask.sum()) == 36 and int(data.val_mask.sum()) == 12 and int(data.test_mask.sum()) == 12
    assert not (data.train_mask & data.test_mask).any()
    y_true = data.y.view(-1, 1)
    y_pred = y_true.clone()
    y_pred[:15] = (y_pred[:15] + 1) % 40
    score = Evaluator("ogbn-arxiv").eval({"y_true": y_true, "y_pred": y_pred})
    assert score["acc"] == pytest.approx(45 / 60)


def test_partial_ogb_folder_never_prompts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ogb_fake import write_ogbn_arxiv

    folder = write_ogbn_arxiv(tmp_path)
    (folder / "RELEASE_v1.txt").unlink()

    def no_prompt(*args: object) -> str:
        raise AssertionError("ogb asked on stdin")

    monkeypatch.setattr(builtins, "input", no_prompt)
    with pytest.raises(DatasetNotFoundError, match="RELEASE_v1.txt.*partly created"):
        load_dataset("ogbn-arxiv", root=tmp_path)
    assert (folder / "raw" / "edge.csv.gz").exists(), "nothing the user had may be deleted"


def test_airport_format(tmp_path: Path) -> None:
    import networkx as nx

    graph = nx.Graph()
    feats = {0: [1, 2, 3, 4, 0.9], 1: [0, 1, 0, 1, 1.1], 2: [5, 5, 5, 5, 1.2], 3: [1, 1, 1, 1, 1.5]}
    for node, feat in feats.items():
        graph.add_node(node, feat=np.array(feat))
    graph.add_edges_from([(0, 1), (1, 2), (2, 3)])
    (tmp_path / "airport").mkdir()
    with open(tmp_path / "airport" / "airport.p", "wb") as handle:
        pickle.dump(graph, handle)
    data = load_dataset("airport", root=tmp_path)
    assert data.x.tolist() == [f[:4] for f in feats.values()]
    assert data.y.tolist() == [0, 1, 2, 3]  # bins 7/7, 8/7, 9/7 on column 4
    assert graph_stats(data)["undirected_edges"] == 3


def test_karate_and_info() -> None:
    info = dataset_info("karate")
    assert info["nodes"] == 34 and info["undirected_edges"] == 78 and "PyG" in info["source"]


def test_ogbl_through_ogb_loader_on_a_read_only_root(tmp_path: Path) -> None:
    from ogb_fake import write_ogbl_collab, write_ogbl_ddi

    folders = [write_ogbl_collab(tmp_path), write_ogbl_ddi(tmp_path)]
    before = _tree_listing(tmp_path)
    for path in (*folders, tmp_path):  # read-only root: processed files go to the cache
        os.chmod(path, stat.S_IRUSR | stat.S_IXUSR)
    try:
        collab, source = load_with_source("ogbl-collab", root=tmp_path)  # split files hold numpy arrays
        ddi = load_dataset("ogbl-ddi", root=tmp_path)  # split files hold tensors
    finally:
        for path in (tmp_path, *folders):
            os.chmod(path, stat.S_IRWXU)
    assert "PygLinkPropPredDataset" in source and _tree_listing(tmp_path) == before
    assert collab.x.shape == (60, 128) and collab.edge_index.size(1) == 2 * 245  # training edges, both directions
    sizes = {k: tuple(collab[k].shape) for k in ("train_pos_edge_index", "val_pos_edge_index", "test_neg_edge_index")}
    assert sizes == {"train_pos_edge_index": (2, 245), "val_pos_edge_index": (2, 30), "test_neg_edge_index": (2, 80)}
    assert torch.equal(ddi.x, torch.eye(50))  # no node features: one-hot identities
    assert ddi.val_neg_edge_index.shape == (2, 60) and ddi.test_pos_edge_index.dtype == torch.long
    info = dataset_info("ogbl-ddi", root=tmp_path)
    assert info["classes"] is None and info["mask_sizes"]["val_neg_edge_index"] == 60
    assert info["splits"] == ["official", "link (msg.datasets.link_split)"]


def test_ogbl_partial_folder_never_prompts_and_missing_files_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ogb_fake import write_ogbl_ddi

    def no_prompt(*args: object) -> str:
        raise AssertionError("ogb asked on stdin")

    monkeypatch.setattr(builtins, "input", no_prompt)
    with pytest.raises(DatasetNotFoundError, match=r"RELEASE_v1\.txt.*split/target/train\.pt.*not downloaded here"):
        load_dataset("ogbl-ddi", root=tmp_path, download=False)
    folder = write_ogbl_ddi(tmp_path)
    (folder / "RELEASE_v1.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="RELEASE_v1.txt.*partly created"):
        load_dataset("ogbl-ddi", root=tmp_path)
    assert (folder / "split" / "target" / "valid.pt").exists(), "nothing the user had may be deleted"


class _Payload:
    def __reduce__(self) -> tuple:
        return (Path.touch, (Path(os.environ["TMPDIR"]) / "ran-code-from-a-split-file",))


def test_ogbl_split_file_with_code_is_refused_unrun(tmp_path: Path) -> None:
    from ogb_fake import write_ogbl_ddi

    folder = write_ogbl_ddi(tmp_path)
    torch.save({"edge": _Payload(), "edge_neg": torch.zeros(3, 2)}, folder / "split" / "target" / "valid.pt")
    with pytest.raises(CorruptDatasetError, match="ogbl-ddi.*refused unread.*Unsupported global"):
        load_dataset("ogbl-ddi", root=tmp_path)
    assert not (Path(os.environ["TMPDIR"]) / "ran-code-from-a-split-file").exists()
