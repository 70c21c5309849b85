"""msg.credit."""
