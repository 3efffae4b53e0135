"""Azure backend: connection strings and turning storage failures into StoreError.

Messages name the endpoint that failed, never the account key (the CLI prints them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError, ServiceRequestError

from .base import StoreError

DEV_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)
DEFAULT_HUB = "TestHubName"

# the SDK logs every request at INFO; the host's -v would drown in it (opt back in by
# configuring this logger before opening the store)
_http_log = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
if _http_log.level == logging.NOTSET:
    _http_log.setLevel(logging.WARNING)


def expand_connection_string(conn: str) -> str:
    """``UseDevelopmentStorage=true`` means Azurite on its default local ports."""
    parts = {k.strip().lower(): v.strip() for k, _, v in (p.partition("=") for p in conn.split(";") if p.strip())}
    return DEV_STORAGE if parts.get("usedevelopmentstorage", "").lower() == "true" else conn


def endpoint_of(conn: str) -> str:
    """Where we tried to connect, for error messages (never the key)."""
    parts = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
    return parts.get("TableEndpoint") or f"account {parts.get('AccountName', '?')}"


@contextmanager
def storage_errors(doing: str) -> Iterator[None]:
    """Storage failures become StoreError with a one-line, key-free message."""
    try:
        yield
    except StoreError:
        raise
    except ClientAuthenticationError as exc:
        raise StoreError(f"Azure Storage rejected the credentials while trying to {doing}: {exc.message}") from None
    except ServiceRequestError as exc:
        raise StoreError(f"cannot reach Azure Storage to {doing}: {exc.message}") from None
    except HttpResponseError as exc:
        raise StoreError(f"Azure Storage error while trying to {doing}: {exc.status_code} {exc.message}") from None
    except AzureError as exc:
        raise StoreError(f"Azure Storage error while trying to {doing}: {exc.message}") from None
