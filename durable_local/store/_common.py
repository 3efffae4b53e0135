"""Helpers shared by the store backends: UTC time codecs, JSON copies, query tokens.

Kept backend-neutral so memory and SQLite agree byte for byte on what they return (the
conformance suite compares them), and so the Azure backend can reuse the same tokens.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from .base import InstanceQuery, InstanceRecord, StoreError

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def utc(dt: datetime) -> datetime:
    """Aware UTC; naive input is taken as UTC (the runtime's clocks are UTC throughout)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def to_us(dt: datetime) -> int:
    """Epoch microseconds: an exact integer, so SQL comparisons and ordering are exact."""
    return (utc(dt) - _EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def opt_to_us(dt: datetime | None) -> int | None:
    return None if dt is None else to_us(dt)


def opt_from_us(us: int | None) -> datetime | None:
    return None if us is None else from_us(us)


def dumps(value: Any) -> str:
    # compact separators: history is re-read every episode, smaller rows are faster rows
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def json_copy(value: Any) -> Any:
    """A deep copy with exactly the SQLite backend's semantics (tuples become lists...)."""
    return json.loads(dumps(value))


def new_token() -> str:
    return uuid.uuid4().hex


def encode_continuation(last_instance_id: str) -> str:
    raw = dumps({"after": last_instance_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continuation(token: str | None) -> str | None:
    """The instance id to resume after; StoreError on a token this module did not make."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        after = json.loads(base64.urlsafe_b64decode(padded.encode()))["after"]
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"invalid continuation token {token!r}") from exc
    if not isinstance(after, str):
        raise StoreError(f"invalid continuation token {token!r}")
    return after


def is_entity_id(instance_id: str) -> bool:
    return instance_id.startswith("@")


def matches(query: InstanceQuery, rec: InstanceRecord) -> bool:
    """The filter part of an InstanceQuery (no paging), as the reference semantics."""
    if is_entity_id(rec.instance_id) != query.entities:
        return False
    if query.runtime_status is not None and rec.runtime_status not in query.runtime_status:
        return False
    if query.created_from is not None and rec.created_time < utc(query.created_from):
        return False
    if query.created_to is not None and rec.created_time > utc(query.created_to):
        return False
    return not (query.instance_id_prefix and not rec.instance_id.startswith(query.instance_id_prefix))


def normalized(rec: InstanceRecord) -> InstanceRecord:
    """A copy with aware-UTC times, so both backends return identical records."""
    return replace(rec, created_time=utc(rec.created_time), last_updated_time=utc(rec.last_updated_time))
