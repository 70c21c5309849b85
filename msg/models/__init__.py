"""msg.models."""
