"""msg.tasks."""
