"""Turning pydantic validation errors into field-named, JSON-able error lists."""

from __future__ import annotations

from pydantic import ValidationError

ROOT_FIELD = "body"


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """``[{"field": "items.0.quantity", "message": ...}]``; model-level errors use ``"body"``."""
    return [
        {"field": ".".join(str(part) for part in err["loc"]) or ROOT_FIELD, "message": err["msg"]}
        for err in exc.errors(include_url=False)
    ]
