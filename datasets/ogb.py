"""What msg needs to know about the OGB datasets: ogb's own metadata, file layout and evaluators.

The metadata comes from the ``master.csv`` files that ship inside ogb (``ogb/nodeproppred``, ``ogb/linkproppred``);
the metric of a dataset is the one its ogb ``Evaluator`` computes (``acc``, ``rocauc``, ``hits@50``, ...), so a score
msg reports is the number ogb's leaderboard code would report for the same predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor


def _kind(name: str) -> str | None:
    return {"ogbn": "nodeproppred", "ogbl": "linkproppred"}.get(str(name).split("-")[0])


@cache
def ogb_meta(name: str) -> dict[str, str]:
    """The column of ogb's ``master.csv`` for ``name`` (e.g. ``ogbn-arxiv``), as strings."""
    import pandas as pd

    kind = _kind(name)
    if kind is None:
        raise ValueError(f"{name!r} is not an OGB node- or link-property dataset name")
    module = __import__(f"ogb.{kind}", fromlist=["__file__"])
    master = pd.read_csv(Path(module.__file__).parent / "master.csv", index_col=0, keep_default_na=False)
    if name not in master:
        raise ValueError(f"ogb {ogb_version()} does not know the dataset {name!r}")
    return {str(k): str(v) for k, v in master[name].items()}


def ogb_version() -> str:
    import ogb

    return str(getattr(ogb, "__version__", "?"))


def ogb_files(name: str) -> tuple[str, ...]:
    """The files ogb reads for ``name``, relative to its folder (``ROOT/ogbn_arxiv/...``)."""
    meta = ogb_meta(name)
    link = _kind(name) == "linkproppred"
    files = [f"RELEASE_v{meta['version']}.txt", "raw/edge.csv.gz", "raw/num-node-list.csv.gz"]
    files.append("raw/num-edge-list.csv.gz")
    if not link:
        files.append("raw/node-label.csv.gz")
    for column in ("additional node files", "additional edge files"):
        if meta[column] != "None":
            files += [f"raw/{extra}.csv.gz" for extra in meta[column].split(",")]
    if meta["has_node_attr"] == "True":
        files.append("raw/node-feat.csv.gz")
    if meta["has_edge_attr"] == "True":
        files.append("raw/edge-feat.csv.gz")
    suffix = "pt" if link else "csv.gz"
    files += [f"split/{meta['split']}/{part}.{suffix}" for part in ("train", "valid", "test")]
    return tuple(files)


def numpy_safe_globals() -> list[Any]:
    """What ``torch.load(weights_only=True)`` must allow to read numpy arrays (ogb's link split files hold them).

    Files written under numpy 1.x name ``numpy.core.multiarray._reconstruct``; numpy 2 moved it to ``numpy._core``.
    Arrays of plain dtypes only: an object array would still need its elements' classes, which stay refused."""
    import numpy as np

    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct
    plain = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
    plain += (np.float16, np.float32, np.float64)
    return [
        (_reconstruct, "numpy.core.multiarray._reconstruct"),
        (_reconstruct, "numpy._core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
        *{type(np.dtype(t)) for t in plain},  # numpy >= 1.25 pickles a dtype through its class (Int64DType, ...)
    ]


@dataclass(frozen=True)
class OGBTask:
    """The leaderboard task of one OGB dataset.

    Attributes:
        name: ogb's dataset name (``ogbn-proteins``).
        task: msg's task name: ``nc`` (node property prediction) or ``lp`` (link property prediction).
        metric: the key ogb's ``Evaluator`` returns (``acc``, ``rocauc``, ``hits@50``, ``hits@20``).
        num_tasks: binary tasks per node (112 for ogbn-proteins: multi-label), 1 otherwise.
        num_classes: classes of a single-label node task (40 for arxiv); ``None`` for link prediction.
        directed: the raw graph is directed (ogb adds no reverse edges, e.g. ogbn-arxiv).
    """

    name: str
    task: str
    metric: str
    num_tasks: int
    num_classes: int | None
    directed: bool

    @property
    def multi_label(self) -> bool:
        return self.num_tasks > 1

    @property
    def out_channels(self) -> int | None:
        """Model outputs: one logit per binary task (multi-label), else one per class; ``None`` for links."""
        if self.task == "lp":
            return None
        return self.num_tasks if self.multi_label else self.num_classes

    def evaluator(self) -> Any:
        if self.task == "nc":
            from ogb.nodeproppred import Evaluator
        else:
            from ogb.linkproppred import Evaluator
        return Evaluator(self.name)

    def score_nodes(self, evaluator: Any, output: Tensor, y: Tensor) -> float:
        """ogb's metric for model outputs on some nodes: logits [n, classes] (argmax taken) or, multi-label, one
        score per task [n, tasks] (ROC-AUC needs scores, not decisions)."""
        if self.multi_label:
            y_true, y_pred = y.view(-1, self.num_tasks), output
        else:
            y_true, y_pred = y.view(-1, 1), output.argmax(dim=-1, keepdim=True)
        return float(evaluator.eval({"y_true": y_true.detach().cpu(), "y_pred": y_pred.detach().cpu()})[self.metric])

    def score_links(self, evaluator: Any, pos: Tensor, neg: Tensor) -> float:
        """ogb's metric for scores of positive and negative pairs (Hits@K ranks each positive among the negatives)."""
        values = {"y_pred_pos": pos.detach().cpu().view(-1), "y_pred_neg": neg.detach().cpu().view(-1)}
        return float(evaluator.eval(values)[self.metric])


def ogb_task(name: str) -> OGBTask | None:
    """The OGB leaderboard task of dataset ``name``, or ``None`` when it is not an OGB dataset."""
    kind = _kind(str(name).lower())
    if kind is None:
        return None
    meta = ogb_meta(str(name).lower())
    link = kind == "linkproppred"
    return OGBTask(
        name=str(name).lower(),
        task="lp" if link else "nc",
        metric=meta["eval metric"],
        num_tasks=1 if link else int(meta["num tasks"]),
        num_classes=None if link else int(meta["num classes"]),
        directed=meta["add_inverse_edge"] != "True",
    )


def edge_split_tensor(part: dict[str, Any], key: str) -> Tensor:
    """``part[key]`` of an ogb edge split (pairs [E, 2], numpy or torch) as a long tensor [2, E]."""
    value = part[key]
    tensor = value if isinstance(value, Tensor) else torch.as_tensor(value)
    if tensor.dim() != 2 or tensor.size(-1) != 2:
        raise ValueError(f"ogb edge split: {key!r} must hold node pairs of shape [E, 2], got {tuple(tensor.shape)}")
    return tensor.to(torch.long).t().contiguous()
