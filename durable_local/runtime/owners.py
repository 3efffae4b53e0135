"""Lease owner ids that say which process holds a lease, so a restarted host can take back
the leases of a crashed one on the same machine at once instead of waiting for them to expire.

An owner id is ``host-<hex>@<hostname>:<pid>``. ``owner_is_dead`` is True only when the owner
ran on this machine and its process no longer exists; owners from other machines, or in an
unknown format, are never declared dead (their leases simply expire, LEASE_SECONDS).
"""

from __future__ import annotations

import os
import socket
import uuid


def make_owner() -> str:
    return f"host-{uuid.uuid4().hex[:8]}@{socket.gethostname()}:{os.getpid()}"


def owner_is_dead(owner: str) -> bool:
    _, at, where = owner.rpartition("@")
    machine, colon, pid_text = where.rpartition(":")
    if not at or not colon or machine != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # our own leases (another dispatcher of this process) are live
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by someone else
    return False
