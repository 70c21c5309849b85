"""Training jobs: node classification and link prediction, several runs, results as one JSON document.

Protocol (what the public MSG code got wrong is fixed here): every run gets its own seed, its own split (unless
``fixed_split``: the paper's protocol of one split for all runs), fresh parameters and a fresh optimizer;
validation and test use the model in eval mode and the same readout as the loss; the reported test score is the one
at the best-validation evaluation; link-prediction splits are leak-free (:func:`msg.datasets.link_split`) and
training negatives are redrawn each epoch from non-edges that are not validation or test negatives either.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from tqdm.auto import tqdm

from msg.datasets import NonEdgeSampler, link_split, load_dataset, random_node_split
from msg.tasks.config import TrainConfig

ModelBuilder = Callable[[TrainConfig, int, int | None], nn.Module]


def _build_msg(cfg: TrainConfig, in_channels: int, out_channels: int | None) -> nn.Module:
    from msg.models.msg import MSG

    return MSG(
        in_channels, cfg.hidden, out_channels, manifold=cfg.manifold, T=cfg.T, num_layers=cfg.layers,
        step_size=cfg.step_size, neuron=cfg.neuron, v_threshold=cfg.v_threshold, tau=cfg.tau, dropout=cfg.dropout,
        credit=cfg.credit,
    )


def _from(module: str) -> ModelBuilder:
    """The ``build`` function of ``msg.models.<module>``, imported when the model is first built."""

    def builder(cfg: TrainConfig, in_channels: int, out_channels: int | None) -> nn.Module:
        return importlib.import_module(f"msg.models.{module}").build(cfg, in_channels, out_channels)

    return builder


MODELS: dict[str, ModelBuilder] = {
    "msg": _build_msg,
    "spiking_gcn": _from("spiking_gcn"),
    "spikenet": _from("spikenet"),
    "gcn": _from("ann"),
    "gat": _from("ann"),
    "sgc": _from("ann"),
    "sage": _from("ann"),
    "hgcn": _from("hgcn"),
}
"""Model name -> builder ``(config, in_channels, out_channels or None for link prediction) -> module``.

A link-prediction model exposes ``encode(x, edge_index)`` and a ``manifold`` for the decoder (see
:func:`link_decoder`)."""

MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "msg": {"credit": "dvm"},
    # SpikeNet's neurons lower their threshold while silent; with msg's fixed threshold, 1.0 never fires on Cora
    "spikenet": {"v_threshold": 0.1},
}
"""Settings a model uses when the config leaves them ``None``; otherwise credit ``bptt`` and threshold 1.0."""
GENERIC_DEFAULTS: dict[str, Any] = {"credit": "bptt", "v_threshold": 1.0}


def with_model_defaults(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with its ``None`` settings filled in from :data:`MODEL_DEFAULTS`, then :data:`GENERIC_DEFAULTS`."""
    defaults = {**GENERIC_DEFAULTS, **MODEL_DEFAULTS.get(cfg.model, {})}
    missing = {k: v for k, v in defaults.items() if getattr(cfg, k) is None}
    return dataclasses.replace(cfg, **missing) if missing else cfg


def build_model(cfg: TrainConfig, in_channels: int, out_channels: int | None) -> nn.Module:
    if cfg.model not in MODELS:
        raise ValueError(f"unknown model {cfg.model!r}; known models: {', '.join(MODELS)}")
    return MODELS[cfg.model](with_model_defaults(cfg), in_channels, out_channels)


def link_decoder(cfg: TrainConfig, model: nn.Module) -> nn.Module:
    """The edge decoder for a model: Fermi-Dirac on the distance of the model's manifold."""
    from msg.nn.decoders import FermiDiracDecoder

    return FermiDiracDecoder(getattr(model, "manifold", "euclidean"), r=cfg.fd_r, t=cfg.fd_t)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON so that a reader never sees a half-written file (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _optimizer(cfg: TrainConfig, params: Any) -> torch.optim.Optimizer:
    from geoopt.optim import RiemannianAdam

    return RiemannianAdam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _node_split(cfg: TrainConfig, data: Data, seed: int) -> Data:
    use_public = cfg.split == "public" or (cfg.split == "auto" and "train_mask" in data and data.train_mask.dim() == 1)
    if use_public:
        if "train_mask" not in data:
            raise ValueError(f"dataset {cfg.dataset!r} has no public split; use --split random")
        return data
    return random_node_split(data, cfg.train_frac, cfg.val_frac, seed)


def _accuracy(logits: Tensor, y: Tensor) -> float:
    return float((logits.argmax(-1) == y).float().mean()) if y.numel() else math.nan


def _auc(pos: Tensor, neg: Tensor) -> float:
    from sklearn.metrics import roc_auc_score

    scores = torch.cat([pos, neg]).detach().double().cpu().numpy()
    labels = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)]).cpu().numpy()
    return float(roc_auc_score(labels, scores))


def _auxiliary_loss(model: nn.Module, x: Tensor, edge_index: Tensor) -> Tensor | float:
    """A model's own extra training objective (e.g. SpikeGCL's contrastive loss), added to the task loss.

    Models opt in by defining ``auxiliary_loss(x, edge_index) -> Tensor``; it is called after the task forward."""
    extra = getattr(model, "auxiliary_loss", None)
    return 0.0 if extra is None else extra(x, edge_index)


def _train_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss: Callable[[], Tensor]) -> Callable[[], float]:
    """One full-batch training step of ``model`` on ``loss()``, returning the loss value."""

    def step() -> float:
        model.train()
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
        return value.item()

    return step


def _loop(
    cfg: TrainConfig,
    model: nn.Module,
    step: Callable[[], float],
    evaluate: Callable[[], tuple[float, float]],
    desc: str,
) -> dict:
    """Shared epoch loop: train step, periodic eval, best-validation selection, early stopping, timings.

    The model's parameters are left at the best-validation evaluation (a copy of its state is kept)."""
    history: dict[str, list] = {"epoch": [], "loss": [], "val": [], "test": []}
    best = {"val": -math.inf, "test": math.nan, "epoch": 0}
    best_state: dict[str, Tensor] = {}
    times: list[float] = []
    stale = 0
    bar = tqdm(range(1, cfg.epochs + 1), desc=desc, leave=False, disable=None)
    for epoch in bar:
        start = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - start)
        if not math.isfinite(loss):
            raise FloatingPointError(f"{desc}: the training loss became {loss} at epoch {epoch}")
        if epoch % cfg.eval_every and epoch != cfg.epochs:
            continue
        val, test = evaluate()
        history["epoch"].append(epoch)
        history["loss"].append(loss)
        history["val"].append(val)
        history["test"].append(test)
        if val > best["val"]:
            best, stale = {"val": val, "test": test, "epoch": epoch}, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        bar.set_postfix(loss=f"{loss:.4f}", val=f"{val:.4f}", best_test=f"{best['test']:.4f}")
        if cfg.patience is not None and stale >= cfg.patience:
            break
    model.load_state_dict(best_state)
    warm = times[1:] if len(times) > 1 else times
    best_epoch = best.pop("epoch")
    return {**best, "best_epoch": best_epoch, "epoch_time_s": statistics.median(warm), "history": history}


def train_node_classification(cfg: TrainConfig, data: Data, seed: int) -> dict:
    """One run: fresh split (per seed), model and optimizer; returns best-validation metrics and the history."""
    torch.manual_seed(seed)
    split = _node_split(cfg, data, seed)
    num_classes = int(data.y.max()) + 1
    model = build_model(cfg, data.num_features, num_classes)
    optimizer = _optimizer(cfg, model.parameters())
    x, edge_index, y = split.x, split.edge_index, split.y

    def loss() -> Tensor:
        value = F.cross_entropy(model(x, edge_index)[split.train_mask], y[split.train_mask])
        return value + _auxiliary_loss(model, x, edge_index)

    step = _train_step(model, optimizer, loss)

    @torch.no_grad()
    def evaluate() -> tuple[float, float]:
        model.eval()
        logits = model(x, edge_index)
        val_mask, test_mask = split.val_mask, split.test_mask
        return _accuracy(logits[val_mask], y[val_mask]), _accuracy(logits[test_mask], y[test_mask])

    result = _loop(cfg, model, step, evaluate, f"run seed={seed}")
    return {"seed": seed, **result, "num_params": count_parameters(model), "model": model}


def train_link_prediction(cfg: TrainConfig, data: Data, seed: int) -> dict:
    """One run of link prediction with a leak-free split drawn for this seed (or the first seed if fixed)."""
    torch.manual_seed(seed)
    train, val, test = link_split(data, cfg.lp_val, cfg.lp_test, seed=cfg.seed if cfg.fixed_split else seed)
    model = build_model(cfg, data.num_features, None)
    decoder = link_decoder(cfg, model)
    optimizer = _optimizer(cfg, [*model.parameters(), *decoder.parameters()])
    exclude = torch.cat([data.edge_index, val.neg_edge_label_index, test.neg_edge_label_index], dim=1)
    sampler = NonEdgeSampler(data.num_nodes, exclude)
    generator = torch.Generator().manual_seed(seed)
    positives = train.pos_edge_label_index

    def loss() -> Tensor:
        z = model.encode(train.x, train.edge_index)
        negatives = sampler.sample(positives.size(1), generator)
        pos, neg = decoder.logits(z, positives), decoder.logits(z, negatives)
        return (
            F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
            + F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg))
            + _auxiliary_loss(model, train.x, train.edge_index)
        )

    step = _train_step(model, optimizer, loss)

    @torch.no_grad()
    def evaluate() -> tuple[float, float]:
        model.eval()
        scores = []
        for part in (val, test):
            z = model.encode(part.x, part.edge_index)
            pos = decoder.logits(z, part.pos_edge_label_index)
            scores.append(_auc(pos, decoder.logits(z, part.neg_edge_label_index)))
        return scores[0], scores[1]

    result = _loop(cfg, model, step, evaluate, f"run seed={seed}")
    return {"seed": seed, **result, "num_params": count_parameters(model), "model": model}


def save_model(path: Path, model: nn.Module, cfg: TrainConfig, in_channels: int, out_channels: int | None) -> None:
    """Save a trained model so that :func:`load_model` rebuilds it; readable with ``torch.load(weights_only=True)``.

    The file holds plain types only: the state dict (tensors), the config and the channel sizes."""
    payload = {
        "format": "msg-model-v1",
        "config": cfg.to_dict(),
        "in_channels": int(in_channels),
        "out_channels": None if out_channels is None else int(out_channels),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_model(path: Path) -> tuple[nn.Module, TrainConfig]:
    """Rebuild a model saved by :func:`save_model` (``weights_only`` loading: no code runs from the file)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"model file {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # an unreadable or foreign file: say so plainly
        raise ValueError(f"model file {path} could not be read as a msg model ({type(err).__name__}: {err})") from err
    if not isinstance(payload, dict) or payload.get("format") != "msg-model-v1":
        raise ValueError(f"model file {path} is not a msg model (saved by `msg train --save-model`)")
    cfg = TrainConfig(**payload["config"]).validate()
    model = build_model(cfg, payload["in_channels"], payload["out_channels"])
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, cfg


@torch.no_grad()
def inference_energy(model: nn.Module, data: Data) -> dict[str, float]:
    """Operation counts and the 45 nm energy estimate of one eval-mode forward over the whole graph.

    See :mod:`msg.ops.energy` for the counting rules; ``energy_mJ_per_node`` divides by |V|.
    """
    from msg.ops.energy import EnergyMeter

    model.eval()
    with EnergyMeter(model) as meter:
        encode = getattr(model, "encode", None)
        encode(data.x, data.edge_index) if encode is not None else model(data.x, data.edge_index)
    summary = meter.summary()
    millijoules = summary["energy_J"] * 1e3
    return {**summary, "energy_mJ": millijoules, "energy_mJ_per_node": millijoules / data.num_nodes}


def run(cfg: TrainConfig, progress: bool = True, save_model_to: Path | None = None) -> dict[str, Any]:
    """Train ``cfg.runs`` runs and return the results document (see README for its fields).

    With ``save_model_to``, the first run's model (at its best validation epoch) is saved there."""
    cfg = with_model_defaults(cfg.validate())
    data = load_dataset(cfg.dataset, root=cfg.root)
    if data.num_nodes == 0 or data.edge_index.numel() == 0:
        raise ValueError(f"dataset {cfg.dataset!r} has no nodes or no edges")
    if not torch.isfinite(data.x).all():
        raise ValueError(f"dataset {cfg.dataset!r}: node features contain NaN or Inf")
    train_one = train_node_classification if cfg.task == "nc" else train_link_prediction
    runs, energy = [], None
    for r in tqdm(range(cfg.runs), desc=f"{cfg.model} {cfg.task} {cfg.dataset}", disable=not progress or None):
        result = train_one(cfg, data, cfg.seed + r)
        model = result.pop("model")
        if energy is None:
            energy = inference_energy(model, data)
            if save_model_to is not None:
                out_channels = int(data.y.max()) + 1 if cfg.task == "nc" else None
                save_model(save_model_to, model, cfg, data.num_features, out_channels)
        runs.append(result)
    tests = [r["test"] for r in runs]
    vals = [r["val"] for r in runs]
    return {
        "task": cfg.task,
        "dataset": cfg.dataset,
        "model": cfg.model,
        "manifold": cfg.manifold,
        "credit": cfg.credit,
        "metric": "accuracy" if cfg.task == "nc" else "roc_auc",
        "test_mean": statistics.fmean(tests),
        "test_std": statistics.pstdev(tests),
        "val_mean": statistics.fmean(vals),
        "val_std": statistics.pstdev(vals),
        "runs": runs,
        "epoch_time_s": statistics.median(r["epoch_time_s"] for r in runs),
        "peak_rss_mb": peak_rss_mb(),
        "num_params": runs[0]["num_params"],
        "energy": energy,
        "config": cfg.to_dict(),
        "torch": torch.__version__,
    }
