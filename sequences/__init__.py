"""Equipment logic as state machines, one module per system."""
