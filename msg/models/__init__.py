"""msg.models: MSG and the baselines."""

from .msg import MSG

__all__ = ["MSG"]
