"""Charts of numbers: learning curves, a model comparison and scaling curves.

Each function takes already-read data (see :mod:`msg.plot.readers`) and returns a matplotlib
:class:`~matplotlib.figure.Figure` (:func:`msg.plot.output.new_figure`); :func:`msg.plot.output.save_figure` writes
it. Scores (validation and test metrics) are drawn in percent; spreads are population standard deviations over
runs, as in the results files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from msg.plot.output import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class CurveSeries:
    """One results file's learning curves: ``label``, its ``metric`` name and each run's history."""

    label: str
    metric: str
    histories: list[dict[str, list[float]]]


@dataclass
class Score:
    """One bar of a comparison: ``label`` (the model) on ``dataset``, mean and std in percent."""

    label: str
    dataset: str
    mean: float
    std: float


def mean_band(histories: Sequence[dict[str, list[float]]], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(epochs, mean, std)`` of ``key`` over the runs evaluated at each epoch (runs may stop at different epochs)."""
    by_epoch: dict[float, list[float]] = {}
    for history in histories:
        for epoch, value in zip(history["epoch"], history[key], strict=True):
            by_epoch.setdefault(epoch, []).append(value)
    epochs = np.array(sorted(by_epoch))
    values = [np.asarray(by_epoch[e]) for e in epochs]
    return epochs, np.array([v.mean() for v in values]), np.array([v.std() for v in values])


def learning_curves(series: Sequence[CurveSeries], width: float = 11.0, height: float = 3.6) -> Figure:
    """Loss, validation and test metric per epoch: every run as a thin line, the mean over runs bold with a
    mean +- std band; one colour per results file."""
    fig = new_figure(width, height)
    axes = fig.subplots(1, 3)
    metrics = sorted({s.metric for s in series})
    metric = metrics[0] if len(metrics) == 1 else "score"
    panels = (("loss", "training loss", 1.0), ("val", f"validation {metric} (%)", 100.0),
              ("test", f"test {metric} (%)", 100.0))
    for i, s in enumerate(series):
        colour = f"C{i % 10}"
        for ax, (key, _, scale) in zip(axes, panels, strict=True):
            for history in s.histories:
                ax.plot(history["epoch"], scale * np.asarray(history[key]), color=colour, alpha=0.3, linewidth=0.7)
            epochs, mean, std = mean_band(s.histories, key)
            ax.plot(epochs, scale * mean, color=colour, linewidth=1.8, label=f"{s.label} ({len(s.histories)} runs)")
            ax.fill_between(epochs, scale * (mean - std), scale * (mean + std), color=colour, alpha=0.2, linewidth=0)
    for ax, (_, ylabel, _) in zip(axes, panels, strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    return fig


def compare_chart(
    scores: Sequence[Score],
    published: dict[str, dict[str, tuple[float, float]]] | None = None,
    ylabel: str = "test score (%)",
    width: float = 8.0,
    height: float = 4.5,
) -> Figure:
    """Grouped bars, mean +- std per model (``Score.label``) per dataset, in percent.

    ``published`` (``{model: {dataset: (mean, std)}}``, percent) is drawn as diamonds (with their std when
    non-zero) at the slot of the model of the same name; a published model without a results file gets a slot of
    its own with an outlined bar. Only datasets that have a results file are shown.
    """
    if not scores:
        raise ValueError("compare_chart: scores must not be empty")
    published = published or {}
    datasets = list(dict.fromkeys(s.dataset for s in scores))
    labels = list(dict.fromkeys(s.label for s in scores))
    measured = set(labels)
    labels += [m for m, row in published.items() if m not in measured and any(d in row for d in datasets)]
    slot = 0.8 / len(labels)
    fig = new_figure(width, height)
    ax = fig.subplots()
    in_legend: set[str] = set()

    def centre(dataset: str, label: str) -> float:
        return datasets.index(dataset) + (labels.index(label) - (len(labels) - 1) / 2) * slot

    def once(name: str) -> str | None:
        """The legend label the first time ``name`` is drawn, ``None`` afterwards."""
        first = name not in in_legend
        in_legend.add(name)
        return name if first else None

    for s in scores:
        ax.bar(centre(s.dataset, s.label), s.mean, slot * 0.9, yerr=s.std, capsize=3,
               color=f"C{labels.index(s.label) % 10}", label=once(s.label))
    for model, row in published.items():
        for dataset, (mean, std) in row.items():
            if model not in labels or dataset not in datasets:
                continue
            x = centre(dataset, model)
            if model not in measured:  # a model known only from the paper: an outlined bar in its own slot
                ax.bar(x, mean, slot * 0.9, fill=False, hatch="//", edgecolor=f"C{labels.index(model) % 10}",
                       label=once(model))
            ax.errorbar(x, mean, yerr=std or None, fmt="D", color="black", markerfacecolor="white", capsize=3,
                        zorder=3, label=once("published"))
    ax.set_xticks(range(len(datasets)), datasets)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    fig.legend(fontsize="small", loc="outside right upper")
    return fig


def scaling_chart(
    panels: dict[str, dict[str, list[tuple[float, float]]]],
    x: str = "T",
    logx: bool = False,
    logy: bool = False,
    width: float = 5.0,
    height: float = 4.0,
) -> Figure:
    """One panel per measured quantity (``{y_name: {line: [(x, y), ...]}}``), a line per series, ``y`` vs ``x``."""
    fig = new_figure(width, height)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (y, lines) in zip(axes, panels.items(), strict=True):
        for i, (name, points) in enumerate(lines.items()):
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", markersize=4, color=f"C{i % 10}", label=name)
        ax.set_xscale("log" if logx else "linear")
        ax.set_yscale("log" if logy else "linear")
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    return fig
