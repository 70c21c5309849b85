"""LSNN benchmark -> benchmarks/results/lsnn.{json,png}.

Bellec et al., "Long short-term memory and Learning-to-learn in networks of spiking neurons" (NeurIPS 2018):
an LSNN (LIF + ALIF units) against an equally sized LIF-only network (every adaptation strength 0), both trained
by BPTT with surrogate gradients and the firing-rate regulariser, on

1. store-recall (msg.tasks.store_recall: delays of 100 to 250 steps), error on a held-out batch;
2. sequential digits (scikit-learn 8x8 digits, one pixel per step, 64 steps), test accuracy.

Usage: python benchmarks/lsnn.py [--iterations 500] [--epochs 40] [--parts store_recall,digits]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time
from typing import Any

import torch
from torch.nn import functional as F

from msg.models.lsnn import LSNN, firing_rate_regularizer
from msg.neurons import get_surrogate
from msg.tasks.sequence import masked_accuracy, sequential_digits, store_recall

STORE_RECALL = dict(n_periods=6, period_steps=50, cue_steps=10, min_gap=2)


def make(kind: str, input_size: int, output_size: int, n: int, **cell: Any) -> LSNN:
    adaptive = n // 2 if kind == "lsnn" else 0
    return LSNN(input_size, n - adaptive, adaptive, output_size, **cell)


def store_recall_run(kind: str, iterations: int, n: int, cell: dict, seed: int) -> dict:
    torch.manual_seed(seed)
    model = make(kind, 4, 2, n, **cell)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(seed + 1)
    test = store_recall(512, generator=seed + 2, **STORE_RECALL)
    curve, start = [], time.perf_counter()
    for it in range(iterations):
        batch = store_recall(64, generator=gen, **STORE_RECALL)
        out, spikes = model(batch.inputs)
        loss = F.cross_entropy(out[batch.mask], batch.targets[batch.mask]) + firing_rate_regularizer(spikes, 0.02)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (it + 1) % 25 == 0:
            with torch.no_grad():
                out, spikes = model(test.inputs)
            curve.append([it + 1, 1.0 - float(masked_accuracy(out, test)), float(spikes.mean())])
    first = next((c[0] for c in curve if c[1] < 0.05), None)
    return {
        "test_error": curve[-1][1],
        "iterations_to_5pct": first,
        "firing_rate": curve[-1][2],
        "curve": curve,
        "seconds": time.perf_counter() - start,
    }


def digits_run(kind: str, epochs: int, n: int, cell: dict, seed: int) -> dict:
    train, test = sequential_digits("train", seed=seed), sequential_digits("test", seed=seed)
    torch.manual_seed(seed)
    model = make(kind, 1, 10, n, **cell)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    curve, start = [], time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(train.inputs.shape[1])
        for i in range(0, len(perm), 64):
            idx = perm[i : i + 64]
            out, spikes = model(train.inputs[:, idx])
            loss = F.cross_entropy(out[-1], train.targets[-1, idx]) + firing_rate_regularizer(spikes, 0.02)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        with torch.no_grad():
            out, _ = model(test.inputs)
        curve.append(float(masked_accuracy(out, test)))
    return {"test_accuracy": curve[-1], "curve": curve, "seconds": time.perf_counter() - start}


def plot(results: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for kind in ("lsnn", "lif"):
        curve = results["store_recall"][kind]["curve"]
        axes[0].plot([c[0] for c in curve], [c[1] for c in curve], label=kind.upper())
        axes[1].plot(results["digits"][kind]["curve"], label=kind.upper())
    axes[0].axhline(0.05, color="grey", ls="--", lw=0.8)
    axes[0].set(xlabel="iteration", ylabel="recall error", title="store-recall", ylim=(0, 0.6))
    axes[1].set(xlabel="epoch", ylabel="test accuracy", title="sequential digits (64 steps)")
    axes[0].legend()
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--neurons", type=int, default=60)
    parser.add_argument("--recurrent-gain", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--digits-surrogate", default="atan", help="msg.neurons surrogate name for digits")
    parser.add_argument("--parts", default="store_recall,digits", help="parts to (re)run; the others are kept")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(1)
    parts = args.parts.split(",")
    recall_cell = dict(
        tau_out=20.0, tau_m=20.0, tau_a=300.0, beta=30.0, input_gain=3.0, recurrent_gain=args.recurrent_gain
    )
    digits_cell = dict(tau_out=20.0, tau_m=20.0, tau_a=100.0, beta=10.0, input_gain=3.0)
    path = args.out / "lsnn.json"
    results = json.loads(path.read_text()) if path.exists() and len(parts) < 2 else {}
    results["store_recall_task"] = STORE_RECALL
    if "store_recall" in parts:
        results["store_recall_cell"] = dict(recall_cell, neurons=args.neurons)
        results["store_recall"] = {
            kind: store_recall_run(kind, args.iterations, args.neurons, recall_cell, args.seed)
            for kind in ("lsnn", "lif")
        }
    if "digits" in parts:
        results["digits_cell"] = dict(
            digits_cell, surrogate=args.digits_surrogate, epochs=args.epochs, neurons=args.neurons
        )
        cell = dict(digits_cell, surrogate=get_surrogate(args.digits_surrogate))
        results["digits"] = {
            kind: digits_run(kind, args.epochs, args.neurons, cell, args.seed) for kind in ("lsnn", "lif")
        }
    for kind in ("lsnn", "lif"):
        print(
            f"{kind} store_recall_error={results['store_recall'][kind]['test_error']:.4f} "
            f"digits_accuracy={results['digits'][kind]['test_accuracy']:.4f}",
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    plot(results, args.out / "lsnn.png")


if __name__ == "__main__":
    main()
