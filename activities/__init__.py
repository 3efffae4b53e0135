"""Activity functions (the work) and the adapters to external systems they call."""
