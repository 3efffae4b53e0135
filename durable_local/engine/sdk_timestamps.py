"""A faster, exact parse of history timestamps for the SDK.

The SDK builds a ``HistoryEvent`` for every event of every episode it replays, and parses each
event's ``Timestamp`` with ``dateutil.parser.parse``: about 0.1 ms each, most of the SDK's own
replay time (profiles of W1/W2/W5). The timestamps the host writes all have one form
(``2024-01-01T00:00:00.1234567Z``, see events.format_timestamp). :func:`install` gives the
SDK's HistoryEvent module a parser that reads exactly that form directly and hands every other
text to dateutil, so the SDK sees the very same datetimes (same fields, same tzinfo as dateutil
gives on this machine; dateutil keeps 6 of the 7 fractional digits, and so does this).

Guarded like extended sessions: only when the SDK still binds ``dt_parse`` to dateutil's parse
and a start-up self-check (both parsers on sample timestamps, compared value, offset and tzinfo)
passes; otherwise nothing changes, with one log line. ``DURABLE_LOCAL_STOCK_TIMESTAMPS=1``
keeps dateutil. The benchmarks' SDK floor runs under :func:`stock_timestamps`.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, tzinfo
from typing import Any

log = logging.getLogger("durable_local.sessions")

STOCK_ENV = "DURABLE_LOCAL_STOCK_TIMESTAMPS"
_SDK_MODULE = "azure.durable_functions.models.history.HistoryEvent"
_HOST_FORM = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,7}))?Z\Z")
_SAMPLES = [
    "2024-01-01T00:00:00.0000000Z",
    "2024-02-29T23:59:59.9999999Z",
    "2024-07-15T12:30:45.1234567Z",
    "2024-12-31T23:59:59Z",
    "2025-03-30T01:30:00.5Z",
    "2025-10-26T02:30:00.123Z",
    "1999-06-01T08:00:00.000001Z",
]
_lock = threading.Lock()


def install() -> bool:
    """Give the SDK's HistoryEvent the fast parser (once per process); whether it has it."""
    module: Any = importlib.import_module(_SDK_MODULE)
    with _lock:
        if getattr(module.dt_parse, "host_form_parser", False):
            return True
        if os.environ.get(STOCK_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
            return False
        problem, fast = _checked(module)
        if fast is None:
            log.warning("SDK timestamps parsed by dateutil: %s", problem)
            return False
        module.dt_parse = fast
        return True


@contextlib.contextmanager
def stock_timestamps() -> Iterator[None]:
    """Within: the SDK parses with dateutil, as it ships (the benchmarks' SDK floor)."""
    module: Any = importlib.import_module(_SDK_MODULE)
    with _lock:
        current = module.dt_parse
        module.dt_parse = getattr(current, "stock", current)
    try:
        yield
    finally:
        with _lock:
            module.dt_parse = current


def _checked(module: Any) -> tuple[str, Callable[[str], datetime] | None]:
    from dateutil.parser import parse as stock  # type: ignore[import-untyped]

    if module.dt_parse is not stock:
        return "the SDK's HistoryEvent no longer uses dateutil.parser.parse", None
    zone = stock(_SAMPLES[0]).tzinfo
    if zone is None or any(stock(s).tzinfo != zone for s in _SAMPLES):
        return "dateutil gives these timestamps different time zones here", None
    fast = _parser(stock, zone)
    for text in _SAMPLES:
        a, b = fast(text), stock(text)
        if a != b or repr(a) != repr(b) or a.utcoffset() != b.utcoffset():
            return f"the self-check differs from dateutil on {text}", None
    return "", fast


def _parser(stock: Callable[[str], datetime], zone: tzinfo) -> Callable[[str], datetime]:
    def parse(text: str) -> datetime:
        m = _HOST_FORM.match(text) if isinstance(text, str) else None
        if m is None:
            return stock(text)
        y, mo, d, h, mi, s, frac = m.groups()
        try:
            return datetime(
                int(y), int(mo), int(d), int(h), int(mi), int(s), int((frac or "0").ljust(6, "0")[:6]), tzinfo=zone
            )
        except ValueError:  # out of range: dateutil raises its own error
            return stock(text)

    parse.host_form_parser = True  # type: ignore[attr-defined]
    parse.stock = stock  # type: ignore[attr-defined]
    return parse
