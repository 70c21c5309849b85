"""MSG training-step memory and time against T, credit="dvm" versus credit="bptt" (one run, Photo by default).

For each (credit, T), a fresh subprocess loads the graph, builds MSG (Lorentz, 2 layers, 32 dims, as the paper's
Photo config) and times full-batch training steps. Reported per row:

- ``saved_mb``: bytes autograd saves for backward in one step (counted with ``saved_tensors_hooks``);
- ``step_rss_mb``: growth of the process's peak resident memory from before the first step to after the last (the
  extra memory training needs beyond data, parameters and optimizer: activations, temporaries, cached adjacency,
  optimizer moments);
- ``step_s`` / ``forward_s`` / ``backward_s``: the fastest of the timed steps (on a shared machine other processes
  only ever add time), with ``step_median_s`` / ``backward_median_s`` beside them.

    python benchmarks/msg_memory_time.py --root ../shared/data --out benchmarks/results/msg_memory_time.json

Writes JSON and a PNG (memory and time against T for both credits).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {key}")


def reset_peak_rss() -> int:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS and return that, in KiB (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS")


def measure(dataset: str, root: str | None, credit: str, T: int, steps: int, threads: int) -> dict:
    import torch.nn.functional as F
    from msg.datasets import load_dataset, random_node_split

    from msg.models import MSG

    torch.set_num_threads(threads)
    data = random_node_split(load_dataset(dataset, root=root), seed=0)
    torch.manual_seed(0)
    model = MSG(data.num_features, 32, int(data.y.max()) + 1, manifold="lorentz", T=T, num_layers=2,
                step_size=0.01, credit=credit)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    saved = [0]

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved[0] += t.numel() * t.element_size()
        return t

    def step(count_saved: bool = False) -> tuple[float, float]:
        model.train()
        optimizer.zero_grad()
        start = time.perf_counter()
        if count_saved:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                loss = F.cross_entropy(model(data.x, data.edge_index)[data.train_mask], data.y[data.train_mask])
        else:
            loss = F.cross_entropy(model(data.x, data.edge_index)[data.train_mask], data.y[data.train_mask])
        middle = time.perf_counter()
        loss.backward()
        optimizer.step()
        return middle - start, time.perf_counter() - middle

    rss_before = reset_peak_rss()  # data, model and optimizer are built
    step(count_saved=True)
    timings = [step() for _ in range(steps)]
    rss_after = _status_kb("VmHWM")
    # Other processes can only slow a step down, so the fastest step is the least noisy estimate; medians are kept.
    forward = min(f for f, _ in timings)
    backward = min(b for _, b in timings)
    return {
        "credit": credit,
        "T": T,
        "saved_mb": saved[0] / 2**20,
        "step_rss_mb": (rss_after - rss_before) / 1024,
        "forward_s": forward,
        "backward_s": backward,
        "step_s": min(f + b for f, b in timings),
        "step_median_s": statistics.median(f + b for f, b in timings),
        "backward_median_s": statistics.median(b for _, b in timings),
        "threads": threads,
    }


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for credit in sorted({r["credit"] for r in rows}):
        sub = sorted((r for r in rows if r["credit"] == credit), key=lambda r: r["T"])
        ts = [r["T"] for r in sub]
        axes[0].plot(ts, [r["saved_mb"] for r in sub], "o-", label=credit)
        axes[1].plot(ts, [r["step_s"] * 1e3 for r in sub], "o-", label=credit)
        axes[2].plot(ts, [r["backward_s"] * 1e3 for r in sub], "o-", label=credit)
    for ax, title in zip(axes, ("saved activations (MiB)", "training step (ms)", "backward (ms)"), strict=True):
        ax.set_xlabel("T")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="photo")
    parser.add_argument("--root", default=os.environ.get("MSG_SHARED_DATA"))
    parser.add_argument("--T", type=int, nargs="+", default=[5, 15, 30, 60])
    parser.add_argument("--credits", nargs="+", default=["dvm", "bptt"])
    parser.add_argument("--steps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/msg_memory_time.json"))
    parser.add_argument("--one", nargs=2, metavar=("CREDIT", "T"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        row = measure(args.dataset, args.root, args.one[0], int(args.one[1]), args.steps, args.threads)
        print(json.dumps(row))
        return
    from tqdm import tqdm

    rows = []
    for credit in args.credits:
        for T in tqdm(args.T, desc=credit):
            command = [sys.executable, __file__, "--one", credit, str(T), "--dataset", args.dataset,
                       "--steps", str(args.steps), "--threads", str(args.threads)]
            if args.root:
                command += ["--root", args.root]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    base = {r["credit"]: r for r in rows if r["T"] == min(args.T)}
    top = {r["credit"]: r for r in rows if r["T"] == max(args.T)}
    ratios = {
        credit: {
            "saved_mb_ratio": top[credit]["saved_mb"] / max(base[credit]["saved_mb"], 1e-9),
            "step_rss_mb_ratio": top[credit]["step_rss_mb"] / max(base[credit]["step_rss_mb"], 1e-9),
            "backward_ratio": top[credit]["backward_s"] / base[credit]["backward_s"],
            "step_ratio": top[credit]["step_s"] / base[credit]["step_s"],
        }
        for credit in args.credits
    }
    result = {
        "benchmark": "msg_memory_time",
        "dataset": args.dataset,
        "model": "MSG lorentz, 2 layers, 32 dims, step_size 0.01",
        "rows": rows,
        f"ratio_T{max(args.T)}_over_T{min(args.T)}": ratios,
        "load_average": os.getloadavg(),
        "torch": torch.__version__,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, args.out.with_suffix(".png"))
    for row in rows:
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    print(json.dumps(ratios, indent=2))


if __name__ == "__main__":
    main()
