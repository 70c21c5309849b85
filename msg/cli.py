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
    from msg.tasks.runner import run, with_model_defaults

    given = {k: v for k, v in vars(args).items() if k in FIELDS}
    cfg = with_model_defaults(resolve_config(given))
    if args.resume and args.out is None:
        raise ValueError("--resume needs --out FILE: the results file of the job to continue")
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        raise ValueError(f"--checkpoint-every must be >= 1 (epochs), got {args.checkpoint_every}")
    if args.out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path("results") / f"{cfg.task}_{cfg.dataset}_{cfg.model}_{cfg.manifold}_{cfg.credit}_{stamp}.json"
    else:
        out = Path(args.out)
    # a resumed job past its first run saved the model already and does not write it again
    resuming = args.resume and out.exists()
    if args.save_model is not None and Path(args.save_model).exists() and not (args.overwrite or resuming):
        raise ValueError(f"--save-model {args.save_model} exists; pass --overwrite to replace it (nothing was run)")
    save_to = None if args.save_model is None else Path(args.save_model)
    if cfg.nproc > 1:
        results = _train_data_parallel(cfg, args, out)
    else:
        results = run(
            cfg, progress=not args.no_progress, save_model_to=save_to, out=out, resume=args.resume,
            overwrite=args.overwrite, checkpoint_every=args.checkpoint_every,
        )
    metric = results["metric"]
    seeds = [r["seed"] for r in results["runs"]]
    print(
        f"task={cfg.task} dataset={cfg.dataset} model={cfg.model} manifold={cfg.manifold} credit={cfg.credit} "
        f"runs={cfg.runs} seeds={seeds[0]}..{seeds[-1]}\n"
        f"test_{metric}={100 * results['test_mean']:.2f} +- {100 * results['test_std']:.2f} "
        f"val_{metric}={100 * results['val_mean']:.2f} epoch_time_s={results['epoch_time_s']:.4f} "
        f"params={results['num_params']} peak_rss_mb={results['peak_rss_mb']:.0f}\n"
        f"results: {out}"
    )
    return 0


def _train_data_parallel(cfg, args: argparse.Namespace, out) -> dict:
    """``--nproc N``: N local processes (msg.tasks.distributed.launch), rank 0's results written to ``out``."""
    from msg.tasks.distributed import launch
    from msg.tasks.runner import write_json_atomic

    for flag, value in (("--resume", args.resume), ("--checkpoint-every", args.checkpoint_every),
                        ("--save-model", args.save_model)):
        if value:
            raise ValueError(f"{flag} is not supported with --nproc {cfg.nproc} (nothing was run)")
    if out.exists() and not args.overwrite:
        raise ValueError(f"{out} exists; pass --overwrite to replace it (nothing was run)")
    results = launch(cfg, cfg.nproc)
    write_json_atomic(out, results)
    return results


def add_train(subparsers: argparse._SubParsersAction) -> None:
    from msg.tasks.config import DECODERS, SPLITS, TASKS, TrainConfig

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
    add("--runs", type=int, help=f"independent runs, seeds seed..seed+runs-1 [{d.runs}; 10 for OGB datasets]")
    add("--seed", type=int, help=f"first seed [{d.seed}]")
    add("--eval-every", dest="eval_every", type=int, help=f"evaluate every N epochs [{d.eval_every}]")
    add("--patience", type=int, help="stop after N evaluations without a better validation score [off]")
    add("--split", choices=SPLITS, help="public (Planetoid), random (train/val fractions) or auto [auto]")
    add("--fixed-split", dest="fixed_split", action="store_true", help="one split for all runs (paper protocol)")
    add("--train-frac", dest="train_frac", type=float, help=f"random split: train fraction [{d.train_frac}]")
    add("--val-frac", dest="val_frac", type=float, help=f"random split: validation fraction [{d.val_frac}]")
    add(
        "--normalize-features",
        dest="normalize_features",
        action="store_true",
        help="divide each node's features by their (absolute) sum, as HGCN does [off]",
    )
    add("--decoder", choices=DECODERS, help=f"link scores: fd (Fermi-Dirac on distance) or cosine [{d.decoder}]")
    add("--fd-r", dest="fd_r", type=float, help=f"Fermi-Dirac radius (lp) [{d.fd_r}]")
    add("--fd-t", dest="fd_t", type=float, help=f"Fermi-Dirac temperature (lp) [{d.fd_t}]")
    add(
        "--batch-size", dest="batch_size", type=int,
        help="seed nodes per mini-batch (neighbour-sampled training) [full batch]; recorded in the config, not yet "
        "used by the runner",
    )
    add(
        "--num-neighbors", dest="num_neighbors", type=int, nargs="+", metavar="K",
        help="neighbours sampled per layer for mini-batches, e.g. 15 10 (-1 = all) [all]; recorded, not yet used",
    )
    add("--nproc", type=int, help=f"data-parallel processes on this machine (needs --batch-size) [{d.nproc}]")
    add("--root", help="data root [$MSG_DATA, else the user cache]")
    add("--config", help="JSON config file, or a shipped name such as nc_photo_lorentz")
    parser.add_argument("--out", default=None, help="results JSON [results/<task>_<dataset>_..._<time>.json]")
    parser.add_argument("--save-model", dest="save_model", default=None, help="save the first run's best model here")
    parser.add_argument("--overwrite", action="store_true", default=False, help="replace existing output files")
    parser.add_argument(
        "--resume", action="store_true", default=False,
        help="continue the interrupted job whose results are in --out (same settings required): finished runs are "
        "kept, the run in progress continues from --out's checkpoint; no file yet: start fresh",
    )
    parser.add_argument(
        "--checkpoint-every", dest="checkpoint_every", type=int, default=None, metavar="N",
        help="save the run in progress to <out>.ckpt every N epochs, for --resume (removed when the job completes) "
        "[off; the results file is written after every run regardless]",
    )
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
