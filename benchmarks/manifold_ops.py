"""Forward+backward time of expmap / logmap / dist: msg.manifolds versus geoopt on the same tensors.

For each manifold (Lorentz with K = -1, i.e. geoopt's ``Lorentz(k=1)``; the unit sphere, geoopt's ``SphereExact``) and
dtype, draw N points x, y and tangent vectors u at x once, then time ``op(...).sum().backward()`` for both libraries
(``dist_near``: pairs 0.01 R apart, where msg's hyperboloid distance switches to the chord formula; ``dist_one``: one
point against all the others, whose gradient is a sum over the batch), alternating one run of each ``--repeat``
times after ``--warmup``, and report the ratio msg / geoopt of the fastest runs (below 1: msg is faster; the minimum is
the estimate least disturbed by other load on a shared machine; medians are recorded too). Besides the times the JSON
records how far the two libraries' outputs are apart and, for float32, each one's error against msg's formulas evaluated
in float64 on the same inputs (which agree with geoopt's float64 to 1e-7, tests/manifolds/test_manifold_reference.py):
geoopt's sphere distance clamps the cosine at 1 - 1e-4 in float32 (distances below 0.014 come out as 0.014), and its
logarithms normalise a float32 projection, so a large difference there is geoopt's error.

    python benchmarks/manifold_ops.py --threads 1     # N = 1e5, D = 32, float32 and float64, CPU time
    python benchmarks/manifold_ops.py --device cuda   # on a GPU (wall time)

Writes ``benchmarks/results/manifold_ops.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import geoopt
import torch
from msg.manifolds import Lorentz, Sphere

RESULTS = Path(__file__).resolve().parent / "results" / "manifold_ops.json"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _once(fn, inputs: tuple[torch.Tensor, ...], device: torch.device) -> float:
    """One forward+backward: CPU time of this thread on CPU (other processes on a shared machine do not count;
    run with ``--threads 1`` so that all the work is on this thread), wall time on a GPU."""
    clock = time.thread_time if device.type == "cpu" else time.perf_counter
    args = [t.detach().requires_grad_() for t in inputs]
    _sync(device)
    start = clock()
    fn(*args).sum().backward()
    _sync(device)
    return clock() - start


OPS = ("expmap", "logmap", "dist", "dist_near", "dist_one")


def _cases(n: int, d: int, dtype: torch.dtype, device: torch.device, seed: int):
    """(name, msg manifold, geoopt manifold, x, y, u) with x, y on the manifold, u tangent at x."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    for name, ours, theirs in (
        ("lorentz", Lorentz(-1.0), geoopt.Lorentz(k=1.0)),
        ("sphere", Sphere(1.0), geoopt.SphereExact()),
    ):
        ours, theirs = ours.to(device), theirs.to(device=device, dtype=dtype)
        x = ours.random(n, d + 1, std=0.5, dtype=dtype, generator=gen).to(device)
        y = ours.random(n, d + 1, std=0.5, dtype=dtype, generator=gen).to(device)
        u = ours.proju(x, 0.5 * torch.randn(n, d + 1, dtype=dtype, generator=gen).to(device))
        step = ours.proju(x, torch.randn(n, d + 1, dtype=dtype, generator=gen).to(device))
        near = ours.expmap(x, 1e-2 * step / ours.norm(x, step, keepdim=True))  # pairs 0.01 R apart
        yield name, ours, theirs, x, y, u, near


def run(
    n: int,
    d: int,
    dtypes: list[torch.dtype],
    device: torch.device,
    warmup: int,
    repeat: int,
    seed: int,
    manifolds: tuple[str, ...] = ("lorentz", "sphere"),
    only: tuple[str, ...] = OPS,
) -> dict:
    rows = []
    for dtype in dtypes:
        for name, ours, theirs, x, y, u, near in _cases(n, d, dtype, device, seed):
            if name not in manifolds:
                continue
            ops = {
                "expmap": ((ours.expmap, theirs.expmap), (x, u)),
                "logmap": ((ours.logmap, theirs.logmap), (x, y)),
                "dist": ((ours.dist, theirs.dist), (x, y)),
                "dist_near": ((ours.dist, theirs.dist), (x, near)),
                "dist_one": ((ours.dist, theirs.dist), (x[:1], y)),
            }
            for op, ((f_ours, f_theirs), inputs) in ops.items():
                if op not in only:
                    continue
                for _ in range(warmup):
                    _once(f_ours, inputs, device)
                    _once(f_theirs, inputs, device)
                t_ours, t_theirs = [], []
                for i in range(repeat):  # alternate, so that changes in machine load hit both alike, and swap
                    # which goes first: each call runs in the allocator state the other one left behind
                    if i % 2:
                        t_theirs.append(_once(f_theirs, inputs, device))
                    t_ours.append(_once(f_ours, inputs, device))
                    if not i % 2:
                        t_theirs.append(_once(f_theirs, inputs, device))
                with torch.no_grad():
                    diff = (f_ours(*inputs) - f_theirs(*inputs)).abs().max().item()
                    errors = {}
                    if dtype != torch.float64:  # both libraries against msg's formula evaluated in float64
                        reference = f_ours(*(t.double() for t in inputs))
                        errors = {
                            "msg_max_error_vs_float64": (f_ours(*inputs).double() - reference).abs().max().item(),
                            "geoopt_max_error_vs_float64": (f_theirs(*inputs).double() - reference).abs().max().item(),
                        }
                row = {
                    "manifold": name,
                    "dtype": str(dtype).replace("torch.", ""),
                    "op": op,
                    "msg_ms": round(1e3 * min(t_ours), 3),
                    "geoopt_ms": round(1e3 * min(t_theirs), 3),
                    "ratio_msg_over_geoopt": round(min(t_ours) / min(t_theirs), 3),
                    # each repeat runs both back to back: the median of those paired ratios is robust to load that
                    # drifts over the run (the minimum above is the least disturbed single run of each)
                    "ratio_median_of_pairs": round(
                        statistics.median([a / b for a, b in zip(t_ours, t_theirs, strict=True)]), 3
                    ),
                    "msg_median_ms": round(1e3 * statistics.median(t_ours), 3),
                    "geoopt_median_ms": round(1e3 * statistics.median(t_theirs), 3),
                    "max_abs_output_difference": diff,
                    **errors,
                }
                rows.append(row)
                print(
                    f"{name:8s} {row['dtype']:8s} {op:7s} msg={row['msg_ms']:9.3f} ms "
                    f"geoopt={row['geoopt_ms']:9.3f} ms ratio={row['ratio_msg_over_geoopt']:.3f} "
                    f"(paired median {row['ratio_median_of_pairs']:.3f}) max|diff|={diff:.2e}"
                )
    return {
        "benchmark": "manifold_ops: forward+backward of op(...).sum(); times are the fastest of the repeats",
        "n_points": n,
        "intrinsic_dim": d,
        "device": str(device),
        "torch": torch.__version__,
        "geoopt": geoopt.__version__,
        "clock": "thread CPU time" if device.type == "cpu" else "wall time",
        "threads": torch.get_num_threads(),
        "load_average_1min": os.getloadavg()[0],
        "machine": platform.processor() or platform.machine(),
        "warmup": warmup,
        "repeat": repeat,
        "results": rows,
        "slowest_ratio": max(r["ratio_msg_over_geoopt"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of points")
    parser.add_argument("--dim", type=int, default=32, help="intrinsic dimension D (ambient D+1)")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--manifolds", nargs="+", default=["lorentz", "sphere"], choices=["lorentz", "sphere"])
    parser.add_argument("--ops", nargs="+", default=list(OPS), choices=list(OPS))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(
        args.n,
        args.dim,
        [getattr(torch, d) for d in args.dtypes],
        torch.device(args.device),
        args.warmup,
        args.repeat,
        args.seed,
        tuple(args.manifolds),
        tuple(args.ops),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"slowest ratio msg/geoopt: {result['slowest_ratio']:.3f}; wrote {args.out}")


if __name__ == "__main__":
    main()
