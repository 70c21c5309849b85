"""msg.ops."""
