"""Named fault points on the durable writes of the stores (RELIABILITY R2, DBOS-style).

Production cost is one truthiness check of an empty list: ``fault_point(name)`` does nothing
unless a test installed a hook (``durable_local.testing.faults`` does). Kept here, free of
imports, so every backend can call it without pulling in the test tooling.

Names used by the stores (``<operation>.<where>``):

* ``create_instance.before_commit`` / ``create_instance.after_commit``
* ``enqueue.before_commit`` / ``enqueue.after_commit``
* ``commit.after_instance`` (status row / entity state saved), ``commit.after_history``
  (history appended), ``commit.after_outbox_enqueue`` (outgoing messages inserted, input not yet
  deleted), ``commit.before_commit``, ``commit.after_commit`` (orchestration and entity
  episodes; timers fire here too, as the consumption of a TimerFired message)
* ``complete_activity.before_commit`` / ``complete_activity.after_activity_result_persist``

A hook raising inside a transaction rolls it back (nothing written); raising at an
``after_*commit``/``after_activity_result_persist`` point is an ambiguous outcome (written, but
the caller sees an error); ``os._exit`` anywhere is a crash.
"""

from __future__ import annotations

from collections.abc import Callable

FaultHook = Callable[[str], None]

_hooks: list[FaultHook] = []


def fault_point(name: str) -> None:
    """Give every installed hook the chance to raise, exit, sleep or block at ``name``."""
    if _hooks:
        for hook in list(_hooks):
            hook(name)


def install(hook: FaultHook) -> None:
    _hooks.append(hook)


def uninstall(hook: FaultHook) -> None:
    if hook in _hooks:
        _hooks.remove(hook)
