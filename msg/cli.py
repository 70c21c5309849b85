"""The ``msg`` command line: ``msg datasets list | info NAME`` (more subcommands register themselves below).

Each subcommand is a function ``add_<name>(subparsers)`` that adds its parser and sets ``handler``; ``main`` parses
and dispatches. Errors a user can fix (unknown names, missing files, bad values) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


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


SUBCOMMANDS = [add_datasets]


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
    except (ValueError, DatasetNotFoundError, CorruptDatasetError) as err:
        print(f"msg: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
