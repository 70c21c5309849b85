"""msg.plot.charts: what the learning curves, comparison bars and scaling curves draw equals the numbers given."""

from __future__ import annotations

import numpy as np
import pytest

from msg.plot.charts import CurveSeries, Score, compare_chart, learning_curves, mean_band, scaling_chart

RUN_A = {"epoch": [1.0, 2.0, 3.0], "loss": [3.0, 2.0, 1.0], "val": [0.2, 0.4, 0.6], "test": [0.1, 0.3, 0.5]}
RUN_B = {"epoch": [1.0, 2.0], "loss": [5.0, 4.0], "val": [0.4, 0.6], "test": [0.3, 0.5]}  # stopped early


def test_mean_band_over_the_runs_evaluated_at_each_epoch() -> None:
    epochs, mean, std = mean_band([RUN_A, RUN_B], "loss")
    np.testing.assert_allclose(epochs, [1, 2, 3])
    np.testing.assert_allclose(mean, [4.0, 3.0, 1.0])
    np.testing.assert_allclose(std, [1.0, 1.0, 0.0])  # population std, as the results files report


def test_learning_curves_draw_every_run_and_the_mean_in_percent() -> None:
    fig = learning_curves([CurveSeries("msg lorentz dvm", "accuracy", [RUN_A, RUN_B])])
    loss, val, test = fig.axes
    assert [ax.get_ylabel() for ax in fig.axes] == ["training loss", "validation accuracy (%)", "test accuracy (%)"]
    assert len(val.lines) == 3  # two runs and the mean
    np.testing.assert_allclose(val.lines[-1].get_ydata(), [30.0, 50.0, 60.0])
    np.testing.assert_allclose(test.lines[0].get_ydata(), [10.0, 30.0, 50.0])
    assert loss.get_legend().get_texts()[0].get_text() == "msg lorentz dvm (2 runs)"


def test_compare_bars_and_published_markers() -> None:
    scores = [
        Score("msg lorentz", "cora", 80.0, 1.0),
        Score("msg sphere", "cora", 78.0, 2.0),
        Score("msg lorentz", "photo", 90.0, 0.5),
    ]
    published = {"msg lorentz": {"cora": (83.0, 0.4), "citeseer": (70.0, 0.0)}, "GCN": {"cora": (81.5, 0.0)}}
    fig = compare_chart(scores, published, "test accuracy (%)")
    ax = fig.axes[0]
    bars = ax.patches[:3]
    assert [b.get_height() for b in bars] == [80.0, 78.0, 90.0]
    outlined = ax.patches[3]  # GCN, known only from the paper: an outlined bar in its own slot
    assert not outlined.get_fill() and outlined.get_height() == 81.5 and len(ax.patches) == 4
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cora", "photo"]  # citeseer has no results file
    centres = [b.get_x() + b.get_width() / 2 for b in bars]
    markers = [line for line in ax.lines if line.get_marker() == "D"]
    points = sorted((float(m.get_xdata()[0]), float(m.get_ydata()[0])) for m in markers)
    # three slots per group: "msg lorentz" on cora sits on its bar, "GCN" (published only) gets the third slot
    slot = 0.8 / 3
    assert centres == pytest.approx([-slot, 0.0, 1 - slot])
    assert points == [pytest.approx((-slot, 83.0)), pytest.approx((slot, 81.5))]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert sorted(legend) == ["GCN", "msg lorentz", "msg sphere", "published"]


def test_compare_needs_scores() -> None:
    with pytest.raises(ValueError, match="scores must not be empty"):
        compare_chart([])


def test_scaling_one_panel_per_quantity() -> None:
    panels = {"peak_mb": {"dvm": [(5.0, 10.0), (20.0, 10.0)], "bptt": [(5.0, 12.0), (20.0, 40.0)]},
              "epoch_s": {"dvm": [(5.0, 0.1), (20.0, 0.1)]}}
    fig = scaling_chart(panels, "T", logy=True)
    memory, time = fig.axes
    assert memory.get_ylabel() == "peak_mb" and time.get_yscale() == "log" and memory.get_xlabel() == "T"
    assert [line.get_label() for line in memory.lines] == ["dvm", "bptt"]
    np.testing.assert_allclose(memory.lines[1].get_ydata(), [12.0, 40.0])
