"""Retry options that carry the full Durable retry policy.

``azure-functions-durable`` 1.7.0's ``RetryOptions`` only accepts (and serialises) the first retry
interval and the maximum number of attempts. The Durable extension, however, reads more keys from
the action's ``retryOptions`` JSON (EXT ``RetryOptionsConverter``): ``backoffCoefficient``,
``maxRetryIntervalInMilliseconds`` and ``retryTimeoutInMilliseconds``. The SDK serialises the
options by calling ``retry_options.to_json()`` (``CallActivityWithRetryAction.to_json`` via
``add_json_attrib``), so a subclass that extends ``to_json()`` is enough to send the full policy.
The SDK itself only uses ``max_number_of_attempts`` while replaying, so nothing else changes.
"""

from __future__ import annotations

import azure.durable_functions as df


class ExtendedRetryOptions(df.RetryOptions):
    """``df.RetryOptions`` plus backoff coefficient, max interval and overall retry timeout."""

    def __init__(
        self,
        first_retry_interval_in_milliseconds: int,
        max_number_of_attempts: int,
        backoff_coefficient: float = 1.0,
        max_retry_interval_in_milliseconds: int | None = None,
        retry_timeout_in_milliseconds: int | None = None,
    ) -> None:
        super().__init__(first_retry_interval_in_milliseconds, max_number_of_attempts)
        if backoff_coefficient <= 0:
            raise ValueError("backoff_coefficient must be greater than 0")
        self.backoff_coefficient = float(backoff_coefficient)
        self.max_retry_interval_in_milliseconds = max_retry_interval_in_milliseconds
        self.retry_timeout_in_milliseconds = retry_timeout_in_milliseconds

    def to_json(self) -> dict[str, int | float | str]:
        """The SDK's keys plus the extension-only keys (omitted when unset)."""
        data: dict[str, int | float | str] = dict(super().to_json())
        data["backoffCoefficient"] = self.backoff_coefficient
        if self.max_retry_interval_in_milliseconds is not None:
            data["maxRetryIntervalInMilliseconds"] = self.max_retry_interval_in_milliseconds
        if self.retry_timeout_in_milliseconds is not None:
            data["retryTimeoutInMilliseconds"] = self.retry_timeout_in_milliseconds
        return data


def seed_retry_options() -> ExtendedRetryOptions:
    """The seed's policy: 5 s first interval, 3 attempts, backoff 2.0, at most 60 s between tries."""
    return ExtendedRetryOptions(5000, 3, backoff_coefficient=2.0, max_retry_interval_in_milliseconds=60000)


def gateway_retry_options() -> ExtendedRetryOptions:
    """Policy for calls to external systems (payment gateway, carrier, refunds)."""
    return ExtendedRetryOptions(2000, 3, backoff_coefficient=2.0, max_retry_interval_in_milliseconds=30000)
