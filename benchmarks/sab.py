"""Sparse attentive backtracking benchmark -> benchmarks/results/sab.json.

Ke et al., "Sparse Attentive Backtracking: Temporal Credit Assignment Through Reminding" (NeurIPS 2018): an LSTM
on the copy task (10 symbols out of 8, T blanks, a delimiter, recall) trained by

- SAB (memory every k_att steps, top-k_top sparse attention, local truncation every k_trunc steps),
- truncated BPTT with the same k_trunc and no attention,
- full BPTT,

for the same number of iterations from the same initialisation of the LSTM; the readout sees [h_t, summary_t]
(zero summary without attention), as in Ke et al.'s code. The loss covers the recalled symbols (``--loss all`` also
classifies every other step as blank, as Ke et al. do). Accuracy is on the recalled symbols of a held-out batch.
A short adding-task run (T = 200) is reported beside it.

A second run copies a single symbol over the same delay (``--lengths 10,1``): the same credit-assignment problem
with much less to memorise, so its outcome is visible within a short CPU budget.

Usage: python benchmarks/sab.py [--delay 100] [--iterations 600] [--lengths 10,1] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import torch
from torch import nn
from torch.nn import functional as F

from msg.credit.sab import LSTMCore, SparseAttentiveBacktracking, unroll
from msg.tasks.sequence import adding_task, copy_task, masked_accuracy


def features(method: str, sab: SparseAttentiveBacktracking, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    if method == "sab":
        out = sab(x)
        nonzero = int((out.attention > 0).sum(-1).max()) if out.attention.numel() else 0
        return torch.cat([out.outputs, out.summaries], -1), nonzero
    hidden, _ = unroll(sab.cell, x, k_trunc=sab.k_trunc if method == "tbptt" else None)
    return torch.cat([hidden, torch.zeros_like(hidden)], -1), 0


def train(task: str, method: str, args: argparse.Namespace, length: int = 10) -> dict:
    torch.manual_seed(args.seed)
    n_in, n_out = (10, 9) if task == "copy" else (2, 1)
    sab = SparseAttentiveBacktracking(
        LSTMCore(n_in, args.hidden),
        args.hidden,
        k_att=args.k_att,
        k_top=args.k_top,
        k_trunc=args.k_trunc,
        eps=args.eps,
    )
    head = nn.Linear(2 * args.hidden, n_out)
    params = list(sab.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed + 1)

    def batch(size, generator):
        if task == "copy":
            return copy_task(size, delay=args.delay, length=length, generator=generator)
        return adding_task(size, length=args.adding_length, generator=generator)

    test = batch(256, args.seed + 2)

    def loss_and_metric(b, feats):
        out = head(feats)
        if task == "copy" and args.loss == "all":  # every step classified: 8 symbols and 'blank' (index 8)
            target = torch.where(b.mask, b.targets, 8)
            return F.cross_entropy(out.flatten(0, 1), target.flatten()), float(masked_accuracy(out[..., :8], b))
        if task == "copy":  # the recalled symbols only
            return F.cross_entropy(out[b.mask], b.targets[b.mask]), float(masked_accuracy(out[..., :8], b))
        mse = F.mse_loss(out[..., 0][b.mask], b.targets[b.mask])
        return mse, float(mse)

    curve, skipped, max_nonzero, start = [], 0, 0, time.perf_counter()
    iterations = args.iterations if task == "copy" else args.adding_iterations
    for it in range(iterations):
        b = batch(args.batch, gen)
        feats, nonzero = features(method, sab, b.inputs)
        max_nonzero = max(max_nonzero, nonzero)
        loss, _ = loss_and_metric(b, feats)
        opt.zero_grad()
        loss.backward()
        norm = nn.utils.clip_grad_norm_(params, 1.0)
        if torch.isfinite(norm):
            opt.step()
        else:
            skipped += 1
        if (it + 1) % args.eval_every == 0 or it + 1 == iterations:
            with torch.no_grad():
                feats, _ = features(method, sab, test.inputs)
                curve.append([it + 1, loss_and_metric(test, feats)[1]])
            print(task, length, method, curve[-1], f"{time.perf_counter() - start:.0f}s", flush=True)
    key = "test_accuracy" if task == "copy" else "test_mse"
    return {
        key: curve[-1][1],
        "curve": curve,
        "seconds": time.perf_counter() - start,
        "skipped_nonfinite_steps": skipped,
        "max_nonzero_attention_weights": max_nonzero,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=int, default=100)
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--lengths", default="10,1", help="numbers of symbols to copy, one run each")
    parser.add_argument("--adding-length", type=int, default=200)
    parser.add_argument("--adding-iterations", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--k-att", type=int, default=10)
    parser.add_argument("--k-top", type=int, default=5)
    parser.add_argument("--eps", type=float, default=1.0)
    parser.add_argument("--k-trunc", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--methods", default="sab,tbptt,bptt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loss", default="recall", choices=["recall", "all"], help="steps the copy loss covers")
    parser.add_argument("--append", action="store_true", help="add to the runs already in sab.json")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(1)
    methods = args.methods.split(",")
    results = {
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "chance": 1 / 8,
        "copy": {},
        "adding": {},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "sab.json"
    if args.append and path.exists():  # keep earlier settings' runs, keyed by their settings
        previous = json.loads(path.read_text())
        results["copy"] = previous["copy"]
        results["runs_settings"] = previous.get("runs_settings", {})
    results.setdefault("runs_settings", {})
    for length in [int(v) for v in args.lengths.split(",")]:
        key = f"length={length},k_att={args.k_att},k_top={args.k_top},k_trunc={args.k_trunc}"
        results["runs_settings"][key] = results["settings"]
        runs = results["copy"].setdefault(key, {})
        for method in methods:
            runs[method] = train("copy", method, args, length)
            path.write_text(json.dumps(results, indent=1))
    for method in methods if args.adding_iterations > 0 else []:
        results["adding"][method] = train("adding", method, args)
        path.write_text(json.dumps(results, indent=1))
    for key, runs in results["copy"].items():
        for method, run in runs.items():
            print(f"copy T={args.delay} {key} {method}: accuracy={run['test_accuracy']:.4f}")


if __name__ == "__main__":
    main()
