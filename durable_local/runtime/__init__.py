"""Dispatchers, clock and the shared host context that ties store, engine and app together."""
