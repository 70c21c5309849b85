"""msg.tasks: training jobs (node classification, link prediction) and sequence-task generators."""

from .sequence import SequenceBatch, adding_task, copy_task, masked_accuracy, sequential_digits, store_recall

__all__ = ["SequenceBatch", "adding_task", "copy_task", "masked_accuracy", "sequential_digits", "store_recall"]
