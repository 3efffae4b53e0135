"""Orchestrators: deterministic coordination only (no I/O, clock, randomness or settings reads)."""
