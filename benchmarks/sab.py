"""Sparse attentive backtracking benchmark -> benchmarks/results/sab.{json,png}.

Ke et al., "Sparse Attentive Backtracking: Temporal Credit Assignment Through Reminding" (NeurIPS 2018): an LSTM
on the copy task (10 symbols out of 8, T blanks, a delimiter, recall of the 10 symbols) trained by

- SAB (a memory every k_att steps, top-k_top sparse attention, local truncation every k_trunc steps): scaled
  dot-product scores bounded to +-1 (``--bound``) plus a learned offset per distance (``--lag-bias``, which starts
  learning after ``--lag-warmup`` iterations at ``--lag-lr-scale`` times the learning rate),
- truncated BPTT with the same k_trunc and no attention,
- full BPTT,
- ``sab-content``: SAB without the distance offsets (the content scores alone, as in the paper),

for the same number of iterations from the same initialisation of the LSTM; the readout sees [h_t, summary_t]
(zero summary without attention), as in Ke et al.'s code. The loss covers the recalled symbols (``--loss all`` also
classifies every other step as blank, as Ke et al. do). Accuracy is on the recalled symbols of a held-out batch of
256 sequences; ``seconds_per_iteration`` is the training step alone (one CPU thread).

``--ladder 5,10,20`` then runs the sanity ladder: full BPTT on short delays with the same model (lr
``--ladder-lr``), the check that the task, the loss and the training loop can be learned at all; an LSTM sits on
the chance plateau for several hundred iterations even at delay 5, hence 3,000 iterations. ``--adding-iterations
N`` adds a run of the adding task (T = 200).

Usage: python benchmarks/sab.py [--delay 100] [--iterations 1000] [--k-att 1] [--ladder 5,10,20] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from msg.credit.sab import LSTMCore, SparseAttentiveBacktracking, unroll
from msg.tasks.sequence import adding_task, copy_task, masked_accuracy


def features(method: str, sab: SparseAttentiveBacktracking, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    if method.startswith("sab"):
        out = sab(x)
        nonzero = int((out.attention > 0).sum(-1).max()) if out.attention.numel() else 0
        return torch.cat([out.outputs, out.summaries], -1), nonzero
    hidden, _ = unroll(sab.cell, x, k_trunc=sab.k_trunc if method == "tbptt" else None)
    return torch.cat([hidden, torch.zeros_like(hidden)], -1), 0


def train(task: str, method: str, args: argparse.Namespace, delay: int, iterations: int, lr: float) -> dict:
    torch.manual_seed(args.seed)
    n_in, n_out = (10, 9) if task == "copy" else (2, 1)
    sab = SparseAttentiveBacktracking(
        LSTMCore(n_in, args.hidden),
        args.hidden,
        k_att=args.k_att,
        k_top=args.k_top,
        k_trunc=args.k_trunc,
        eps=args.eps,
        scoring=args.scoring,
        lag_bias=0 if method == "sab-content" else args.lag_bias,
        bound=args.bound,
    )
    head = nn.Linear(2 * args.hidden, n_out)
    params = list(sab.parameters()) + list(head.parameters())
    lag = [sab.lag_bias] if sab.lag_bias is not None else []
    rest = [q for q in params if q is not sab.lag_bias]
    # the lag offsets start learning after --lag-warmup iterations, once the content scores prefer the symbols' memories
    opt = torch.optim.Adam([{"params": rest}, {"params": lag, "lr": 0.0}], lr=lr)
    gen = torch.Generator().manual_seed(args.seed + 1)

    def batch(size, generator):
        if task == "copy":
            return copy_task(size, delay=delay, length=args.length, generator=generator)
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

    curve, skipped, max_nonzero, start, training = [], 0, 0, time.perf_counter(), 0.0
    name = f"{task} T={delay if task == 'copy' else args.adding_length} {method}"
    bar = tqdm(range(iterations), desc=name, disable=None)
    for it in bar:
        b = batch(args.batch, gen)
        opt.param_groups[1]["lr"] = lr * args.lag_lr_scale if it >= args.lag_warmup else 0.0
        tic = time.perf_counter()
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
        training += time.perf_counter() - tic
        if (it + 1) % args.eval_every == 0 or it + 1 == iterations:
            with torch.no_grad():
                feats, _ = features(method, sab, test.inputs)
                curve.append([it + 1, loss_and_metric(test, feats)[1]])
            bar.set_postfix(metric=f"{curve[-1][1]:.3f}")
            if bar.disable:  # no terminal: log the evaluations instead of the bar
                print(name, curve[-1], f"{time.perf_counter() - start:.0f}s", flush=True)
    key = "test_accuracy" if task == "copy" else "test_mse"
    return {
        key: curve[-1][1],
        "curve": curve,
        "seconds": time.perf_counter() - start,
        "seconds_per_iteration": training / iterations,
        "skipped_nonfinite_steps": skipped,
        "max_nonzero_attention_weights": max_nonzero,
    }


def plot(results: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results["copy"].get(results["main_run"], {})
    ladder = results.get("ladder", {})
    fig, axes = plt.subplots(1, 2 if ladder else 1, figsize=(11 if ladder else 6, 4), squeeze=False)
    for method, run in runs.items():
        axes[0, 0].plot([c[0] for c in run["curve"]], [c[1] for c in run["curve"]], label=method)
    axes[0, 0].axhline(results["chance"], color="grey", ls=":", lw=0.8)
    axes[0, 0].axhline(0.9, color="grey", ls="--", lw=0.8)
    axes[0, 0].set(xlabel="iteration", ylabel="recall accuracy", title=results["main_run"], ylim=(0, 1))
    axes[0, 0].legend()
    for delay, run in ladder.items():
        axes[0, 1].plot([c[0] for c in run["curve"]], [c[1] for c in run["curve"]], label=f"T={delay}")
    if ladder:
        axes[0, 1].set(xlabel="iteration", ylabel="recall accuracy", title="sanity ladder: full BPTT", ylim=(0, 1))
        axes[0, 1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=int, default=100)
    parser.add_argument("--length", type=int, default=10, help="number of symbols to copy")
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--ladder", default="", help="delays of a full-BPTT sanity ladder, e.g. 5,10,20")
    parser.add_argument("--ladder-iterations", type=int, default=3000)
    parser.add_argument("--adding-length", type=int, default=200)
    parser.add_argument("--adding-iterations", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--k-att", type=int, default=1)
    parser.add_argument("--k-top", type=int, default=5)
    parser.add_argument("--eps", type=float, default=1e-3, help="renormalisation floor of the sparse attention")
    parser.add_argument("--k-trunc", type=int, default=10)
    parser.add_argument("--scoring", default="dot", choices=["dot", "mlp"], help="attention score of SAB")
    parser.add_argument("--lag-bias", type=int, default=128, help="learned score offsets per distance (0: none)")
    parser.add_argument("--lag-lr-scale", type=float, default=30.0, help="learning rate of the offsets / --lr")
    parser.add_argument("--lag-warmup", type=int, default=150, help="iterations before the offsets learn")
    parser.add_argument("--bound", type=float, default=1.0, help="bound of the content scores (0: none)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--ladder-lr", type=float, default=3e-3)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--methods", default="sab,tbptt,bptt,sab-content")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loss", default="recall", choices=["recall", "all"], help="steps the copy loss covers")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "chance": 1 / 8,
        "ladder": {},
        "copy": {},
        "adding": {},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "sab.json"
    key = f"T={args.delay},length={args.length},k_att={args.k_att},k_top={args.k_top},k_trunc={args.k_trunc}"
    results["main_run"] = key
    runs = results["copy"].setdefault(key, {})
    for method in args.methods.split(","):
        runs[method] = train("copy", method, args, args.delay, args.iterations, args.lr)
        path.write_text(json.dumps(results, indent=1))
    for delay in [int(v) for v in args.ladder.split(",") if v]:
        results["ladder"][str(delay)] = train("copy", "bptt", args, delay, args.ladder_iterations, args.ladder_lr)
        path.write_text(json.dumps(results, indent=1))
    for method in args.methods.split(",") if args.adding_iterations > 0 else []:
        results["adding"][method] = train("adding", method, args, args.delay, args.adding_iterations, args.lr)
        path.write_text(json.dumps(results, indent=1))
    for method, run in runs.items():
        print(f"copy {key} {method}: accuracy={run['test_accuracy']:.4f} ({run['seconds']:.0f} s)")
    plot(results, args.out / "sab.png")


if __name__ == "__main__":
    main()
