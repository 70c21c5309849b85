"""Reproduce the MSG paper's results (Sun et al., NeurIPS 2024, Table 1) with the authors' shipped configs.

Protocol: random 10/10/80 node split and 85/5/10 edge split, a fresh split, seed and model per run, the test score
at the best validation epoch, mean +- std over ``--runs`` runs. The Cora public split is reported beside them.

    python benchmarks/reproduce_msg.py --root ../shared/data --runs 5

Writes benchmarks/results/reproduce_msg.json and reproduce_msg.md (a table beside the published numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from msg.tasks.config import TrainConfig, read_config_file
from msg.tasks.runner import run, write_json_atomic

# Published MSG numbers (Table 1 of the paper): node-classification accuracy and link-prediction AUC, in %.
PAPER = {
    ("nc", "photo"): 93.11,
    ("nc", "cs"): 92.65,
    ("lp", "photo"): 96.75,
    ("lp", "cs"): 95.19,
}
TARGETS = {("nc", "photo"): 92.1, ("nc", "cs"): 91.6, ("lp", "photo"): 95.2, ("lp", "cs"): 93.7}


def jobs(manifold: str, runs: int, root: str | None) -> list[tuple[str, TrainConfig]]:
    """(label, config) for each row: the paper's four rows from their configs, then Cora on its public split."""
    rows = []
    for task, dataset in PAPER:
        name = f"{task}_{dataset}_{manifold}"
        settings = {**read_config_file(name), "runs": runs, "root": root, "eval_every": 1, "patience": None}
        rows.append((name, TrainConfig(**settings)))
    rows.append(("nc_cora_public", TrainConfig(dataset="cora", manifold=manifold, runs=runs, root=root)))
    return rows


NOTES = """Protocol: the authors' configs (msg/configs, from ZhenhHuang/MSG) with a fresh random split, seed and model
per run (10/10/80 nodes, 85/5/10 edges), evaluated every epoch; the test score is taken at the best validation epoch
(the authors stop early on validation loss every 10 epochs and report the last epoch). Lorentz link prediction scores
edges as the authors' code does, by the cosine similarity of the states in the tangent space at the origin
(`decoder: cosine` in the shipped configs); with the Fermi-Dirac distance decoder the same config gives 81.7 on Photo
and 85.4 on CS, and neither of the authors' split leaks changes that (benchmarks/results/lp_protocol.md). Epoch time:
median training step, one thread, on a shared 2-core machine.
"""


def markdown(results: list[dict]) -> str:
    lines = [
        NOTES,
        "| task | dataset | manifold | ours (mean +- std) | paper | target | runs | epoch time (s) | params |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        key = (r["task"], r["dataset"])
        paper = PAPER.get(key)
        target = TARGETS.get(key)
        cells = [
            r["task"], r["dataset"], r["manifold"], f"{100 * r['test_mean']:.2f} +- {100 * r['test_std']:.2f}",
            "-" if paper is None else paper, "-" if target is None else target, len(r["runs"]),
            f"{r['epoch_time_s']:.3f}", r["num_params"],
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.environ.get("MSG_SHARED_DATA"))
    parser.add_argument("--manifold", default="lorentz")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="labels to run (e.g. nc_photo_lorentz)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/reproduce_msg.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    previous = json.loads(args.out.read_text())["results"] if args.out.exists() else []
    results = {r["label"]: r for r in previous}
    for label, cfg in jobs(args.manifold, args.runs, args.root):
        if args.only and label not in args.only:
            continue
        start = time.time()
        result = run(cfg)
        result["label"], result["wall_s"] = label, time.time() - start
        for r in result["runs"]:
            r.pop("history")
        results[label] = result
        print(f"{label}: {100 * result['test_mean']:.2f} +- {100 * result['test_std']:.2f} ({result['wall_s']:.0f} s)")
        ordered = list(results.values())
        write_json_atomic(args.out, {"benchmark": "reproduce_msg", "results": ordered, "torch": torch.__version__})
        args.out.with_suffix(".md").write_text(markdown(ordered))


if __name__ == "__main__":
    main()
