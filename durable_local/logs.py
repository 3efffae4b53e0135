"""Host log set-up, shared by the command line and the worker processes.

One format for every line, and the azure-functions SDK notices that say nothing to someone
running an app hidden unless DEBUG (``-v``): the one-time df_loads / loose-codec advisories and
the auth-level warning for apps without HTTP triggers.
"""

from __future__ import annotations

import logging

LOG_FORMAT = "[%(asctime)s] %(levelname)s %(name)s: %(message)s"
QUIET_NOTICES = (
    "azure.functions df_loads was called without expected_type",
    "azure.functions Durable JSON codec reconstructed",
    "Auth level is not applied",
)


class SdkNoticeFilter(logging.Filter):
    """Drops the :data:`QUIET_NOTICES` records."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(QUIET_NOTICES)


def configure_logging(level: int) -> None:
    """The root logger's format and level; the SDK notices hidden above DEBUG."""
    logging.basicConfig(level=level, format=LOG_FORMAT)
    if level > logging.DEBUG:
        for handler in logging.getLogger().handlers:
            handler.addFilter(SdkNoticeFilter())
