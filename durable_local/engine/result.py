"""The outcome of one orchestration episode, as the runtime commits it.

Its own module because both the episode runner and the stand-alone rewind build one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from durable_local.store.base import InstanceRecord, Message


@dataclass
class EpisodeResult:
    """What the runtime commits with ``Store.commit_orchestration``.

    ``instance`` is None only when no instance exists and nothing created one (all messages
    dropped); the runtime then just deletes ``consumed``.
    """

    instance: InstanceRecord | None
    new_history: list[dict[str, Any]] = field(default_factory=list)
    replace_history: bool = False
    outgoing: list[Message] = field(default_factory=list)
    consumed: list[int] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
