"""msg.datasets: dataset registry and loaders."""
