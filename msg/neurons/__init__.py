"""msg.neurons."""
