"""msg.plot: pictures of results files, trained models and benchmarks (the ``msg plot`` subcommands).

- :mod:`msg.plot.charts`: learning curves, model comparison bars, scaling curves;
- :mod:`msg.plot.states`: node embeddings on their manifold, spike rasters and firing-rate histograms;
- :mod:`msg.plot.readers`: reading results, published-numbers and benchmark files with clear errors;
- :mod:`msg.plot.output`: figures and the one-file PNG/SVG output;
- :mod:`msg.plot.cli`: ``add_plot``, the ``msg plot`` command line.

matplotlib (the ``plot`` extra: ``pip install 'msg-snn[plot]'``) is imported only when a figure is made, and only
through its object-oriented API: importing this package needs no matplotlib and sets no global state.
"""

from msg.plot.charts import CurveSeries, Score, compare_chart, learning_curves, scaling_chart
from msg.plot.output import new_figure, save_figure
from msg.plot.states import embedding_figure, planar_states, raster_figure

__all__ = [
    "CurveSeries",
    "Score",
    "compare_chart",
    "embedding_figure",
    "learning_curves",
    "new_figure",
    "planar_states",
    "raster_figure",
    "save_figure",
    "scaling_chart",
]
