"""``msg plot``: pictures from results files, trained models and benchmark files (PNG or SVG).

Subcommands::

    msg plot curves RESULTS.json [...]       loss, validation and test metric per epoch (runs + mean +- std band)
    msg plot embeddings MODEL.pt             node states on their manifold, coloured by class
    msg plot raster MODEL.pt --nodes 0,1,2   spike raster and firing-rate histogram per layer
    msg plot compare RESULTS.json [...]      mean +- std bars per model and dataset, --published numbers overlaid
    msg plot scaling BENCH.json --y KEY      a measured quantity against T (or --x) per series

Every subcommand writes exactly one file, ``--out`` (``.png`` or ``.svg``; ``--width``/``--height`` in inches,
``--dpi``), and refuses to replace an existing one without ``--overwrite``. ``MODEL.pt`` is a file written by
``msg train --save-model``; the graph it was trained on is loaded again (``--root`` as for ``msg train``).
"""

from __future__ import annotations

import argparse
import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from msg.plot.readers import (
    is_number,
    read_published,
    read_results,
    read_rows,
    result_label,
    run_histories,
    series_from_rows,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import Tensor, nn
    from torch_geometric.data import Data

    from msg.tasks.config import TrainConfig


def _size(args: argparse.Namespace, width: float | None, height: float | None) -> dict[str, float | None]:
    """``width``/``height`` keyword arguments: the user's values, else the subcommand's defaults."""
    return {
        "width": width if args.width is None else args.width,
        "height": height if args.height is None else args.height,
    }


def _run(args: argparse.Namespace, draw: Callable[[argparse.Namespace], Figure]) -> int:
    """Check ``--out`` before any work, draw, write the one file."""
    from msg.plot.output import check_output, save_figure

    check_output(args.out, args.overwrite)
    path = save_figure(draw(args), args.out, args.dpi, args.overwrite)
    print(f"wrote {path}")
    return 0


def _curves(args: argparse.Namespace) -> Figure:
    from msg.plot.charts import CurveSeries, learning_curves

    series = []
    for path in args.results:
        doc = read_results(path, ("runs",))
        label, metric = result_label(doc, args.label, path), str(doc.get("metric", "score"))
        series.append(CurveSeries(label, metric, run_histories(doc, path)))
    return learning_curves(series, **_size(args, 11.0, 3.6))


def _compare(args: argparse.Namespace) -> Figure:
    from msg.plot.charts import Score, compare_chart

    keys = ("dataset", "metric", f"{args.split}_mean", f"{args.split}_std")
    scores, sources, metrics = [], {}, set()
    for path in args.results:
        doc = read_results(path, keys)
        mean, std = doc[keys[2]], doc[keys[3]]
        if not (is_number(mean) and is_number(std)):
            raise ValueError(f"results file {path}: {keys[2]} and {keys[3]} must be numbers, got {mean!r}, {std!r}")
        score = Score(result_label(doc, args.label, path), str(doc["dataset"]), 100 * mean, 100 * std)
        key = (score.label, score.dataset)
        if key in sources:
            raise ValueError(
                f"results files {sources[key]} and {path} both give {score.label!r} on {score.dataset!r}; "
                "tell them apart with --label (e.g. --label '{model} {manifold} {credit}')"
            )
        sources[key] = path
        scores.append(score)
        metrics.add(str(doc["metric"]))
    published = read_published(args.published) if args.published else None
    metric = metrics.pop() if len(metrics) == 1 else "score"
    ylabel = f"{'validation' if args.split == 'val' else 'test'} {metric} (%)"
    return compare_chart(scores, published, ylabel, **_size(args, 8.0, 4.5))


def _scaling(args: argparse.Namespace) -> Figure:
    from msg.plot.charts import scaling_chart

    rows = read_rows(args.benchmark, args.rows)
    panels = {y: series_from_rows(rows, args.x, y, args.series, args.benchmark) for y in args.y}
    return scaling_chart(panels, args.x, args.logx, args.logy, **_size(args, 5.0 * len(panels), 4.0))


def _encoded(args: argparse.Namespace) -> tuple[nn.Module, TrainConfig, Data, Tensor]:
    """``(model, config, data, states)``: the saved model run once (eval mode, no gradients) on its dataset."""
    import torch

    from msg.datasets import load_dataset
    from msg.tasks.runner import load_model

    model, cfg = load_model(Path(args.model))
    if not callable(getattr(model, "encode", None)):
        raise ValueError(f"model file {args.model}: a {cfg.model!r} model has no encode(x, edge_index) to draw")
    data = load_dataset(cfg.dataset, root=args.root or cfg.root)
    with torch.no_grad():
        z = model.encode(data.x, data.edge_index)
    return model, cfg, data, z


def _embeddings(args: argparse.Namespace) -> Figure:
    from msg.manifolds import Euclidean
    from msg.plot.states import embedding_figure

    model, cfg, data, z = _encoded(args)
    y = data.y
    if y is not None and y.dim() == 2 and y.shape[1] == 1:  # OGB stores single labels as [N, 1]
        y = y.squeeze(1)
    labels = y if y is not None and y.dim() == 1 else None  # multi-label targets: one colour
    title = f"{cfg.model} on {cfg.dataset}: node states (layers={cfg.layers}, T={cfg.T}, credit={cfg.credit})"
    manifold = getattr(model, "manifold", Euclidean())
    return embedding_figure(manifold, z, labels, args.view, title, **_size(args, None, 4.5))


def _raster(args: argparse.Namespace) -> Figure:
    from msg.plot.states import raster_figure

    model, cfg, _, _ = _encoded(args)
    spikes = getattr(model, "spikes", None)
    if not spikes:
        raise ValueError(f"model file {args.model}: a {cfg.model!r} model records no spikes to draw")
    names = ["encoder"] + [f"layer {i}" for i in range(1, len(spikes))]
    return raster_figure(spikes, args.nodes, names, **_size(args, 10.0, None))


def _node_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected node indices like 0,1,2, got {text!r}") from err


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from err
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _output_options(parser: argparse.ArgumentParser, draw: Callable[[argparse.Namespace], Figure], size: str) -> None:
    """The options every subcommand shares, and its handler: ``draw`` run under :func:`_run`."""
    parser.add_argument("--out", required=True, help="the image to write, .png or .svg")
    parser.add_argument("--width", type=_positive, default=None, help=f"inches [{size}]")
    parser.add_argument("--height", type=_positive, default=None, help="inches [see --width]")
    parser.add_argument(
        "--dpi", type=_positive, default=150.0, help="dots per inch; a PNG is width*dpi x height*dpi pixels [150]"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.set_defaults(handler=functools.partial(_run, draw=draw))


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a model file from `msg train --save-model`")
    parser.add_argument("--root", default=None, help="data root [the one the model was trained with]")


def add_plot(subparsers: argparse._SubParsersAction) -> None:
    """Register ``msg plot`` and its subcommands (``curves``, ``embeddings``, ``raster``, ``compare``, ``scaling``)."""
    parser = subparsers.add_parser("plot", help="pictures from results files, trained models and benchmark files")
    sub = parser.add_subparsers(dest="plot_command", required=True)

    curves = sub.add_parser("curves", help="loss, validation and test metric per epoch from results files")
    curves.add_argument("results", nargs="+", help="results JSON files from `msg train --out` (one colour each)")
    curves.add_argument("--label", default="{model} {manifold} {credit}",
                        help="legend label, filled from the results fields [{model} {manifold} {credit}]")
    _output_options(curves, _curves, "11 x 3.6")

    embeddings = sub.add_parser("embeddings", help="node states of a trained model on its manifold, by class")
    _model_options(embeddings)
    embeddings.add_argument("--view", choices=("3d", "stereographic"), default="3d",
                            help="how a spherical factor is drawn [3d]")
    _output_options(embeddings, _embeddings, "4.5 per factor + 1 x 4.5")

    raster = sub.add_parser("raster", help="spike raster of some nodes and firing-rate histogram, per layer")
    _model_options(raster)
    raster.add_argument("--nodes", type=_node_list, default=[0, 1, 2], help="comma-separated node indices [0,1,2]")
    _output_options(raster, _raster, "10 x 2.4 per layer")

    compare = sub.add_parser("compare", help="mean +- std bars per model and dataset from results files")
    compare.add_argument("results", nargs="+", help="results JSON files from `msg train --out`")
    compare.add_argument("--published", default=None,
                         help='published numbers, JSON {"model": {"dataset": value or [mean, std]}} in percent; '
                              "a model name matches a --label")
    compare.add_argument("--split", choices=("test", "val"), default="test", help="which score to draw [test]")
    compare.add_argument("--label", default="{model} {manifold}",
                         help="bar label, filled from the results fields [{model} {manifold}]")
    _output_options(compare, _compare, "8 x 4.5")

    scaling = sub.add_parser(
        "scaling", help="measured quantities against T (or --x) from a benchmark JSON",
        description="Rows are objects in a list under --rows (or the whole file). Long layout: "
                    '{"T": 5, "credit": "dvm", "peak_mb": 80} with --series credit --y peak_mb. Wide layout: '
                    '{"T": 5, "median_ms": {"fused": 1.2, "reference": 3.4}} with --y median_ms (each key a line). '
                    "Null values are skipped.",
    )
    scaling.add_argument("benchmark", help="benchmark JSON (e.g. benchmarks/results/msg_memory_time.json)")
    scaling.add_argument("--y", nargs="+", required=True, help="row key(s) to draw, one panel each")
    scaling.add_argument("--x", default="T", help="row key on the x axis [T]")
    scaling.add_argument("--series", default=None, help="row key naming the line a row belongs to [none]")
    scaling.add_argument("--rows", default="rows", help="key of the list of rows [rows]")
    scaling.add_argument("--logx", action="store_true", help="logarithmic x axis")
    scaling.add_argument("--logy", action="store_true", help="logarithmic y axis")
    _output_options(scaling, _scaling, "5 per --y x 4")
