"""One mini-batch training epoch of MSG on synthetic power-law graphs from 10^5 nodes to ogbn-products' size.

The graph (:func:`power_law_graph`) is a Chung–Lu graph: each of ``num_edges / 2`` undirected edges joins two
endpoints drawn independently with probability proportional to a node weight :math:`w_i \\propto (r_i + i_0)^{-1/
(\\gamma - 1)}` (``r`` a random ranking of the nodes), so expected degrees follow a power law with exponent
:math:`\\gamma`; both directions are stored, so ``edge_index`` has ``num_edges`` columns. Features are Gaussian
(100 dimensions), labels uniform over 47 classes, and 8% of the nodes are training nodes (as in ogbn-products).
Self loops and repeated pairs the sampler draws are kept (GCN normalisation keeps one self loop per node).

For each size a fresh subprocess builds the graph and times one epoch of :func:`msg.tasks.minibatch.train_step`
over NeighborLoader batches (MSG: Lorentz, T=15, 2 layers, 32 dims, DvM; 1024 seeds, fan-out [10, 10, 10]; one
torch thread). Reported per size: peak RSS of the process (``ru_maxrss``: graph, sampler, model and the largest
batch together) and RSS after the graph was built, the epoch time, training (seed) nodes per second and sampled
nodes per second. When an epoch would take longer than ``--budget-s``, the batches done by then are timed and the
epoch is extrapolated (``extrapolated: true`` with ``batches_timed``).

    python benchmarks/scale.py --out benchmarks/results/scale.json

Writes the JSON after every size (atomically) and a PNG beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

SIZES = [(100_000, 2_526_000), (300_000, 7_578_000), (1_000_000, 25_260_000), (2_449_029, 61_859_140)]
"""(nodes, edge_index columns): ogbn-products' 2,449,029 nodes and 61,859,140 edges, and smaller graphs with its
mean degree (25.3 columns per node)."""
FEATURES, CLASSES, TRAIN_FRACTION = 100, 47, 0.08
GAMMA, OFFSET = 2.5, 20.0
CHUNK = 1 << 22


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return math.nan


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def power_law_graph(num_nodes: int, num_edges: int, seed: int = 0, gamma: float = GAMMA,
                    offset: float = OFFSET) -> Any:
    """A synthetic node-classification graph (module docstring) as a PyG ``Data`` with ``x``, ``y``,
    ``edge_index`` (symmetric, ``num_edges`` columns, even) and ``train_mask``.

    Memory: ``edge_index`` is allocated once ([2, E] int64) and filled in chunks of endpoint draws (inverse-CDF
    search of uniform numbers in the cumulative weights), so the build needs little beyond the graph itself."""
    from torch_geometric.data import Data

    if num_nodes < 2 or num_edges < 2 or num_edges % 2:
        raise ValueError(f"power_law_graph: need num_nodes >= 2 and an even num_edges >= 2, got {num_nodes}, "
                         f"{num_edges}")
    if not gamma > 2:
        raise ValueError(f"power_law_graph: gamma must be > 2, got {gamma!r}")
    g = torch.Generator().manual_seed(seed)
    rank = torch.randperm(num_nodes, generator=g)
    weight = (rank.double() + offset).pow(-1.0 / (gamma - 1.0))
    cdf = weight.cumsum(0)
    cdf /= cdf[-1].clone()
    del weight, rank
    pairs = num_edges // 2
    edge_index = torch.empty(2, num_edges, dtype=torch.long)
    for start in range(0, pairs, CHUNK):
        stop = min(start + CHUNK, pairs)
        for row in (0, 1):
            ends = torch.searchsorted(cdf, torch.rand(stop - start, generator=g, dtype=torch.float64))
            ends.clamp_(max=num_nodes - 1)  # a draw of exactly 1.0 after rounding
            edge_index[row, start:stop] = ends
            edge_index[1 - row, pairs + start : pairs + stop] = ends
    del cdf
    x = torch.randn(num_nodes, FEATURES, generator=g)
    y = torch.randint(0, CLASSES, (num_nodes,), generator=g)
    train_mask = torch.zeros(num_nodes, dtype=torch.bool)
    train_mask[torch.randperm(num_nodes, generator=g)[: max(1, round(TRAIN_FRACTION * num_nodes))]] = True
    return Data(x=x, y=y, edge_index=edge_index, train_mask=train_mask, num_nodes=num_nodes)


def degree_stats(edge_index: torch.Tensor, num_nodes: int) -> dict[str, float]:
    degree = torch.bincount(edge_index[1], minlength=num_nodes).double()
    top = degree.sort(descending=True).values
    return {
        "mean_in_degree": float(degree.mean()),
        "max_in_degree": int(top[0]),
        "p99_in_degree": float(torch.quantile(degree[torch.randperm(num_nodes)[:1_000_000]], 0.99)),
        "isolated_nodes": int((degree == 0).sum()),
        "top_1pct_edge_share": float(top[: max(1, num_nodes // 100)].sum() / degree.sum()),
    }


def build_model(T: int = 15, hidden: int = 32, layers: int = 2) -> torch.nn.Module:
    from msg.models import MSG

    return MSG(FEATURES, hidden, CLASSES, manifold="lorentz", T=T, num_layers=layers, step_size=0.1, dropout=0.1,
               credit="dvm")


def train_epoch(data: Any, model: torch.nn.Module, batch_size: int = 1024, num_neighbors: list[int] | None = None,
                budget_s: float = math.inf, progress: bool = True, lr: float = 0.01) -> dict[str, Any]:
    """One epoch of mini-batch training (or the batches that fit in ``budget_s``, extrapolated)."""
    from tqdm.auto import tqdm

    from msg.tasks.minibatch import NodeBatches, train_step

    train = data.train_mask.nonzero().view(-1)
    batches = NodeBatches(data, model, batch_size, num_neighbors, train, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    total = len(batches)
    done, sampled, edges, losses = 0, 0, 0, []
    start = time.perf_counter()
    bar = tqdm(batches.train_batches(0), total=total, desc=f"epoch N={data.num_nodes:,}", disable=not progress)
    for batch in bar:
        loss_sum, count = train_step(model, model, optimizer, batch, data)
        done += 1
        sampled += int(batch.n_id.numel())
        edges += int(batch.edge_index.size(1))
        losses.append(float(loss_sum / count))
        if time.perf_counter() - start > budget_s and done < total:
            break
    elapsed = time.perf_counter() - start
    epoch_s = elapsed / done * total
    seeds = int(train.numel())
    return {
        "batches": total,
        "batches_timed": done,
        "extrapolated": done < total,
        "timed_s": elapsed,
        "epoch_s": epoch_s,
        "train_nodes": seeds,
        "nodes_per_s": seeds / epoch_s,
        "sampled_nodes_per_batch": sampled / done,
        "sampled_edges_per_batch": edges / done,
        "sampled_nodes_per_s": sampled / elapsed,
        "first_loss": losses[0],
        "last_loss": losses[-1],
    }


def measure(num_nodes: int, num_edges: int, budget_s: float, T: int, batch_size: int, fanout: list[int]) -> dict:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rss_start = _rss_mb()
    start = time.perf_counter()
    data = power_law_graph(num_nodes, num_edges)
    build_s = time.perf_counter() - start
    graph_mb = sum(t.numel() * t.element_size() for t in (data.x, data.y, data.edge_index, data.train_mask)) / 2**20
    stats = degree_stats(data.edge_index, num_nodes)
    rss_graph = _rss_mb()
    model = build_model(T=T)
    epoch = train_epoch(data, model, batch_size, fanout, budget_s)
    return {
        "nodes": num_nodes,
        "edges": num_edges,
        "load_average_1min_end": os.getloadavg()[0],  # other processes share the cores
        **stats,
        "graph_build_s": build_s,
        "graph_tensors_mb": graph_mb,
        "rss_start_mb": rss_start,
        "rss_after_graph_mb": rss_graph,
        **epoch,
        "peak_rss_mb": peak_rss_mb(),
    }


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nodes = [r["nodes"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(nodes, [r["peak_rss_mb"] / 1024 for r in rows], "o-", label="peak RSS")
    left.plot(nodes, [r["rss_after_graph_mb"] / 1024 for r in rows], "s--", label="RSS after building the graph")
    left.axhline(24, color="grey", lw=0.8, ls=":", label="machine (24 GiB)")
    left.set(xscale="log", xlabel="nodes", ylabel="GiB", title="memory of one mini-batch epoch")
    left.legend()
    right.plot(nodes, [r["nodes_per_s"] for r in rows], "o-", label="training nodes / s")
    right.set(xscale="log", yscale="log", xlabel="nodes", ylabel="training (seed) nodes per second",
              title="MSG, T=15, batch 1024, fan-out [10,10,10], 1 thread")
    for r in rows:
        if r["extrapolated"]:
            right.annotate(f"extrapolated from {r['batches_timed']}/{r['batches']} batches",
                           (r["nodes"], r["nodes_per_s"]), fontsize=7, textcoords="offset points", xytext=(-120, 8))
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/scale.json")
    parser.add_argument("--sizes", default=",".join(f"{n}:{e}" for n, e in SIZES),
                        help="comma-separated nodes:edges pairs")
    parser.add_argument("--budget-s", type=float, default=1200.0,
                        help="time one size's batches for at most this long, then extrapolate the epoch")
    parser.add_argument("--T", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--fanout", default="10,10,10")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child: nodes:edges, JSON on stdout
    args = parser.parse_args()
    fanout = [int(k) for k in args.fanout.split(",")]
    if args.one:
        n, e = (int(v) for v in args.one.split(":"))
        print("RESULT " + json.dumps(measure(n, e, args.budget_s, args.T, args.batch_size, fanout)))
        return

    from msg.tasks.runner import write_json_atomic

    out = Path(args.out)
    sizes = [tuple(int(v) for v in pair.split(":")) for pair in args.sizes.split(",")]
    rows: list[dict] = []
    settings = {
        "model": "MSG", "manifold": "lorentz", "T": args.T, "layers": 2, "hidden": 32, "credit": "dvm",
        "batch_size": args.batch_size, "num_neighbors": fanout, "features": FEATURES, "classes": CLASSES,
        "train_fraction": TRAIN_FRACTION, "gamma": GAMMA, "weight_offset": OFFSET, "torch_threads": 1,
        "budget_s": args.budget_s, "optimizer": "Adam(lr=0.01)",
    }
    for n, e in sizes:
        cmd = [sys.executable, __file__, "--one", f"{n}:{e}", "--budget-s", str(args.budget_s), "--T", str(args.T),
               "--batch-size", str(args.batch_size), "--fanout", args.fanout]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
        line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
        rows.append(json.loads(line[len("RESULT "):]))
        print(json.dumps(rows[-1]), flush=True)
        first = rows[0]
        for r in rows:
            r["rss_growth_vs_smallest"] = r["peak_rss_mb"] / first["peak_rss_mb"]
            r["nodes_per_s_vs_smallest"] = r["nodes_per_s"] / first["nodes_per_s"]
        write_json_atomic(out, {
            "benchmark": "scale", "settings": settings, "rows": rows, "torch": torch.__version__,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
            "note": ("edges = edge_index columns (each undirected pair stored in both directions); ogbn-products "
                     "reports 61,859,140 edges, which PyG stores as 123.7 M columns, so its mean degree is twice "
                     "this graph's; nodes_per_s = training (seed) nodes per second of the epoch"),
        })
        plot(rows, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
