"""Input validation shared by activities: one pydantic model per activity, errors name the field."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from domain.errors import field_errors

M = TypeVar("M", bound=BaseModel)


class ActivityInputError(ValueError):
    """The activity input failed validation; the message lists every bad field."""


def parse_input(model: type[M], payload: Any) -> M:
    """Validate ``payload`` (a dict, or JSON text) as ``model``."""
    if isinstance(payload, str | bytes):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise ActivityInputError(f"{model.__name__}: input is not JSON: {exc}") from None
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        details = "; ".join(f"{e['field']}: {e['message']}" for e in field_errors(exc))
        raise ActivityInputError(f"{model.__name__}: invalid input: {details}") from None
