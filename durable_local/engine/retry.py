"""The host side of ``*_with_retry``: DTFx ``RetryInterceptor`` delay computation.

The Python SDK only sends ``firstRetryIntervalInMilliseconds`` and ``maxNumberOfAttempts``;
the extension's ``RetryOptionsConverter`` also reads ``backoffCoefficient``,
``maxRetryIntervalInMilliseconds`` and ``retryTimeoutInMilliseconds``, so we honour them too
(PROTOCOL §3.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

DEFAULT_MAX_RETRY_INTERVAL_MS = 6 * 24 * 3600 * 1000.0  # EXT RetryOptions.DefaultMaxRetryinterval


@dataclass(frozen=True)
class RetryPolicy:
    first_interval_ms: float
    max_attempts: int
    backoff: float = 1.0
    max_interval_ms: float = DEFAULT_MAX_RETRY_INTERVAL_MS
    timeout_ms: float | None = None

    @classmethod
    def from_json(cls, options: dict[str, Any]) -> RetryPolicy:
        timeout = options.get("retryTimeoutInMilliseconds")
        max_interval = options.get("maxRetryIntervalInMilliseconds")
        return cls(
            first_interval_ms=float(options.get("firstRetryIntervalInMilliseconds") or 0),
            max_attempts=int(options.get("maxNumberOfAttempts") or 1),
            backoff=float(options.get("backoffCoefficient") or 1.0),
            max_interval_ms=float(max_interval) if max_interval else DEFAULT_MAX_RETRY_INTERVAL_MS,
            timeout_ms=float(timeout) if timeout else None,
        )

    def next_delay(self, attempt: int, first_attempt: datetime, now: datetime) -> timedelta | None:
        """Delay before attempt ``attempt + 1`` (0-based ``attempt`` just failed), or None when
        the retry timeout has expired (DTFx ``ComputeNextDelay`` returning zero)."""
        if self.timeout_ms is not None and now >= first_attempt + timedelta(milliseconds=self.timeout_ms):
            return None
        delay_ms = self.first_interval_ms * (self.backoff**attempt)
        if delay_ms >= self.max_interval_ms:
            delay_ms = self.max_interval_ms
        return timedelta(milliseconds=delay_ms)
