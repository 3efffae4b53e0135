"""The decoded-history cache behind SQLite claims: only new rows are decoded, and any
rewrite of the stored history (replace, purge) is noticed."""

from __future__ import annotations

import json
from collections.abc import Callable

from durable_local.store.history_cache import HistoryCache


def rows_of(events: list[dict[str, object]], reads: list[int]) -> Callable[[int], list[tuple[int, str]]]:
    def read(start: int) -> list[tuple[int, str]]:
        reads.append(start)
        return [(i, json.dumps(e)) for i, e in enumerate(events) if i >= start]

    return read


def test_a_claim_reads_only_from_the_last_known_row() -> None:
    cache, reads = HistoryCache(), list[int]()
    stored = [{"n": 0}, {"n": 1}]
    assert cache.history("i", rows_of(stored, reads)) == stored
    stored += [{"n": 2}, {"n": 3}]
    assert cache.history("i", rows_of(stored, reads)) == stored
    assert reads == [0, 1]  # the second read starts at the last row it already had


def test_a_rewritten_history_is_read_in_full() -> None:
    cache, reads = HistoryCache(), list[int]()
    cache.history("i", rows_of([{"n": 0}, {"n": 1}], reads))
    replaced = [{"n": 0}, {"n": "rewound"}, {"n": 2}]
    assert cache.history("i", rows_of(replaced, reads)) == replaced
    assert cache.history("i", rows_of([], reads)) == []  # purged
    assert reads == [0, 1, 0, 2, 0]  # a failed check of the last known row, then a full read


def test_the_cache_is_bounded_by_events_held() -> None:
    cache, reads = HistoryCache(max_events=3), list[int]()
    cache.history("a", rows_of([{"n": 0}, {"n": 1}], reads))
    cache.history("b", rows_of([{"n": 0}, {"n": 1}], reads))  # "a" is dropped
    cache.history("a", rows_of([{"n": 0}, {"n": 1}], reads))
    assert reads == [0, 0, 0]
