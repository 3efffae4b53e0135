"""How the command line reports errors: one line on stderr, no traceback, exit code 2."""

from __future__ import annotations

import errno
import sys

PROG = "durable-local"


def one_line(exc: BaseException) -> str:
    """An exception as one line (a KeyError's message without the quotes ``str()`` adds)."""
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    elif isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        text = f"{exc.strerror or 'address already in use'} (is another host running? pass --port)"
    else:
        text = str(exc)
    return " ".join(text.split()) or type(exc).__name__


def error(message: str) -> int:
    """Print ``durable-local: error: <message>`` to stderr; returns exit code 2."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2
