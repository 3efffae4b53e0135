"""The bench runs: one workload at tiny N produces a row with a positive figure (no timing
assertions: the machine is shared). Run in a subprocess, as ``python -m bench`` does: the
bench app's ``function_app`` must not meet this repo's in one process."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: bench/ is not installed

from bench.__main__ import render, run_spec


def test_w1_tiny_produces_a_positive_row() -> None:
    result = run_spec({"w": "W1", "kw": {"n": 3, "length": 2}, "warm": None, "runs": 1}, timeout=100)
    assert isinstance(result, list), result
    assert result[0]["value"] > 0
    assert result[0]["floor"] > 0
    rows = [{"row": "W1", "w": "W1", "kw": {"n": 3}}]
    table = render(rows, {"W1": {"full": result}}, quick=True)
    assert "| W1 |" in table
