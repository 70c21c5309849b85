"""Training jobs: node classification and link prediction, several runs, results as one JSON document.

Protocol (what the public MSG code got wrong is fixed here): every run gets its own seed, its own split (unless
``fixed_split``: the paper's protocol of one split for all runs), fresh parameters and a fresh optimizer;
validation and test use the model in eval mode and the same readout as the loss; the reported test score is the one
at the best-validation evaluation; link-prediction splits are leak-free (:func:`msg.datasets.link_split`) and
training negatives are redrawn each epoch from non-edges that are not validation or test negatives either.

OGB datasets (``ogbn-*`` for ``nc``, ``ogbl-*`` for ``lp``) follow OGB's rules instead: the official split for every
run, scores from ogb's own ``Evaluator`` (the metric the dataset defines), 10 runs by default (seeds 0-9, set in
:func:`msg.tasks.config.resolve_config`). Multi-label targets (ogbn-proteins, 112 binary tasks) train with
BCE-with-logits and are scored with ROC-AUC from the raw logits. Link prediction passes messages over the training
edges only, also at test time (validation edges are not used as input), and draws training negatives uniformly from
node pairs that are not training edges.

Resumable jobs: with ``out``, :func:`run` writes the results document atomically after every finished run
(``"complete": false`` until the last one) and, every ``checkpoint_every`` epochs, a checkpoint of the run in progress
(``<out>.ckpt``: model, optimizer, best-validation state, history, epoch, RNG states; plain types and tensors, read
with ``torch.load(weights_only=True)``). ``resume=True`` continues such a job: finished runs are kept as they are,
the interrupted run continues from its checkpoint, and the results equal an uninterrupted job's.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import math
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from tqdm.auto import tqdm

from msg.datasets import NonEdgeSampler, get_spec, link_split, load_dataset, random_node_split
from msg.datasets.ogb import OGBTask, ogb_task
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
    "spikegcl": _from("spikegcl"),
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
    """The edge decoder for a model on its manifold: Fermi-Dirac on the distance (``fd``) or the cosine of the
    tangent vectors at the origin (``cosine``, the MSG authors' Lorentz scoring)."""
    from msg.nn.decoders import CosineDecoder, FermiDiracDecoder

    manifold = getattr(model, "manifold", "euclidean")
    if cfg.decoder == "cosine":
        return CosineDecoder(manifold)
    return FermiDiracDecoder(manifold, r=cfg.fd_r, t=cfg.fd_t)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _replace_atomic(path: Path, write: Callable[[Any], None], mode: str) -> None:
    """Write ``path`` through ``write(handle)`` on a temporary file in the same folder, flushed to disk, then renamed
    over ``path``: a reader (or a job killed at any instant) sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file readable by its owner only; give it the mode a plain open() would (or keep the mode
    # of the file it replaces), so that results stay readable by whoever could read them before
    permissions = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, permissions)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's file-creation mask (read by setting it, then restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON so that a reader never sees a half-written file (temporary file, then rename)."""

    def write(handle: Any) -> None:
        json.dump(payload, handle, indent=2)
        handle.write("\n")

    _replace_atomic(path, write, "w")


def checkpoint_path(out: Path) -> Path:
    """Where the checkpoint of a job writing results to ``out`` lives: ``<out>.ckpt`` beside it."""
    out = Path(out)
    return out.with_name(out.name + ".ckpt")


def config_differences(saved: dict[str, Any], requested: dict[str, Any]) -> list[str]:
    """The keys whose values differ between two config dicts (a key missing on one side counts), sorted."""
    return sorted(k for k in set(saved) | set(requested) if saved.get(k, "<missing>") != requested.get(k, "<missing>"))


def _mismatch(what: str, saved: dict[str, Any], requested: dict[str, Any]) -> ValueError:
    keys = config_differences(saved, requested)
    detail = "; ".join(f"{k}: {saved.get(k, '<missing>')!r} there, {requested.get(k, '<missing>')!r} now" for k in keys)
    return ValueError(f"--resume: {what} was written by a job with another config (differing keys: {', '.join(keys)}; "
                      f"{detail}). Resume with the same settings, or pass --overwrite to start over.")


CHECKPOINT_FORMAT = "msg-checkpoint-v1"


def _rng_states(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """torch's, Python's and numpy's global RNG states and the run's own generators, as plain types and tensors."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "python": [version, list(internal), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "generators": {k: g.get_state() for k, g in generators.items()},
    }


def _set_rng_states(states: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(states["torch"])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    for k, g in generators.items():
        g.set_state(states["generators"][k])


def _load_optimizer(optimizer: torch.optim.Optimizer, saved: dict[str, Any]) -> None:
    """``optimizer.load_state_dict(saved)``, keeping plain values plain: torch turns a saved ``step`` into a float32
    tensor, while geoopt counts steps in Python ints, and bias corrections computed in float32 would drift."""
    optimizer.load_state_dict(saved)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for index, values in saved["state"].items():
        for key, value in values.items():
            if not isinstance(value, Tensor):
                optimizer.state[params[index]][key] = value


@dataclasses.dataclass
class RunState:
    """What a run's checkpoint must hold besides the loop's bookkeeping: its modules (model, decoder), optimizer and
    own random generators (e.g. the negative sampler's)."""

    modules: dict[str, nn.Module]
    optimizer: torch.optim.Optimizer
    generators: dict[str, torch.Generator] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class RunCheckpoint:
    """The checkpoint file of one run of a job (``<out>.ckpt``), saved atomically every ``every`` epochs.

    Args:
        path: the checkpoint file.
        every: save after every ``every``-th epoch; ``None`` saves nothing.
        config: the job's config dict (a checkpoint of another config is refused).
        run: index of the run (0-based) and ``seed`` its seed: a checkpoint of another run is ignored.
        resume: read an existing checkpoint of this run and continue from it (else it is replaced).
    """

    path: Path
    every: int | None
    config: dict[str, Any]
    run: int
    seed: int
    resume: bool = False

    def load(self) -> dict[str, Any] | None:
        """The saved state of this run, or ``None`` (no file, not resuming, or a checkpoint of an earlier run)."""
        if not self.resume or not self.path.exists():
            return None
        try:
            payload = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # truncated, foreign or unsafe: never run code from it
            raise ValueError(f"--resume: checkpoint {self.path} could not be read ({type(err).__name__}: {err}); "
                             "delete it to redo the interrupted run from its start") from err
        if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"--resume: {self.path} is not a msg checkpoint ({CHECKPOINT_FORMAT})")
        if payload["config"] != self.config:
            raise _mismatch(f"checkpoint {self.path}", payload["config"], self.config)
        if (payload["run"], payload["seed"]) != (self.run, self.seed):
            return None
        return payload

    def due(self, epoch: int) -> bool:
        return self.every is not None and epoch % self.every == 0

    def save(self, state: RunState, loop: dict[str, Any]) -> None:
        payload = {
            "format": CHECKPOINT_FORMAT,
            "config": self.config,
            "run": self.run,
            "seed": self.seed,
            **loop,
            "modules": {k: m.state_dict() for k, m in state.modules.items()},
            "optimizer": state.optimizer.state_dict(),
            "rng": _rng_states(state.generators),
        }
        _replace_atomic(self.path, lambda handle: torch.save(payload, handle), "wb")


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
    state: RunState | None = None,
    checkpoint: RunCheckpoint | None = None,
) -> dict:
    """Shared epoch loop: train step, periodic eval, best-validation selection, early stopping, timings.

    The model's parameters are left at the best-validation evaluation (a copy of its state is kept). With a
    ``checkpoint`` (and the run's ``state``), the loop saves itself every ``checkpoint.every`` epochs and, when
    resuming, continues from the saved epoch with every state restored, so the run ends as an uninterrupted one."""
    history: dict[str, list] = {"epoch": [], "loss": [], "val": [], "test": []}
    best = {"val": -math.inf, "test": math.nan, "epoch": 0}
    best_state: dict[str, Tensor] = {}
    times: list[float] = []
    stale = 0
    first = 1
    saved = None if checkpoint is None or state is None else checkpoint.load()
    if saved is not None:
        for name, module in state.modules.items():
            module.load_state_dict(saved["modules"][name])
        _load_optimizer(state.optimizer, saved["optimizer"])
        history, best, best_state = saved["history"], saved["best"], saved["best_state"]
        times, stale, first = saved["times"], saved["stale"], saved["epoch"] + 1
        _set_rng_states(saved["rng"], state.generators)
        print(f"msg: {desc}: resuming at epoch {first} from {checkpoint.path}", file=sys.stderr)
    bar = tqdm(range(first, cfg.epochs + 1), desc=desc, leave=False, disable=None)
    for epoch in bar:
        start = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - start)
        if not math.isfinite(loss):
            raise FloatingPointError(f"{desc}: the training loss became {loss} at epoch {epoch}")
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
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
        if checkpoint is not None and state is not None and checkpoint.due(epoch) and epoch < cfg.epochs:
            loop = {"epoch": epoch, "history": history, "best": best, "best_state": best_state, "times": times}
            checkpoint.save(state, {**loop, "stale": stale})
    model.load_state_dict(best_state)
    warm = times[1:] if len(times) > 1 else times
    best_epoch = best.pop("epoch")
    return {**best, "best_epoch": best_epoch, "epoch_time_s": statistics.median(warm), "history": history}


def node_outputs(data: Data, ogb: OGBTask | None = None) -> int:
    """The model outputs node classification needs: one logit per class, or per binary task (multi-label OGB)."""
    if ogb is not None:
        return int(ogb.out_channels)
    if data.y.dim() == 2 and data.y.size(1) > 1:
        raise ValueError(
            "multi-label node targets are trained and scored for OGB datasets (ogbn-proteins: BCE and ogb's ROC-AUC); "
            f"this dataset's y has shape {tuple(data.y.shape)}"
        )
    return int(data.y.max()) + 1


Objective = Callable[[Tensor, Tensor], Tensor]
Score = Callable[[Tensor, Tensor], float]


def _node_objective(ogb: OGBTask | None) -> tuple[Objective, Score]:
    """The training loss and the score of node outputs: cross-entropy and accuracy, or ogb's evaluator (and
    BCE-with-logits for a multi-label target)."""
    if ogb is None:
        return F.cross_entropy, _accuracy
    loss = (lambda out, y: F.binary_cross_entropy_with_logits(out, y.float())) if ogb.multi_label else F.cross_entropy
    return loss, partial(ogb.score_nodes, ogb.evaluator())


def train_node_classification(
    cfg: TrainConfig, data: Data, seed: int, ogb: OGBTask | None = None, checkpoint: RunCheckpoint | None = None
) -> dict:
    """One run: fresh split (per seed; OGB: the official one), model and optimizer; returns best-validation metrics
    and the history. ``ogb`` scores with ogb's evaluator; ``checkpoint`` saves / resumes the run."""
    torch.manual_seed(seed)
    split = _node_split(cfg, data, seed)
    if cfg.batch_size is not None:  # neighbour-sampled mini-batches (msg.tasks.minibatch), also under --nproc
        if ogb is not None and ogb.multi_label:
            raise ValueError(f"--batch-size: mini-batch training of the multi-label {cfg.dataset!r} is not supported")
        if checkpoint is not None and checkpoint.every is not None:
            raise ValueError("--checkpoint-every is not supported with --batch-size (finished runs still resume)")
        from msg.tasks.minibatch import train_node_classification_minibatch

        return train_node_classification_minibatch(cfg, data, split, seed)
    model = build_model(cfg, data.num_features, node_outputs(data, ogb))
    optimizer = _optimizer(cfg, model.parameters())
    x, edge_index, y = split.x, split.edge_index, split.y
    objective, score = _node_objective(ogb)
    # a model whose nodes are independent given the graph (``computes_node_subset``) computes the training nodes only
    train = split.train_mask.nonzero().squeeze(1) if getattr(model, "computes_node_subset", False) else None

    def loss() -> Tensor:
        out = model(x, edge_index)[split.train_mask] if train is None else model(x, edge_index, train)
        return objective(out, y[split.train_mask]) + _auxiliary_loss(model, x, edge_index)

    step = _train_step(model, optimizer, loss)

    @torch.no_grad()
    def evaluate() -> tuple[float, float]:
        model.eval()
        logits = model(x, edge_index)
        val_mask, test_mask = split.val_mask, split.test_mask
        return score(logits[val_mask], y[val_mask]), score(logits[test_mask], y[test_mask])

    state = RunState({"model": model}, optimizer)
    result = _loop(cfg, model, step, evaluate, f"run seed={seed}", state, checkpoint)
    return {"seed": seed, **result, "num_params": count_parameters(model), "model": model}


def _ogb_link_parts(data: Data) -> tuple[Data, Data, Data]:
    """OGB's official edge split in :func:`msg.datasets.link_split`'s shape; every part passes messages over the
    training edges (``data.edge_index``)."""

    def part(pos: Tensor, neg: Tensor | None) -> Data:
        graph = Data(x=data.x, edge_index=data.edge_index, pos_edge_label_index=pos, num_nodes=data.num_nodes)
        if neg is not None:
            graph.neg_edge_label_index = neg
        return graph

    train = part(data.train_pos_edge_index, None)
    return train, part(data.val_pos_edge_index, data.val_neg_edge_index), part(
        data.test_pos_edge_index, data.test_neg_edge_index
    )


def train_link_prediction(
    cfg: TrainConfig, data: Data, seed: int, ogb: OGBTask | None = None, checkpoint: RunCheckpoint | None = None
) -> dict:
    """One run of link prediction with a leak-free split drawn for this seed (or the first seed if fixed); with
    ``ogb``, on the official edge split, scored by ogb's evaluator (Hits@K)."""
    torch.manual_seed(seed)
    if ogb is None:
        train, val, test = link_split(data, cfg.lp_val, cfg.lp_test, seed=cfg.seed if cfg.fixed_split else seed)
        score: Score = _auc
    else:
        train, val, test = _ogb_link_parts(data)
        score = partial(ogb.score_links, ogb.evaluator())
    model = build_model(cfg, data.num_features, None)
    decoder = link_decoder(cfg, model)
    optimizer = _optimizer(cfg, [*model.parameters(), *decoder.parameters()])
    if ogb is None:
        exclude = torch.cat([data.edge_index, val.neg_edge_label_index, test.neg_edge_label_index], dim=1)
    else:
        exclude = data.edge_index
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
        scores, z, graph = [], None, None
        for part in (val, test):
            if part.edge_index is not graph:  # OGB: one graph for both, encoded once
                z, graph = model.encode(part.x, part.edge_index), part.edge_index
            pos = decoder.logits(z, part.pos_edge_label_index)
            scores.append(score(pos, decoder.logits(z, part.neg_edge_label_index)))
        return scores[0], scores[1]

    state = RunState({"model": model, "decoder": decoder}, optimizer, {"negatives": generator})
    result = _loop(cfg, model, step, evaluate, f"run seed={seed}", state, checkpoint)
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


ENERGY_MAX_NODES = 200_000
"""Mini-batch runs on larger graphs skip the energy estimate (it needs one forward over the whole graph)."""


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


def load_task_data(cfg: TrainConfig) -> tuple[Data, OGBTask | None]:
    """The graph a job trains on and, for an OGB leaderboard task, its :class:`~msg.datasets.ogb.OGBTask`.

    ``ogbn-*`` with ``nc`` and ``ogbl-*`` with ``lp`` are OGB tasks (official split, ogb's evaluator); an ``ogbn-*``
    graph used for link prediction gets msg's own link split and ROC-AUC; ``ogbl-*`` has no node labels, so ``nc`` on
    it is refused; OGB files are never downloaded here. OGB graphs are prepared as OGB's reference models use them:
    ogbn-arxiv's directed citations are made undirected; an ogbl graph's repeated edges (a collaboration in several
    years) are merged into one."""
    from torch_geometric.utils import coalesce, to_undirected

    get_spec(cfg.dataset)  # an unknown name: the registry's error, listing the known ones
    ogb = ogb_task(cfg.dataset)
    # OGB data is never downloaded by a training job (ogb's downloader asks on stdin for large files)
    data = load_dataset(cfg.dataset, root=cfg.root, download=ogb is None)
    if ogb is not None and ogb.task != cfg.task:
        if ogb.task == "lp":
            raise ValueError(
                f"dataset {cfg.dataset!r} is an OGB link-prediction dataset (no node labels): use --task lp"
            )
        ogb = None
    if ogb is not None:
        if cfg.split == "random":
            raise ValueError(
                f"--split random: dataset {cfg.dataset!r} is scored on its official OGB split (OGB's rules); "
                "use --split auto"
            )
        data = copy.copy(data)
        if ogb.directed:
            data.edge_index = to_undirected(data.edge_index, num_nodes=data.num_nodes)
        elif ogb.task == "lp":
            for key in ("edge_weight", "edge_year", "edge_attr"):  # per-edge values of the merged edges
                if key in data:
                    del data[key]
            data.edge_index = coalesce(data.edge_index, num_nodes=data.num_nodes)
    if data.num_nodes == 0 or data.edge_index.numel() == 0:
        raise ValueError(f"dataset {cfg.dataset!r} has no nodes or no edges")
    if not torch.isfinite(data.x).all():
        raise ValueError(f"dataset {cfg.dataset!r}: node features contain NaN or Inf")
    if cfg.normalize_features:
        data = copy.copy(data)
        data.x = normalize_rows(data.x)
    return data, ogb


def normalize_rows(x: Tensor) -> Tensor:
    """Each row divided by the sum of its absolute values (rows of zeros stay zero): bag-of-words counts become
    frequencies, as HGCN's and PyG's ``NormalizeFeatures`` preprocessing does (for non-negative features, the same)."""
    if x.layout != torch.strided:
        x = x.to_dense()
    return x / x.abs().sum(dim=-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)


def _ogb_protocol(ogb: OGBTask) -> dict[str, Any]:
    from msg.datasets.ogb import ogb_meta, ogb_version

    meta = ogb_meta(ogb.name)
    if ogb.task == "nc":
        graph = "all edges" + (", made undirected" if ogb.directed else "")
        split = f"official node split '{meta['split']}' (get_idx_split)"
    else:
        graph = "training edges only, repeated edges merged; validation edges are not used as input at test time"
        split = f"official edge split '{meta['split']}' (get_edge_split)"
    return {"evaluator": ogb.name, "metric": ogb.metric, "split": split, "graph": graph, "ogb": ogb_version()}


def _document(
    cfg: TrainConfig, ogb: OGBTask | None, runs: list[dict], energy: Any, peak_mb: float
) -> dict[str, Any]:
    tests = [r["test"] for r in runs]
    vals = [r["val"] for r in runs]
    if ogb is not None:
        metric = ogb.metric
    else:
        metric = "accuracy" if cfg.task == "nc" else "roc_auc"
    doc = {
        "task": cfg.task,
        "dataset": cfg.dataset,
        "model": cfg.model,
        "manifold": cfg.manifold,
        "credit": cfg.credit,
        "metric": metric,
        "test_mean": statistics.fmean(tests),
        "test_std": statistics.pstdev(tests),
        "val_mean": statistics.fmean(vals),
        "val_std": statistics.pstdev(vals),
        "runs": runs,
        "complete": len(runs) == cfg.runs,
        "epoch_time_s": statistics.median(r["epoch_time_s"] for r in runs),
        "peak_rss_mb": peak_mb,
        "num_params": runs[0]["num_params"],
        "energy": energy,
        "config": cfg.to_dict(),
        "torch": torch.__version__,
    }
    if ogb is not None:
        doc["ogb"] = _ogb_protocol(ogb)
    return doc


def read_results(path: Path) -> dict[str, Any]:
    """A results document written by :func:`run` (finished or not); ``ValueError`` when it is not one."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"results file {path} could not be read as JSON ({type(err).__name__}: {err})") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict) or not isinstance(doc.get("runs"), list):
        raise ValueError(f"results file {path} is not a msg results document (no 'config' and 'runs')")
    return doc


def run(
    cfg: TrainConfig,
    progress: bool = True,
    save_model_to: Path | None = None,
    *,
    out: Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    checkpoint_every: int | None = None,
) -> dict[str, Any]:
    """Train ``cfg.runs`` runs and return the results document (see README for its fields).

    With ``save_model_to``, the first run's model (at its best validation epoch) is saved there.

    With ``out``, the document is written there atomically after every finished run (``"complete": false`` until the
    last) and, with ``checkpoint_every=N``, the run in progress is checkpointed to ``<out>.ckpt`` every N epochs (the
    checkpoint is removed when the job completes). An existing ``out`` (or checkpoint) is replaced only with
    ``overwrite``; ``resume`` continues the job recorded there instead (same config required, else ``ValueError``
    naming the differing keys; no file: a fresh start)."""
    cfg = with_model_defaults(cfg.validate())
    if checkpoint_every is not None and checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every!r}")
    if out is None and (resume or checkpoint_every is not None):
        raise ValueError("resume and checkpoint_every need a results file (out=..., --out)")
    if resume and overwrite:
        raise ValueError("--resume continues the job in --out and --overwrite replaces it: pass only one")
    config = cfg.to_dict()
    runs: list[dict] = []
    energy, peak = None, 0.0
    ckpt = None if out is None else checkpoint_path(Path(out))
    if out is not None:
        out = Path(out)
        if resume and out.exists():
            previous = read_results(out)
            if previous["config"] != config:
                raise _mismatch(f"results file {out}", previous["config"], config)
            runs, energy, peak = list(previous["runs"]), previous.get("energy"), float(previous.get("peak_rss_mb", 0))
            print(f"msg: resuming {out}: {len(runs)} of {cfg.runs} runs done", file=sys.stderr)
        elif not resume:
            for path in (out, ckpt):
                if path.exists() and not overwrite:
                    raise ValueError(f"{path} exists; pass --overwrite to replace it or --resume to continue it "
                                     "(nothing was run)")
            ckpt.unlink(missing_ok=True)  # a stale checkpoint of an earlier job must never be resumed
    if cfg.batch_size is not None and cfg.task != "nc":
        raise ValueError(f"--batch-size: mini-batch training covers node classification only, got task={cfg.task!r}")
    data, ogb = load_task_data(cfg)
    train_one = train_node_classification if cfg.task == "nc" else train_link_prediction
    bar = tqdm(range(len(runs), cfg.runs), desc=f"{cfg.model} {cfg.task} {cfg.dataset}", disable=not progress or None)
    for r in bar:
        seed = cfg.seed + r
        checkpoint = None if ckpt is None else RunCheckpoint(ckpt, checkpoint_every, config, r, seed, resume)
        result = train_one(cfg, data, seed, ogb=ogb, checkpoint=checkpoint)
        model = result.pop("model")
        if energy is None:
            # a full-graph forward: skipped for graphs that are trained in mini-batches because they are large
            large = cfg.batch_size is not None and data.num_nodes > ENERGY_MAX_NODES
            skipped = {"skipped": f"mini-batch run on {data.num_nodes} nodes"}
            energy = skipped if large else inference_energy(model, data)
            if save_model_to is not None:
                out_channels = node_outputs(data, ogb) if cfg.task == "nc" else None
                save_model(save_model_to, model, cfg, data.num_features, out_channels)
        runs.append(result)
        if out is not None:
            write_json_atomic(out, _document(cfg, ogb, runs, energy, max(peak, peak_rss_mb())))
    doc = _document(cfg, ogb, runs, energy, max(peak, peak_rss_mb()))
    if out is not None:
        write_json_atomic(out, doc)
        ckpt.unlink(missing_ok=True)
    return doc
