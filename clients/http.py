"""HTTP helpers for the client routes: JSON responses, bounded body parsing, error shapes."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable
from typing import Any

import azure.functions as func
from pydantic import ValidationError

from domain.errors import field_errors

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
ACTIVE_STATES = frozenset({"Running", "Pending", "Suspended", "ContinuedAsNew"})
FINISHED_STATES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


class HttpError(Exception):
    """Raised inside a route to answer with a JSON error."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": error, "message": message, **extra}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    """A JSON response."""
    return func.HttpResponse(
        json.dumps(body), status_code=status, mimetype="application/json", headers=headers or {}
    )


def validation_error(exc: ValidationError) -> HttpError:
    """400 naming each bad field."""
    return HttpError(400, "validation_error", "request validation failed", fields=field_errors(exc))


def route_param(req: func.HttpRequest, name: str, pattern: str) -> str:
    """A route value that must match ``pattern``; a 400 naming the field otherwise."""
    value = req.route_params.get(name, "")
    if not re.fullmatch(pattern, value):
        raise HttpError(
            400,
            "validation_error",
            f"invalid {name}",
            fields=[{"field": name, "message": f"must match {pattern}"}],
        )
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_json(req: func.HttpRequest, *, required: bool = True) -> Any:
    """The parsed JSON body (413 above 64 KB, 400 when missing or malformed)."""
    body = req.get_body() or b""
    if len(body) > MAX_BODY_BYTES:
        raise HttpError(413, "payload_too_large", f"request body exceeds {MAX_BODY_BYTES} bytes")
    if not body.strip():
        if required:
            raise HttpError(400, "invalid_json", "a JSON request body is required")
        return None
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except ValueError as exc:
        raise HttpError(400, "invalid_json", f"request body is not valid JSON: {exc}") from None
    except RecursionError:  # e.g. "[" * 5000 (found by the S1 fuzz: it was a 500)
        raise HttpError(400, "invalid_json", "request body is nested too deeply") from None


def runtime_status_name(status: Any) -> str | None:
    """``"Running"``... from a ``DurableOrchestrationStatus`` (``None`` when the instance is unknown)."""
    if not status:
        return None
    value = getattr(status, "runtime_status", None)
    if value is None:
        return None
    return getattr(value, "value", str(value))


async def guarded(work: Awaitable[func.HttpResponse]) -> func.HttpResponse:
    """Run a route body: ``HttpError`` becomes its JSON answer, anything else a JSON 500."""
    try:
        return await work
    except HttpError as exc:
        return json_response(exc.status, exc.body)
    except Exception:
        logger.exception("unhandled error in HTTP route")
        return json_response(500, {"error": "internal_error", "message": "unexpected server error"})
