"""Compare msg's baselines with the MSG paper's Table 1 (Sun et al., NeurIPS 2024) on Photo and CS.

Every model runs through msg's own pipeline (:func:`msg.tasks.runner.run`) with the same splits and seeds: a fresh
random 10/10/80 node split or 85/5/10 leak-free edge split per run, seeds ``seed .. seed + runs - 1`` for every
model, the test score at the best validation epoch, mean +- std over the runs. Each model has one configuration
(:data:`CONFIGS`, published defaults, the same for every dataset); nothing is tuned per dataset. MSG's own row is
read from benchmarks/results/reproduce_msg.json (``benchmarks/reproduce_msg.py``), not rerun.

    python benchmarks/compare_models.py --root /work/shared/data --runs 3 --resume

Writes benchmarks/results/compare_models.json after every finished row (atomically; ``--resume`` skips rows already
there), then compare_models.md (the table beside the published numbers, parameters, epoch time, energy, notes) and
compare_models.png. Several processes may fill the same JSON (e.g. ``--models gcn`` and ``--models hgcn``): each
merges its rows into the file under a lock.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from msg.tasks.config import TrainConfig
from msg.tasks.runner import run, write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ("gcn", "gat", "sgc", "sage", "hgcn", "spikenet", "spiking_gcn", "spikegcl")
DATASETS = ("photo", "cs")
TASKS = ("nc", "lp")
NC_ONLY = {"spikenet"}
"""Models without link prediction (as in the MSG paper's Table 1)."""

# Published numbers of the MSG paper's Table 1 (Sun et al., "Spiking Graph Neural Network on Riemannian Manifolds",
# NeurIPS 2024): node-classification accuracy and link-prediction AUC, in %. None: not given to us (shown as "—").
PAPER: dict[tuple[str, str, str], float | None] = {
    ("gcn", "nc", "photo"): 86.01, ("gcn", "lp", "photo"): 88.84,
    ("gcn", "nc", "cs"): 91.68, ("gcn", "lp", "cs"): 93.68,
    ("hgcn", "nc", "photo"): 89.18, ("hgcn", "lp", "photo"): 94.54,
    ("hgcn", "nc", "cs"): 90.72, ("hgcn", "lp", "cs"): 93.02,
    ("spikenet", "nc", "photo"): 92.90, ("spikenet", "nc", "cs"): 92.15,
    ("spiking_gcn", "nc", "photo"): 92.60, ("spiking_gcn", "lp", "photo"): 93.84,
    ("spiking_gcn", "nc", "cs"): 90.86, ("spiking_gcn", "lp", "cs"): 95.07,
    ("spikegcl", "nc", "photo"): 92.50, ("spikegcl", "lp", "photo"): 95.58,
    ("spikegcl", "nc", "cs"): 91.77, ("spikegcl", "lp", "cs"): 95.13,
    ("msg", "nc", "photo"): 93.11, ("msg", "lp", "photo"): 96.75,
    ("msg", "nc", "cs"): 92.65, ("msg", "lp", "cs"): 95.19,
}
LABELS = {"gcn": "GCN", "gat": "GAT", "sgc": "SGC", "sage": "SAGE", "hgcn": "HGCN", "spikenet": "SpikeNet",
          "spiking_gcn": "SpikingGCN", "spikegcl": "SpikeGCL", "msg": "MSG (reproduce_msg.json)"}

# One configuration per model (and task), the same for every dataset: the published defaults of each model's paper
# or code where they exist (lr 0.01, weight decay 5e-4, dropout 0.5 for the supervised GNNs; SGC's lr 0.2 and K=2;
# GAT's 8 heads; SpikeNet's T=5 and low threshold; SpikingGCN's K=2; HGCN without weight decay, Chami et al.'s
# default). Link prediction drops dropout and weight decay on the embeddings, as HGCN's link-prediction configs do;
# either task may set a model's own values (NC_OVERRIDES, LP_MODEL_OVERRIDES, each with its measured reason). Epochs
# and patience come from the command line.
COMMON: dict[str, Any] = {"lr": 0.01, "weight_decay": 5e-4, "dropout": 0.5, "hidden": 64, "layers": 2}
CONFIGS: dict[str, dict[str, Any]] = {
    # GCN and SGC row-normalise the features, as their authors' code does before training (Kipf & Welling's
    # gcn/utils.py preprocess_features, Wu et al.'s SGC utils.py preprocess_citation -> row_normalize): a published
    # preprocessing of the model, the same on every dataset. On Photo's raw rows (sum 259 on average) both link
    # predictions collapsed (AUC 0.50: all first-layer ReLUs dead by epoch 6 of GCN, seed 0)
    "gcn": {"normalize_features": True},
    "gat": {},  # 8 heads of 8 features (msg.models.ann.GAT)
    # SGC: lr 0.2, weight decay 5e-6 and K = 2 are Wu et al.'s defaults (their args.py; the paper tunes the weight
    # decay per dataset, which this comparison does not). 5e-5, used before, is not theirs: on row-normalised Photo
    # features its L2 term outweighed the (259 times smaller) gradients and node classification fell to 44.60
    "sgc": {"lr": 0.2, "weight_decay": 5e-6, "normalize_features": True},  # K = layers = 2
    "sage": {},
    "hgcn": {"manifold": "lorentz", "weight_decay": 0.0},  # Chami et al.'s default (their config.py)
    "spikenet": {"T": 5, "neuron": "LIF", "v_threshold": 0.1, "credit": "bptt"},
    "spiking_gcn": {"T": 5, "neuron": "LIF", "v_threshold": 1.0, "credit": "bptt", "weight_decay": 0.0},
    "spikegcl": {"T": 15, "layers": 1, "neuron": "LIF", "v_threshold": 0.25, "credit": "bptt", "dropout": 0.0,
                 "weight_decay": 0.0},
}
LP_OVERRIDES: dict[str, Any] = {"dropout": 0.0, "weight_decay": 0.0}
LP_MODEL_OVERRIDES: dict[str, dict[str, Any]] = {
    # Link prediction reads SpikingGCN's firing rates: at threshold 1.0 no output neuron of Coauthor CS fired at
    # initialisation (expected currents at most 0.20), every embedding was 0 and the distance gave no gradient (AUC
    # 0.50); at 0.1, SpikeNet's, it learns (seed 0, 10 epochs: 92.75)
    "spiking_gcn": {"v_threshold": 0.1},
}
NC_OVERRIDES: dict[str, dict[str, Any]] = {
    # Cross-entropy on spike counts: at lr 0.01 one Adam step moves an output current by up to lr * sum_j P_ij (3 on
    # Photo, 3 times the threshold), the loss pushes seven of eight outputs down, and by epoch 10 91% of the counts
    # were 0 (currents at -6.5, where the surrogate gradient vanishes) and 41% of the nodes tied; at 0.001 the
    # currents stay centred (seed 0, 50 epochs: validation 0.67 -> 0.81, still rising)
    "spiking_gcn": {"lr": 0.001},
}


def config(model: str, task: str, dataset: str, args: argparse.Namespace) -> TrainConfig:
    """The run configuration of one row (see :data:`CONFIGS`)."""
    if task == "lp":
        task_settings = {**LP_OVERRIDES, **LP_MODEL_OVERRIDES.get(model, {})}
    else:
        task_settings = NC_OVERRIDES.get(model, {})
    settings = {**COMMON, **CONFIGS[model], **task_settings}
    return TrainConfig(
        task=task, dataset=dataset, model=model, epochs=args.epochs, patience=args.patience, runs=args.runs,
        seed=args.seed, root=args.root, split="random", eval_every=args.eval_every, **settings,
    ).validate()


def jobs(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """(model, task, dataset) of every row to run, in the order given."""
    return [
        (m, t, d) for d in args.datasets for t in args.tasks for m in args.models if not (t == "lp" and m in NC_ONLY)
    ]


def label(model: str, task: str, dataset: str) -> str:
    return f"{model}/{task}/{dataset}"


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``'s sibling lock file, so that concurrent processes merge their rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_rows(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    return {r["label"]: r for r in json.loads(path.read_text())["results"]}


def save_row(path: Path, row: dict) -> dict[str, dict]:
    """Merge ``row`` into the results file (under the lock) and return every row now in it."""
    with locked(path):
        rows = read_rows(path)
        rows[row["label"]] = row
        ordered = sorted(rows.values(), key=_order)
        write_json_atomic(path, {"benchmark": "compare_models", "results": ordered, "torch": torch.__version__})
    return {r["label"]: r for r in ordered}


def _order(row: dict) -> tuple[int, int, int]:
    model = MODELS.index(row["model"]) if row["model"] in MODELS else len(MODELS)
    dataset = DATASETS.index(row["dataset"]) if row["dataset"] in DATASETS else len(DATASETS)
    return dataset, TASKS.index(row["task"]), model


def msg_rows(path: Path) -> dict[tuple[str, str], dict]:
    """MSG's rows from reproduce_msg.json, by (task, dataset)."""
    if not path.exists():
        return {}
    return {(r["task"], r["dataset"]): r for r in json.loads(path.read_text())["results"] if r["model"] == "msg"}


# Why a row is more than 2 points below the published number, found by looking, not by tuning (markdown notes).
EXPLANATIONS: dict[tuple[str, str, str], str] = {
    ("gcn", "lp", "photo"): (
        "On raw features (second round) training collapsed: Photo's bag-of-words rows sum to 259 on average, the "
        "first Adam steps at lr 0.01 overshot (seed 0: loss 13.6 at epoch 0, 345 at epoch 1), by epoch 4 only 0.03% "
        "of the first layer's ReLUs were active and none from epoch 6, so all embeddings coincided (AUC 50.12). "
        "Row-normalised features, as Kipf & Welling's code uses (`CONFIGS`), gave 94.93."
    ),
    ("gcn", "nc", "cs"): (
        "The row-normalised features (Kipf & Welling's preprocessing, `CONFIGS`) slow it down, not a collapse: on raw "
        "features (second round) it reached 92.83 with its best validation at epochs 45 and 40; row-normalised, "
        "88.85 after 600 epochs with the best validation at epochs 490 and 595, still rising slowly. CS's rows sum "
        "to 60 on average, so after normalisation an Adam step of lr on every first-layer weight moves a node's "
        "pre-activation about 60 times less than on the raw rows (as HGCN's note says of its own normalisation)."
    ),
    ("hgcn", "nc", "photo"): (
        "HGCN divides each input row by its sum (259 on Photo), so the feature part of its first layer's output is "
        "small beside the layer's bias, which Adam moves by lr per step whatever the input: measured on seed 0, the "
        "first layer's bias gradient norm was 10 times its weight's at epoch 5 and the validation accuracy stayed at "
        "one or two classes' share (0.24-0.45) for 30 epochs. Chami et al.'s larger initialisation (now used) and no "
        "weight decay (their default) shortened that (50 epochs, seed 0: 53.9 -> 82.3). Later the second layer's "
        "tangent vectors reached norm 27 and the loss jumped from 0.74 to 3.1 (epochs 45-75) before recovering; Chami "
        "et al.'s code trains up to 5000 epochs with patience 100."
    ),
    ("hgcn", "lp", "photo"): (
        "The initialisation and clipping of the second round raised it from 75.23 (50 epochs, first round) to 87.30 "
        "after 100 epochs and 89.99 after 200; the third round's 600 epochs reached 92.53 (2.01 below), both runs "
        "still best at their last evaluation (epoch 600): a budget, not a setting. As for node classification, the "
        "row-normalised inputs keep the first layer's steps small, and Chami et al.'s code trains for up to 5000 "
        "epochs."
    ),
    ("spiking_gcn", "nc", "photo"): (
        "Not the budget: 600 epochs, the runs stopped by patience after their best validation at epochs 210, 270 and "
        "335 (second round, 100 epochs: 85.32). Not the features either: a logistic regression fitted to convergence "
        "(L-BFGS) on the same rates P reaches 91.41 test without a penalty (seed 0) and 92.81-93.51 with 1e-3 |W|^2 "
        "(seeds 0-2). Measured on seed 0 at its best epoch: one draw of the spike counts gives 88.38 test (5.0% of the"
        " nodes tied at the top count), the mean of 20 draws 89.66 and the argmax of the expected currents 89.87, so T"
        " = 5's sampling costs about 1.5 points and the weights learned through the surrogate gradient (lr 0.001, no "
        "weight decay, cross-entropy on the counts) about 1.5 more against the unregularised linear fit. Zhu et al. "
        "train with T = 150-400, tau 30-80, an MSE loss on the rates and weight decay 0.01, not reproduced here (one "
        "setting for both datasets; on CS this one exceeds the published number). Why lr 0.001: at lr 0.01 Adam's "
        "first steps moved each output current by up to lr times the row's summed firing rates (about 3 on Photo, "
        "three times the threshold) while the cross-entropy pushed seven of the eight outputs down: by epoch 10, 91% "
        "of the counts were 0 (mean current -6.5, where the surrogate gradient vanishes) and 41% of the nodes tied "
        "(seed 0; that setting reached 71.78)."
    ),
    ("spiking_gcn", "nc", "cs"): (
        "Second round: 87.25 after 50 epochs (still rising); third round, 600 epochs with patience: 91.77, best "
        "validation at epochs 255 and 290 (CS's firing rates sum to about 90 per node against Photo's 314, so each "
        "lr 0.001 step moves its currents less and it needs more epochs)."
    ),
    ("hgcn", "lp", "cs"): "As on Photo: 88.91 after 50 epochs, 90.98 after 200, 92.51 after 600 (best at 600, 590).",
    ("spiking_gcn", "lp", "photo"): (
        "Uneven seeds, not the budget: 600 epochs reached 95.53, 91.98 and 79.75 (seeds 0-2, best validation at "
        "epochs 570, 415, 185). Measured at epoch 200 with the row's settings: on seed 2, 52 of the 64 output neurons "
        "never fired and 10 fired at every step for every node, so 2 carried information and the 7650 nodes had 35 "
        "distinct embeddings (mean expected current -10.6, far below the threshold 0.1, where the surrogate gradient "
        "vanishes); on seed 0, 43 silent, 11 saturated, 10 informative, 1971 distinct embeddings (95.02). How many "
        "neurons survive the first epochs decides the run; threshold 0.1 is what CS needs (its note: at 1.0 no "
        "neuron of CS fired), and at 1.0 this row reached 93.60 ± 0.13 (first round, 2 runs x 50 epochs)."
    ),
    ("spiking_gcn", "lp", "cs"): (
        "At threshold 1.0 (first round) no output neuron ever fired: the expected currents of the 64 output neurons "
        "reached at most 0.20 at initialisation, every embedding was 0 and the AUC 0.50; hence threshold 0.1."
    ),
    ("spikegcl", "nc", "photo"): (
        "Not the budget: 600 epochs with patience reached 89.38 (second round, 50 epochs: 86.35), the best validation "
        "at epochs 120 and 45, so more epochs do not close the gap. Measured on seed 0 (50 epochs): the jointly "
        "trained probe reached 88.3; a logistic regression fitted to convergence (L-BFGS) on the same frozen 1-bit "
        "embeddings reached 89.8 (on an untrained encoder's: 69.7), so the joint probe costs about 1.5 points and the "
        "encoder the rest. The authors' Photo run uses PLIF neurons, edge dropping, threshold 0.05, 8 output neurons "
        "and lr 0.001 (their README), not reproduced here (msg's LIF, no augmentation, 64 neurons, threshold 0.25, "
        "lr 0.01, one setting for both datasets)."
    ),
    ("spikegcl", "nc", "cs"): (
        "Not the budget (best validation at epochs 40 and 25 of 50): as on Photo, the probe is trained jointly rather "
        "than fitted on frozen embeddings, and the encoder is not the authors' CS setting (their README: threshold "
        "0.5, 32 output neurons, T = 60, PLIF, edge dropping; here one setting for both datasets: threshold 0.25, 64 "
        "neurons, T = 15, LIF, no augmentation)."
    ),
    ("spikegcl", "lp", "cs"): (
        "Not rerun this round (time). On Photo the same setting went from 90.76 after 50 epochs to 96.67 with 600 "
        "epochs and patience (above the published 95.58), so the 50-epoch budget is the measured lead."
    ),
    ("spikegcl", "lp", "photo"): (
        "The SpikeGCL paper has no link prediction: the linear map of the detached embeddings into the decoder is "
        "trained with the encoder from epoch 0."
    ),
}


def _still_improving(row: dict) -> str:
    """A sentence when every run's best validation came in the last two evaluations of its budget, else ''."""
    cfg = row["config"]
    best = [r["best_epoch"] for r in row["runs"]]
    if best and all(b >= cfg["epochs"] - 2 * cfg["eval_every"] for b in best):
        return (
            f"Still improving when the budget stopped it: best validation at epoch {', '.join(map(str, best))} of "
            f"{cfg['epochs']}, so more epochs (the reference setups train for hundreds or more) would likely raise it. "
        )
    return ""


NOT_RUN = (
    "Rows marked `not run` did not fit in the time budget of this machine (2 CPU cores shared by four engineers; "
    "three sessions of 90-120 minutes each); `python benchmarks/compare_models.py --resume` runs them. SGC's link "
    "prediction on CS is the slow one: SGC keeps its propagated features for one (x, graph) pair, and link "
    "prediction alternates three graphs (training, validation, test), so every evaluation recomputes A^2 X twice "
    "and the next training step once more (32.8 s each on CS, one thread)."
)


def _datasets(rows: dict[str, dict]) -> list[str]:
    """Photo and CS (the paper's), then any other dataset that has rows (e.g. a smoke test on Cora)."""
    return [*DATASETS, *sorted({r["dataset"] for r in rows.values()} - set(DATASETS))]


def _cell(row: dict | None, paper: float | None) -> str:
    published = "—" if paper is None else f"{paper:.2f}"
    if row is None:
        return f"not run ({published})"
    ours = f"{100 * row['test_mean']:.2f} ± {100 * row['test_std']:.2f}"
    flag = ""
    if paper is not None and 100 * row["test_mean"] < paper - 2:
        flag = " ▼"
    return f"{ours} ({published}){flag}"


def markdown(rows: dict[str, dict], msg: dict[tuple[str, str], dict]) -> str:
    """The Table 1 layout (ours, published in brackets), the cost table and the notes."""
    columns = [(d, t) for d in _datasets(rows) for t in TASKS]
    head = " | ".join(f"{d.upper() if d == 'cs' else d.capitalize()} {'NC acc' if t == 'nc' else 'LP AUC'}"
                      for d, t in columns)
    runs = "/".join(map(str, sorted({len(r["runs"]) for r in rows.values()})))
    epochs = "/".join(map(str, sorted({r["config"]["epochs"] for r in rows.values()})))
    every = "/".join(map(str, sorted({r["config"]["eval_every"] for r in rows.values()})))
    lines = [
        "# Baselines on msg's pipeline beside the MSG paper's Table 1",
        "",
        f"Ours: mean ± std over {runs} runs (seeds 0, 1, ...: the same splits for every model), at most {epochs} "
        f"epochs, validation every {every} epochs, the test score at the best validation score (per row below: "
        "runs, epochs, best epochs); published number in brackets; ▼ marks ours more than 2 points below it (see "
        "the notes).",
        "",
        f"| model | {head} |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for model in (*MODELS, "msg"):
        cells = []
        for dataset, task in columns:
            paper = PAPER.get((model, task, dataset))
            if model == "msg":
                row = msg.get((task, dataset))
            else:
                row = rows.get(label(model, task, dataset))
            if model in NC_ONLY and task == "lp":
                cells.append("— (not in the paper)")
            else:
                cells.append(_cell(row, paper))
        lines.append(f"| {LABELS[model]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| row | features | runs | epochs | best epochs | params | median epoch (s) | inference energy (mJ) | ACs "
        "| MACs |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows.values(), key=_order):
        e = row["energy"] or {}
        best = ", ".join(str(r["best_epoch"]) for r in row["runs"])
        features = "row-normalised" if row["config"].get("normalize_features") else "raw"
        lines.append(
            f"| {row['label']} | {features} | {len(row['runs'])} | {row['config']['epochs']} | {best} | "
            f"{row['num_params']} | "
            f"{row['epoch_time_s']:.3f} | {e.get('energy_mJ', math.nan):.3f} | {e.get('acs', 0):.3g} | "
            f"{e.get('macs', 0):.3g} |"
        )
    lines += ["", "## Notes", "", NOTES.strip(), ""]
    gaps = []
    for row in sorted(rows.values(), key=_order):
        key = (row["model"], row["task"], row["dataset"])
        paper = PAPER.get(key)
        if paper is not None and 100 * row["test_mean"] < paper - 2:
            why = _still_improving(row) + EXPLANATIONS.get(key, "" if _still_improving(row) else "Not explained yet.")
            gaps.append(f"- **{row['label']}**: {100 * row['test_mean']:.2f} vs {paper:.2f}. {why}")
    if gaps:
        lines += ["Rows more than 2 points below the published number:", "", *gaps, ""]
    if any(label(*job) not in rows for job in _paper_jobs()):
        lines += [NOT_RUN, ""]
    return "\n".join(lines)


def _paper_jobs() -> list[tuple[str, str, str]]:
    """(model, task, dataset) of every baseline cell of the paper's table."""
    return [(m, t, d) for d in DATASETS for t in TASKS for m in MODELS if not (t == "lp" and m in NC_ONLY)]


NOTES = """
- Protocol: msg's random 10/10/80 node split and 85/5/10 leak-free edge split (msg.datasets), a fresh split, seed,
  model and optimizer per run (the same seeds, hence the same splits, for every model), the test score at the best
  validation score. The published numbers come from the MSG paper's own runs (its splits, epoch budgets and
  settings), not from these splits.
- Link prediction scores an edge with the Fermi-Dirac decoder (r=2, t=1) on the embeddings' distance for every
  model (hyperbolic for HGCN, Euclidean otherwise); training negatives are redrawn every epoch. Node features are
  the raw bag-of-words rows (the runner's default, `normalize_features=False`) except for GCN and SGC, whose
  authors' code row-normalises them (Kipf & Welling's `preprocess_features`, Wu et al.'s `row_normalize`; `CONFIGS`),
  and HGCN, which normalises its input rows itself (the second table's `features` column: what each row ran
  with; rows of the first two rounds ran on raw rows). On Photo's raw rows GCN's and SGC's link prediction collapsed
  (AUC 0.50, second round: every first-layer ReLU of GCN dead by epoch 6, seed 0; SGC's lr 0.2 overshoots alike).
- Settings: one configuration per model for both datasets (benchmarks/compare_models.py, `CONFIGS`, per task
  `NC_OVERRIDES` and `LP_MODEL_OVERRIDES`), the models' published defaults; nothing is tuned per dataset. Changed
  after the first round, each for a measured cause (the notes below and the comments there): HGCN initialises as
  Chami et al.'s code (Xavier, gain sqrt 2), clips its tangent vectors at norm 15 as their code's cosh/sinh clamp
  does, and has no weight decay (their default): Photo NC 50.08 -> 92.58; SpikingGCN node classification runs at
  lr 0.001 (Photo 71.78 -> 85.32) and its link prediction at threshold 0.1 (at 1.0 no output neuron of CS ever
  fired: AUC 50.00 -> 93.88). Third round: GCN and SGC row-normalise their features as their authors' code does,
  and SGC's weight decay is its code's default 5e-6 (5e-5 before, not Wu et al.'s).
- SGC (no published number here) runs with its code's defaults, row-normalised features and weight decay 5e-6:
  Photo NC 80.88. Measured on the same splits (3 runs, 600 epochs): weight decay 0 gives 92.39 and raw features
  with 5e-6 give 92.10, so on row-normalised rows the L2 term outweighs gradients about 259 times smaller (Photo's
  rows sum to 259); Wu et al. tune the weight decay per dataset, which this comparison does not.
- SpikeGCL is self-supervised: its encoder learns from the contrastive loss only, and the reported score is a
  linear probe on the detached 1-bit embeddings trained at the same time (link prediction: a linear map of them
  into the decoder). The paper fits the probe after pre-training.
- Budget: this machine has 2 CPU cores shared by four engineers (load average about 4 during the second round),
  one thread per process, at most two processes; the script's defaults are 3 runs of at most 200 epochs, and the
  rows here ran with the runs and epochs in the second table (far fewer epochs than the models' papers use: that
  alone explains rows still improving at their last evaluation). First round (about 90 minutes): 2 runs x 50
  epochs for most rows. Second round (about 100 minutes): the rows whose model or settings changed, and the
  missing ones, with 3 runs on Photo and 2 on CS where they fit, 50 epochs, more (100-200) for HGCN and SpikingGCN
  on Photo, whose epochs are cheap. Third round (about two hours, load about 2-3), after the ANN baselines' sparse
  first layer and SpikingGCN's training-node-only loss made their epochs cheaper: at most 600 epochs, validation
  every 5, stopping after 20 evaluations (100 epochs) without improvement, for the rows still improving at their
  last evaluation (HGCN link prediction, SpikingGCN node classification and Photo link prediction, GCN link
  prediction on CS), the GCN and SGC rows (their settings changed) and the cells never run before (GAT, SGC and
  SAGE on CS), and SpikeGCL's Photo rows at the end (its epochs took 0.49 s on a quieter machine, 3.4 s in the
  second round); SpikeGCL's CS rows, SGC's link prediction on CS (see below) and the rows already within 2 points
  or without a published number (GAT, SAGE, HGCN and SpikeNet node classification, SpikingGCN's CS link
  prediction) were not rerun. gcn/nc/photo ran last, with this configuration: row-normalised, 84.34 (raw
  features, second round: 92.12; the published 86.01 is close to the normalised one).
- MSG's row is read from benchmarks/results/reproduce_msg.json (the authors' configs, not rerun here); its
  link-prediction rows may use another decoder than the Fermi-Dirac one used for the baselines here (the
  `config.decoder` of those rows; reproduce_msg.md says which).
- Epoch time: median training step (forward, auxiliary loss, backward, optimizer step), one thread, on a loaded
  shared machine, so only rough. Rows from the first two rounds were timed before GCN, GAT and SAGE multiplied
  sparse inputs as sparse matrices and before SpikingGCN's node classification encoded the training nodes only
  (e.g. gcn/nc/cs 7.04 s then, 0.28 s in the third round; spiking_gcn/nc/cs 7.45 s then, 0.32 s). Energy: one
  inference forward over the whole graph, msg.ops.energy's 45 nm estimate (ACs for binary inputs, MACs otherwise;
  graph aggregations and exp/log maps are not counted).
"""


def plot(rows: dict[str, dict], msg: dict[tuple[str, str], dict], path: Path) -> None:
    """Ours (bars, std as error bars) against the published numbers (markers), one panel per dataset and task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [(d, t) for d in _datasets(rows) for t in TASKS]
    fig, axes = plt.subplots(1, len(columns), figsize=(4 * len(columns), 4), sharey=False)
    names = (*MODELS, "msg")
    for ax, (dataset, task) in zip(axes, columns, strict=True):
        xs, ours, errs, published = [], [], [], []
        for i, model in enumerate(names):
            row = msg.get((task, dataset)) if model == "msg" else rows.get(label(model, task, dataset))
            paper = PAPER.get((model, task, dataset))
            xs.append(i)
            ours.append(math.nan if row is None else 100 * row["test_mean"])
            errs.append(0.0 if row is None else 100 * row["test_std"])
            published.append(math.nan if paper is None else paper)
        ax.bar(xs, ours, yerr=errs, color="tab:blue", alpha=0.8, label="ours")
        ax.scatter(xs, published, color="tab:red", marker="D", zorder=3, label="paper")
        ax.set_xticks(xs, [LABELS[m].split(" ")[0] for m in names], rotation=60, ha="right")
        finite = [v for v in (*ours, *published) if not math.isnan(v)]
        if finite:
            ax.set_ylim(max(0.0, min(finite) - 5), min(100.0, max(finite) + 2))
        ax.set_title(f"{dataset} {'accuracy' if task == 'nc' else 'AUC'} (%)")
    axes[0].legend(loc="lower left")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)


def write_reports(out: Path, msg_results: Path) -> None:
    rows = read_rows(out)
    msg = msg_rows(msg_results)
    md = out.with_suffix(".md")
    tmp = md.with_name(f".{md.name}.tmp")
    tmp.write_text(markdown(rows, msg))
    os.replace(tmp, md)
    plot(rows, msg, out.with_suffix(".png"))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.environ.get("MSG_SHARED_DATA", "/work/shared/data"))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--runs", type=int, default=3, help="runs per row (default 3: a shared 2-core machine)")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--eval-every", type=int, default=1, help="epochs between evaluations")
    parser.add_argument("--patience", type=int, default=50, help="evaluations without improvement before stopping")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="skip rows already in the results JSON")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "compare_models.json")
    parser.add_argument("--msg-results", type=Path, default=RESULTS / "reproduce_msg.json")
    parser.add_argument("--report-only", action="store_true", help="rewrite the markdown and PNG from the JSON")
    args = parser.parse_args(argv)
    for name in ("runs", "epochs", "eval_every", "patience", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.report_only:
        done = read_rows(args.out) if args.resume else {}
        todo = [job for job in jobs(args) if label(*job) not in done]
        for model, task, dataset in tqdm(todo, desc="compare_models", disable=None):
            cfg = config(model, task, dataset, args)
            start = time.time()
            try:
                result = run(cfg, progress=False)
            except Exception as err:  # one failing row (e.g. out of memory) must not lose the others
                print(f"{label(model, task, dataset)}: failed: {type(err).__name__}: {err}", file=sys.stderr)
                continue
            for r in result["runs"]:
                r.pop("history")
            result["label"], result["wall_s"] = label(model, task, dataset), time.time() - start
            result["settings"] = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "root"}
            save_row(args.out, result)
            tqdm.write(
                f"{result['label']}: {100 * result['test_mean']:.2f} +- {100 * result['test_std']:.2f} "
                f"(median epoch {result['epoch_time_s']:.3f} s, {result['wall_s']:.0f} s)"
            )
    with locked(args.out):
        write_reports(args.out, args.msg_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
