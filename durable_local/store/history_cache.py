"""Decoded histories a store has already read, so a claim decodes only the rows added since.

With extended sessions an episode costs O(new events) in the engine; decoding the whole
stored history at every claim would keep it O(N). The cache is only a shortcut: an entry is
used when the stored row at its last position still holds exactly the text it remembers
(a purge, a restart or a rewind that rewrote the history, or another process's writes that
replaced it, all fail that check) and the claim then reads the rows after it.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

Event = dict[str, Any]
# rows (seq, event text) of one instance from position ``start`` on, in order
ReadRows = Callable[[int], list[tuple[int, str]]]


class HistoryCache:
    """Per instance: the decoded events and the text of the last one; least recently used
    instances go first once more than ``max_events`` events are held in total."""

    def __init__(self, max_events: int = 200_000) -> None:
        self.max_events = max_events
        self._entries: OrderedDict[str, tuple[list[Event], str]] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def history(self, instance_id: str, read_rows: ReadRows) -> list[Event]:
        """The instance's whole history (a new list; the event dicts are shared: read only)."""
        with self._lock:
            entry = self._entries.pop(instance_id, None)
            if entry is not None:
                self._held -= len(entry[0])
        events: list[Event] = []
        if entry is not None and entry[0]:
            known, last_text = entry
            rows = read_rows(len(known) - 1)
            if rows and rows[0][0] == len(known) - 1 and rows[0][1] == last_text:
                events = known + [json.loads(text) for _, text in rows[1:]]
                last_text = rows[-1][1]
                self._keep(instance_id, events, last_text)
                return list(events)
        rows = read_rows(0)
        events = [json.loads(text) for _, text in rows]
        if rows:
            self._keep(instance_id, events, rows[-1][1])
        return list(events)

    def forget(self, instance_id: str) -> None:
        with self._lock:
            entry = self._entries.pop(instance_id, None)
            if entry is not None:
                self._held -= len(entry[0])

    def _keep(self, instance_id: str, events: list[Event], last_text: str) -> None:
        with self._lock:
            self._entries[instance_id] = (events, last_text)
            self._held += len(events)
            while self._held > self.max_events and self._entries:
                _, (dropped, _) = self._entries.popitem(last=False)
                self._held -= len(dropped)
