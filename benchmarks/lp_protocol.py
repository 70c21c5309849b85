"""Where the MSG paper's link-prediction numbers come from: one model under three protocols and two decoders.

The authors' code (ZhenhHuang/MSG, ``exp.py`` / ``utils/data_utils.py``) encodes nodes with the *whole* graph,
validation and test edges included, so every held-out positive pair is also a message-passing edge of the encoder
(its two end states are averaged into each other before they are compared). msg's link split removes held-out edges
from the encoder's graph (:func:`msg.datasets.link_split`). This script trains the same model with the same config,
split, seeds and decoder (``--decoder``, Fermi-Dirac by default) each way:

- ``leak-free``: msg's protocol (the encoder sees the training edges only);
- ``encoder-sees-all-edges``: identical, except that the encoder's graph is the whole graph, as in the authors' code;
- ``authors-split``: also the authors' edge split, whose held-out positives are the first 5% / 10% of the directed
  edge list, so that the reverse of nearly every held-out edge stays among the training positives (a distance or a
  cosine score is symmetric: the model is trained on the very pairs it is tested on).

    python benchmarks/lp_protocol.py --datasets photo cs --runs 2

Writes benchmarks/results/lp_protocol.json and lp_protocol.md. It is a diagnostic, not a protocol msg offers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from contextlib import contextmanager
from itertools import product
from pathlib import Path

import torch

import msg.tasks.runner as runner
from msg.tasks.config import TrainConfig, read_config_file

RESULTS = Path(__file__).resolve().parent / "results"
PAPER = {"photo": 96.75, "cs": 95.19}
PROTOCOLS = ("leak-free", "encoder-sees-all-edges", "authors-split")


@contextmanager
def leaky_split(train_on_held_out: bool):
    """Patch the runner's link split: every part's message-passing graph is the whole graph and, with
    ``train_on_held_out``, the held-out positive pairs (reversed, as the authors' split leaves them) are training
    positives too."""
    split = runner.link_split

    def leaky(data, *args, **kwargs):
        train, val, test = (_with_graph(p, data.edge_index) for p in split(data, *args, **kwargs))
        if train_on_held_out:
            held_out = [part.pos_edge_label_index.flip(0) for part in (val, test)]
            train.pos_edge_label_index = torch.cat([train.pos_edge_label_index, *held_out], dim=1)
        return train, val, test

    runner.link_split = leaky
    try:
        yield
    finally:
        runner.link_split = split


def _with_graph(part, edge_index):
    part = part.clone()
    part.edge_index = edge_index
    return part


FINDINGS = """Finding: the split leaks of the authors' code do not explain the gap between msg's Fermi-Dirac result and
the paper (81.7 leak-free, 82.0 with both leaks on Photo). The decoder does: the authors' Lorentz runs score an edge by
the cosine similarity of its end states, and with that scoring (msg's CosineDecoder, now selected by the shipped
lp_*_lorentz configs) the leak-free protocol reaches the paper's numbers (benchmarks/results/reproduce_msg.md). The
distance decoder learns slowly here: the states of all nodes start within ~0.1 of each other, so every pair starts
with the same score and a vanishing distance gradient (lr 0.01 and 600 epochs: 88 on Photo)."""


def markdown(rows: list[dict]) -> str:
    lines = [
        "MSG link prediction (AUC %, authors' configs, same splits and seeds) under msg's leak-free protocol",
        "and with the authors' leaks: the encoder's graph holding the validation and test edges, and then",
        "also the authors' edge split (held-out pairs trained on as reversed positives).",
        "",
        "| dataset | protocol | decoder | AUC (mean +- std) | runs | paper |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['protocol']} | {r['decoder']} | {r['test_auc_mean']:.2f} +- "
            f"{r['test_auc_std']:.2f} | {len(r['runs'])} | {r['paper']} |"
        )
    return "\n".join([*lines, "", FINDINGS]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.environ.get("MSG_SHARED_DATA"))
    parser.add_argument("--datasets", nargs="+", default=["photo", "cs"])
    parser.add_argument("--manifold", default="lorentz")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None, help="override the config's epochs")
    parser.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS))
    parser.add_argument("--decoder", choices=("fd", "cosine"), default="fd", help="overrides the config's decoder")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "lp_protocol.json")
    parser.add_argument("--markdown-only", action="store_true", help="rewrite the .md from the JSON and stop")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.markdown_only:
        args.out.with_suffix(".md").write_text(markdown(json.loads(args.out.read_text())["rows"]))
        return
    previous = json.loads(args.out.read_text())["rows"] if args.out.exists() else []
    todo = set(product(args.datasets, args.protocols, [args.decoder]))
    rows = [r for r in previous if (r["dataset"], r["protocol"], r["decoder"]) not in todo]
    for dataset in args.datasets:
        settings = {**read_config_file(f"lp_{dataset}_{args.manifold}"), "runs": args.runs, "root": args.root}
        settings.update(eval_every=1, patience=None, decoder=args.decoder)
        if args.epochs:
            settings["epochs"] = args.epochs
        cfg = TrainConfig(**settings)
        for protocol in args.protocols:
            start = time.perf_counter()
            if protocol == "leak-free":
                result = runner.run(cfg, progress=True)
            else:
                with leaky_split(train_on_held_out=protocol == "authors-split"):
                    result = runner.run(cfg, progress=True)
            tests = [100 * r["test"] for r in result["runs"]]
            row = {
                "dataset": dataset,
                "manifold": args.manifold,
                "protocol": protocol,
                "decoder": args.decoder,
                "test_auc_mean": statistics.fmean(tests),
                "test_auc_std": statistics.pstdev(tests),
                "runs": tests,
                "paper": PAPER.get(dataset),
                "config": result["config"],
                "seconds": time.perf_counter() - start,
            }
            rows.append(row)
            print(
                f"{dataset} {protocol} {args.decoder}: {row['test_auc_mean']:.2f} +- {row['test_auc_std']:.2f}",
                flush=True,
            )
            runner.write_json_atomic(args.out, {"benchmark": "lp_protocol", "rows": rows})
    args.out.with_suffix(".md").write_text(markdown(rows))


if __name__ == "__main__":
    main()
