"""The SDK's HistoryEvent timestamps: the host's faster parse gives exactly dateutil's datetimes."""

from __future__ import annotations

import importlib
import random
from datetime import datetime, timedelta, timezone

import pytest
from dateutil.parser import parse as dateutil_parse

from durable_local.engine import sdk_timestamps
from durable_local.engine.events import format_timestamp

HISTORY_EVENT = importlib.import_module("azure.durable_functions.models.history.HistoryEvent")


def test_host_timestamps_parse_exactly_as_dateutil() -> None:
    assert sdk_timestamps.install()
    fast = HISTORY_EVENT.dt_parse
    assert fast is not dateutil_parse
    rng = random.Random(7)
    start = datetime(1990, 1, 1, tzinfo=timezone.utc)
    texts = [format_timestamp(start + timedelta(microseconds=rng.randrange(10**15))) for _ in range(500)]
    texts += ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.5Z", "2024-01-01T00:00:00.1234567Z"]
    # other forms are dateutil's own business: they go to it unchanged
    texts += ["2024-01-01T00:00:00+02:00", "2024-01-01 10:00", "Jan 5 2024 10:00:00.5 UTC"]
    for text in texts:
        a, b = fast(text), dateutil_parse(text)
        assert (a, repr(a), a.utcoffset()) == (b, repr(b), b.utcoffset()), text
    with pytest.raises(ValueError):
        fast("2024-13-01T00:00:00Z")  # out of range: dateutil's error, as before


def test_stock_timestamps_restores_dateutil_inside_only() -> None:
    sdk_timestamps.install()
    fast = HISTORY_EVENT.dt_parse
    with sdk_timestamps.stock_timestamps():
        assert HISTORY_EVENT.dt_parse is dateutil_parse
    assert HISTORY_EVENT.dt_parse is fast
