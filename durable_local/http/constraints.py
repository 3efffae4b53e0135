"""Inline route constraints of ASP.NET Core routing, as used by Functions route templates."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation


class RouteTemplateError(ValueError):
    """The template is malformed or uses an unknown constraint (the host would not start it)."""


_INT_RE = re.compile(r"^[+-]?\d+$")


def _int_in(value: str, bits: int) -> int | None:
    if not _INT_RE.match(value.strip()):
        return None
    n = int(value)
    return n if -(2 ** (bits - 1)) <= n < 2 ** (bits - 1) else None


def _is_float(value: str) -> bool:
    if "_" in value or not value.strip():
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def _is_decimal(value: str) -> bool:
    if "_" in value:
        return False
    try:
        return Decimal(value).is_finite()
    except (InvalidOperation, ValueError):
        return False


def _is_datetime(value: str) -> bool:
    text = value.strip()
    if not text:
        return False
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        datetime.fromisoformat(text)
        return True
    except ValueError:
        pass
    for fmt in ("%m/%d/%Y", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%Y/%m/%d", "%d %B %Y", "%B %d, %Y"):
        try:
            datetime.strptime(text, fmt)
            return True
        except ValueError:
            continue
    return False


def _is_guid(value: str) -> bool:
    v = value.strip()
    if (v.startswith("{") and v.endswith("}")) or (v.startswith("(") and v.endswith(")")):
        v = v[1:-1]
    if len(v) not in (32, 36):
        return False
    try:
        uuid.UUID(v)
    except ValueError:
        return False
    return True


def _int_args(arg: str | None, count: int) -> list[int]:
    parts = [p.strip() for p in (arg or "").split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise RouteTemplateError(f"constraint argument '{arg}' must be {count} integer(s)") from None
    if len(values) != count:
        raise RouteTemplateError(f"constraint argument '{arg}' must be {count} integer(s)")
    return values


_SIMPLE: dict[str, Callable[[str], bool]] = {
    "int": lambda v: _int_in(v, 32) is not None,
    "long": lambda v: _int_in(v, 64) is not None,
    "bool": lambda v: v.strip().lower() in ("true", "false"),
    "guid": _is_guid,
    "alpha": lambda v: bool(re.fullmatch(r"[A-Za-z]+", v)),
    "datetime": _is_datetime,
    "decimal": _is_decimal,
    "double": _is_float,
    "float": _is_float,
    "required": lambda v: v != "",
}


def check_constraint(name: str, arg: str | None, value: str) -> bool:
    if name in _SIMPLE:
        return _SIMPLE[name](value)
    if name == "minlength":
        return len(value) >= _int_args(arg, 1)[0]
    if name == "maxlength":
        return len(value) <= _int_args(arg, 1)[0]
    if name == "length":
        args = _int_args(arg, 2) if arg and "," in arg else _int_args(arg, 1) * 2
        return args[0] <= len(value) <= args[1]
    if name in ("min", "max", "range"):
        n = _int_in(value, 64)
        if n is None:
            return False
        if name == "min":
            return n >= _int_args(arg, 1)[0]
        if name == "max":
            return n <= _int_args(arg, 1)[0]
        lo, hi = _int_args(arg, 2)
        return lo <= n <= hi
    if name == "regex":
        return re.search(arg or "", value, re.IGNORECASE) is not None
    raise RouteTemplateError(f"unknown route constraint '{name}'")


def validate_constraint(name: str, arg: str | None) -> None:
    """Fail at parse time for unknown constraints and bad arguments, as the host does."""
    if name in _SIMPLE:
        if arg is not None:
            raise RouteTemplateError(f"constraint '{name}' takes no argument")
        return
    if name in ("minlength", "maxlength", "min", "max"):
        _int_args(arg, 1)
    elif name == "length":
        _int_args(arg, 2) if arg and "," in arg else _int_args(arg, 1)
    elif name == "range":
        _int_args(arg, 2)
    elif name == "regex":
        try:
            re.compile(arg or "")
        except re.error as exc:
            raise RouteTemplateError(f"invalid regex constraint '{arg}': {exc}") from None
    else:
        raise RouteTemplateError(f"unknown route constraint '{name}'")
