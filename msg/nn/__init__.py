"""msg.nn."""
