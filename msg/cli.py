"""The ``msg`` command line: ``msg datasets list | info NAME`` (more subcommands register themselves below).

Each subcommand is a function ``add_<name>(subparsers)`` that adds its parser and sets ``handler``; ``main`` parses
and dispatches. Errors a user can fix (unknown names, missing files, bad values) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from msg.plot.cli import add_plot


def _datasets_list(args: argparse.Namespace) -> int:
    from msg.datasets import REGISTRY

    width = max(len(name) for name in REGISTRY)
    for spec in REGISTRY.values():
        print(f"{spec.name:<{width}}  {spec.description}")
    return 0


def _datasets_info(args: argparse.Namespace) -> int:
    from msg.datasets import dataset_info

    info = dataset_info(args.name, root=args.root, download=args.download)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"dataset         {info['name']}")
    print(f"nodes           {info['nodes']}")
    print(f"edges           {info['undirected_edges']} undirected (self-loops: {info['self_loops']})")
    print(f"features        {info['features']}")
    if info["classes"] is None:
        print("classes         none (a link-prediction graph)")
    else:
        kind = " (multi-label)" if info["multi_label"] else ""
        print(f"classes         {info['classes']}{kind}")
    print(f"splits          {', '.join(info['splits'])}")
    if info["mask_sizes"]:
        print("masks           " + ", ".join(f"{k}={v}" for k, v in info["mask_sizes"].items()))
    print(f"loaded from     {info['source']}")
    return 0


def add_datasets(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("datasets", help="list the known datasets or describe one")
    sub = parser.add_subparsers(dest="datasets_command", required=True)
    sub.add_parser("list", help="the names load_dataset accepts").set_defaults(handler=_datasets_list)
    info = sub.add_parser("info", help="nodes, edges, features, classes, splits and where it was loaded from")
    info.add_argument("name")
    info.add_argument("--root", default=None, help="data root (default: $MSG_DATA, else the user cache)")
    info.add_argument("--download", action="store_true", help="let PyG/ogb download missing files")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(handler=_datasets_info)


def _train(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from msg.tasks.config import FIELDS, resolve_config
    from msg.tasks.runner import run, with_model_defaults, write_json_atomic

    given = {k: v for k, v in vars(args).items() if k in FIELDS}
    cfg = with_model_defaults(resolve_config(given))
    if args.out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path("results") / f"{cfg.task}_{cfg.dataset}_{cfg.model}_{cfg.manifold}_{cfg.credit}_{stamp}.json"
    else:
        out = Path(args.out)
    for flag, path in (("--out", out), ("--save-model", args.save_model)):
        if path is not None and Path(path).exists() and not args.overwrite:
            raise ValueError(f"{flag} {path} exists; pass --overwrite to replace it (nothing was run)")
    save_to = None if args.save_model is None else Path(args.save_model)
    results = run(cfg, progress=not args.no_progress, save_model_to=save_to)
    write_json_atomic(out, results)
    metric = results["metric"]
    print(
        f"task={cfg.task} dataset={cfg.dataset} model={cfg.model} manifold={cfg.manifold} credit={cfg.credit} "
        f"runs={cfg.runs}\n"
        f"test_{metric}={100 * results['test_mean']:.2f} +- {100 * results['test_std']:.2f} "
        f"val_{metric}={100 * results['val_mean']:.2f} epoch_time_s={results['epoch_time_s']:.4f} "
        f"params={results['num_params']} peak_rss_mb={results['peak_rss_mb']:.0f}\n"
        f"results: {out}"
    )
    return 0


def add_train(subparsers: argparse._SubParsersAction) -> None:
    from msg.tasks.config import SPLITS, TASKS, TrainConfig

    d = TrainConfig()
    parser = subparsers.add_parser(
        "train",
        help="train a model (default: MSG node classification on the shipped Cora)",
        description="Precedence: command line > --config file > defaults (shown in brackets).",
        argument_default=argparse.SUPPRESS,
    )
    add = parser.add_argument
    add("--task", choices=TASKS, help=f"nc (node classification) or lp (link prediction) [{d.task}]")
    add("--dataset", help=f"a name from `msg datasets list` [{d.dataset}]")
    add("--model", help=f"model name [{d.model}]")
    add("--manifold", help=f"lorentz, sphere, euclidean or a product like lorentz,sphere [{d.manifold}]")
    add("--T", type=int, help=f"time steps [{d.T}]")
    add("--layers", type=int, help=f"manifold spiking layers after the encoder [{d.layers}]")
    add("--hidden", type=int, help=f"intrinsic dimension / spike width [{d.hidden}]")
    add("--step-size", dest="step_size", type=float, help=f"epsilon, the tangent step scale [{d.step_size}]")
    add("--neuron", help=f"IF or LIF [{d.neuron}]")
    add("--v-threshold", dest="v_threshold", type=float, help="firing threshold [1.0; 0.1 for spikenet]")
    add("--tau", type=float, help=f"LIF time constant [{d.tau}]")
    add("--dropout", type=float, help=f"dropout after projections [{d.dropout}]")
    add("--credit", help="dvm, bptt, tbptt:k, checkpoint:m, rate, ottt (msg.credit) [dvm for msg, else bptt]")
    add("--lr", type=float, help=f"learning rate (Riemannian Adam) [{d.lr}]")
    add("--weight-decay", dest="weight_decay", type=float, help=f"weight decay [{d.weight_decay}]")
    add("--epochs", type=int, help=f"epochs per run [{d.epochs}]")
    add("--runs", type=int, help=f"independent runs, seeds seed..seed+runs-1 [{d.runs}]")
    add("--seed", type=int, help=f"first seed [{d.seed}]")
    add("--eval-every", dest="eval_every", type=int, help=f"evaluate every N epochs [{d.eval_every}]")
    add("--patience", type=int, help="stop after N evaluations without a better validation score [off]")
    add("--split", choices=SPLITS, help="public (Planetoid), random (train/val fractions) or auto [auto]")
    add("--fixed-split", dest="fixed_split", action="store_true", help="one split for all runs (paper protocol)")
    add("--train-frac", dest="train_frac", type=float, help=f"random split: train fraction [{d.train_frac}]")
    add("--val-frac", dest="val_frac", type=float, help=f"random split: validation fraction [{d.val_frac}]")
    add("--fd-r", dest="fd_r", type=float, help=f"Fermi-Dirac radius (lp) [{d.fd_r}]")
    add("--fd-t", dest="fd_t", type=float, help=f"Fermi-Dirac temperature (lp) [{d.fd_t}]")
    add("--root", help="data root [$MSG_DATA, else the user cache]")
    add("--config", help="JSON config file, or a shipped name such as nc_photo_lorentz")
    parser.add_argument("--out", default=None, help="results JSON [results/<task>_<dataset>_..._<time>.json]")
    parser.add_argument("--save-model", dest="save_model", default=None, help="save the first run's best model here")
    parser.add_argument("--overwrite", action="store_true", default=False, help="replace existing output files")
    parser.add_argument("--no-progress", action="store_true", default=False, help="no progress bars")
    parser.set_defaults(handler=_train)


SUBCOMMANDS = [add_datasets, add_train, add_plot]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="msg", description="Spiking graph neural networks on Riemannian manifolds.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from msg.datasets import CorruptDatasetError, DatasetNotFoundError

    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, FloatingPointError, ImportError, DatasetNotFoundError, CorruptDatasetError) as err:
        print(f"msg: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
