"""msg.datasets: the dataset registry, loaders and splits.

>>> from msg.datasets import load_dataset, random_node_split
>>> data = load_dataset("cora")          # ships inside msg: works offline with no root
>>> data = random_node_split(data, train=0.1, val=0.1, seed=0)
"""

from .errors import CorruptDatasetError, DatasetNotFoundError
from .registry import REGISTRY, DatasetSpec, get_spec, list_datasets, load_dataset, load_with_source
from .splits import NonEdgeSampler, link_split, random_node_split, sample_non_edges
from .stats import dataset_info, graph_stats

__all__ = [
    "REGISTRY",
    "CorruptDatasetError",
    "DatasetNotFoundError",
    "DatasetSpec",
    "NonEdgeSampler",
    "dataset_info",
    "get_spec",
    "graph_stats",
    "link_split",
    "list_datasets",
    "load_dataset",
    "load_with_source",
    "random_node_split",
    "sample_non_edges",
]
