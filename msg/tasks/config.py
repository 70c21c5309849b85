"""Training configuration: defaults, shipped config files, and the precedence command line > config file > defaults.

Config files are flat JSON objects whose keys are :class:`TrainConfig` field names (the command-line options with
``-`` written as ``_``); keys starting with ``_`` are comments. Shipped files (the MSG paper's settings, read from
the authors' repository) live in ``msg/configs/`` and are named ``{task}_{dataset}_{manifold}`` —
``--config nc_photo_lorentz`` finds one, any other value is a path.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
TASKS = ("nc", "lp")
SPLITS = ("auto", "public", "random")
DECODERS = ("fd", "cosine")  # link-prediction decoders: msg.nn.FermiDiracDecoder, msg.nn.CosineDecoder


@dataclass
class TrainConfig:
    """Every setting of a training job (``msg train``); see ``msg train --help`` for each one."""

    task: str = "nc"
    dataset: str = "cora"
    model: str = "msg"
    manifold: str = "lorentz"
    T: int = 15
    layers: int = 2
    hidden: int = 32
    step_size: float = 0.1
    neuron: str = "IF"
    v_threshold: float | None = None
    tau: float = 2.0
    dropout: float = 0.1
    credit: str | None = None
    lr: float = 0.01
    weight_decay: float = 0.0
    epochs: int = 100
    runs: int = 1
    seed: int = 0
    eval_every: int = 1
    patience: int | None = None
    split: str = "auto"
    fixed_split: bool = False
    train_frac: float = 0.1
    val_frac: float = 0.1
    lp_val: float = 0.05
    lp_test: float = 0.1
    decoder: str = "fd"
    normalize_features: bool = False
    fd_r: float = 2.0
    fd_t: float = 1.0
    batch_size: int | None = None
    num_neighbors: list[int] | None = None
    nproc: int = 1
    root: str | None = None
    config: str | None = None

    def validate(self) -> TrainConfig:
        """Check values a run would otherwise trip over late; return ``self``."""
        if self.task not in TASKS:
            raise ValueError(f"TrainConfig: task must be one of {TASKS}, got {self.task!r}")
        if self.decoder not in DECODERS:
            raise ValueError(f"TrainConfig: decoder must be one of {DECODERS}, got {self.decoder!r}")
        if self.split not in SPLITS:
            raise ValueError(f"TrainConfig: split must be one of {SPLITS}, got {self.split!r}")
        for name in ("T", "hidden", "epochs", "runs", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig: {name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("lr", "step_size", "v_threshold"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ValueError(f"TrainConfig: {name} must be > 0, got {getattr(self, name)!r}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"TrainConfig: batch_size must be >= 1 or None (full batch), got {self.batch_size!r}")
        if self.num_neighbors is not None and (
            not self.num_neighbors or any(not isinstance(k, int) or (k < 1 and k != -1) for k in self.num_neighbors)
        ):
            raise ValueError(
                f"TrainConfig: num_neighbors must be a non-empty list of positive ints or -1 (all), "
                f"got {self.num_neighbors!r}"
            )
        if self.nproc < 1:
            raise ValueError(f"TrainConfig: nproc must be >= 1, got {self.nproc!r}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"TrainConfig: patience must be >= 1 or None, got {self.patience!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def shipped_configs() -> list[str]:
    """Names of the config files that ship with msg."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def read_config_file(name_or_path: str) -> dict[str, Any]:
    """The settings in a config file (a shipped name or a path), with comment keys dropped and keys checked."""
    path = Path(name_or_path)
    if not path.exists():
        shipped = CONFIG_DIR / f"{name_or_path}.json"
        if not shipped.exists():
            known = ", ".join(shipped_configs())
            raise ValueError(f"config {name_or_path!r} is neither a file nor a shipped config; shipped: {known}")
        path = shipped
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"config file {path} is not valid JSON: {err}") from err
    if not isinstance(values, dict):
        raise ValueError(f"config file {path} must hold a JSON object, got {type(values).__name__}")
    settings = {k: v for k, v in values.items() if not k.startswith("_")}
    unknown = sorted(set(settings) - set(FIELDS))
    if unknown:
        raise ValueError(f"config file {path}: unknown key(s) {unknown}; known: {sorted(FIELDS)}")
    return settings


def resolve_config(cli: dict[str, Any]) -> TrainConfig:
    """Merge: defaults, then the config file named by ``cli['config']`` (if any), then the command-line values.

    ``cli`` holds only the options the user actually gave (argparse with ``default=SUPPRESS``). An OGB leaderboard
    task (:func:`is_ogb_task`) whose ``runs`` neither sets gets :data:`OGB_RUNS` (10) runs instead of 1.
    """
    values: dict[str, Any] = {}
    if cli.get("config"):
        values.update(read_config_file(cli["config"]))
    values.update(cli)
    if "runs" not in values and is_ogb_task(values.get("dataset", TrainConfig.dataset), values.get("task", "nc")):
        values["runs"] = OGB_RUNS
    return TrainConfig(**values).validate()


OGB_RUNS = 10
"""Runs of an OGB leaderboard task when neither the command line nor the config file sets ``runs`` (OGB's rules:
10 runs, seeds 0-9)."""


def is_ogb_task(dataset: Any, task: Any) -> bool:
    """Whether (dataset, task) is an OGB leaderboard task: ``ogbn-*`` with ``nc`` or ``ogbl-*`` with ``lp``."""
    from msg.datasets.ogb import ogb_task

    try:
        ogb = ogb_task(str(dataset))
    except ValueError:  # an ogbn-/ogbl- name ogb does not know: load_dataset reports it
        return False
    return ogb is not None and ogb.task == task
