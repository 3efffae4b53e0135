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


def claim_owner(owner: str, n: int) -> str:
    """The owner id of one claim call of ``owner``: ``host-<hex>.<n>@<hostname>:<pid>``.

    A claim whose reply was lost (a storage timeout after the leases were written) can then
    give back exactly the leases it took, without touching the host's other in-flight work;
    ``owner_is_dead`` reads only the part after ``@``, so crash recovery is unchanged."""
    name, at, where = owner.partition("@")
    return f"{name}.{n}{at}{where}"


def owned_by(owner: str, claim: str) -> bool:
    """True if ``claim`` is ``owner`` itself or one of its claim owners."""
    name, _, where = owner.partition("@")
    claim_name, _, claim_where = claim.partition("@")
    return claim_where == where and claim_name.partition(".")[0] == name
