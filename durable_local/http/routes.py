"""Azure Functions (ASP.NET Core) route templates: parsing, constraints and matching.

Supported syntax: literal segments (matched case-insensitively), ``{x}``, optional ``{x?}``,
defaults ``{x=val}``, catch-all ``{*rest}`` / ``{**rest}``, complex segments such as
``{name}.{ext}``, escaped braces ``{{`` / ``}}``, and the inline constraints ``int``, ``long``,
``bool``, ``guid``, ``alpha``, ``datetime``, ``decimal``, ``double``, ``float``, ``required``,
``minlength(n)``, ``maxlength(n)``, ``length(n)``, ``length(n,m)``, ``min(n)``, ``max(n)``,
``range(a,b)`` and ``regex(...)`` (chained with ``:``).

Paths are split on raw ``/`` *before* percent-decoding, so ``a%2Fb`` is one segment whose
value is ``a/b`` (ASP.NET keeps ``%2F`` out of the segment separator too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .constraints import RouteTemplateError, check_constraint, validate_constraint

__all__ = ["ALL_METHODS", "Param", "Route", "RouteTemplate", "RouteTemplateError", "Router", "normalize_methods"]

ALL_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE")


@dataclass
class Param:
    """A ``{...}`` part of a segment."""

    name: str
    constraints: list[tuple[str, str | None]] = field(default_factory=list)  # (name, argument)
    optional: bool = False
    default: str | None = None
    catch_all: bool = False

    def accepts(self, value: str) -> bool:
        return all(check_constraint(c, arg, value) for c, arg in self.constraints)


Part = str | Param  # a literal text or a parameter


# -- parsing ----------------------------------------------------------------------------------


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses."""
    out: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _parse_param(body: str) -> Param:
    catch_all = False
    if body.startswith("**"):
        body, catch_all = body[2:], True
    elif body.startswith("*"):
        body, catch_all = body[1:], True
    pieces = _split_top(body, "=")
    default = "=".join(pieces[1:]) if len(pieces) > 1 else None
    head = pieces[0]
    optional = False
    if head.endswith("?"):  # constraint arguments end with ")", so a final "?" is the marker
        head, optional = head[:-1], True
    items = _split_top(head, ":")
    name = items[0].strip()
    if not name or not re.fullmatch(r"[^{}/\\?*=:]+", name):
        raise RouteTemplateError(f"invalid route parameter name in '{{{body}}}'")
    constraints: list[tuple[str, str | None]] = []
    for raw in items[1:]:
        m = re.fullmatch(r"\s*([A-Za-z]+)\s*(?:\((.*)\))?\s*", raw, re.S)
        if not m:
            raise RouteTemplateError(f"invalid route constraint '{raw}'")
        cname, arg = m.group(1).lower(), m.group(2)
        validate_constraint(cname, arg)
        constraints.append((cname, arg))
    if optional and default is not None:
        raise RouteTemplateError(f"parameter '{name}' cannot be optional and have a default")
    return Param(name=name, constraints=constraints, optional=optional, default=default, catch_all=catch_all)


def _parse_segment(text: str) -> list[Part]:
    parts: list[Part] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "{" and text.startswith("{{", i):
            literal.append("{")
            i += 2
        elif ch == "}" and text.startswith("}}", i):
            literal.append("}")
            i += 2
        elif ch == "{":
            depth, j = 0, i + 1
            while j < len(text):
                c = text[j]
                if c == "(":
                    depth += 1
                elif c == ")":
                    depth = max(0, depth - 1)
                elif c == "}" and depth == 0:
                    if text.startswith("}}", j):  # escaped brace inside e.g. regex(\d{{3}})
                        j += 2
                        continue
                    break
                j += 1
            if j >= len(text):
                raise RouteTemplateError(f"unterminated '{{' in route segment '{text}'")
            if literal:
                parts.append("".join(literal))
                literal = []
            body = text[i + 1 : j].replace("{{", "{").replace("}}", "}")
            if parts and isinstance(parts[-1], Param):
                raise RouteTemplateError(f"two parameters without a literal between them in '{text}'")
            parts.append(_parse_param(body))
            i = j + 1
        elif ch == "}":
            raise RouteTemplateError(f"unmatched '}}' in route segment '{text}'")
        else:
            literal.append(ch)
            i += 1
    if literal:
        parts.append("".join(literal))
    return parts


@dataclass
class RouteTemplate:
    """A parsed route template; ``match(path)`` returns route values or None."""

    text: str
    segments: list[list[Part]]

    @classmethod
    def parse(cls, template: str) -> RouteTemplate:
        text = template.strip().lstrip("~").strip("/")
        segments = [_parse_segment(s) for s in text.split("/")] if text else []
        names: set[str] = set()
        for idx, seg in enumerate(segments):
            if not seg:
                raise RouteTemplateError(f"empty segment in route '{template}'")
            for part in seg:
                if isinstance(part, Param):
                    if part.name.lower() in names:
                        raise RouteTemplateError(f"parameter '{part.name}' appears twice in '{template}'")
                    names.add(part.name.lower())
                    if part.catch_all and (idx != len(segments) - 1 or len(seg) != 1):
                        raise RouteTemplateError(f"a catch-all parameter must be the last segment of '{template}'")
                    if part.optional and len(seg) != 1 and part is not seg[-1]:
                        raise RouteTemplateError(f"optional parameter '{part.name}' must end its segment")
        return cls(text=text, segments=segments)

    @property
    def precedence(self) -> tuple[float, ...]:
        """ASP.NET-style ordering key: literals before constrained parameters before plain
        parameters before catch-alls (lower sorts first)."""
        key: list[float] = []
        for seg in self.segments:
            if len(seg) > 1:
                key.append(2)
            elif isinstance(seg[0], str):
                key.append(1)
            elif seg[0].catch_all:
                key.append(5)
            else:
                key.append(3 if seg[0].constraints else 4)
        return tuple(key)

    def match(self, path: str) -> dict[str, str] | None:
        """Match a raw (still percent-encoded) path relative to the template's base."""
        stripped = path.strip("/")
        raw = stripped.split("/") if stripped else []
        values: dict[str, str] = {}
        for idx, seg in enumerate(self.segments):
            if len(seg) == 1 and isinstance(seg[0], Param) and seg[0].catch_all:
                p = seg[0]
                rest = "/".join(unquote(s) for s in raw[idx:])
                if rest:
                    if not p.accepts(rest):
                        return None
                    values[p.name] = rest
                elif p.default is not None:
                    values[p.name] = p.default
                return values
            if idx >= len(raw):
                if not _fill_missing(self.segments[idx:], values):
                    return None
                return values
            if not _match_segment(seg, raw[idx], values):
                return None
        return values if len(raw) == len(self.segments) else None


def _fill_missing(segments: Sequence[list[Part]], values: dict[str, str]) -> bool:
    """Trailing segments absent from the path: allowed if each is an optional/default param."""
    for seg in segments:
        if len(seg) != 1 or not isinstance(seg[0], Param):
            return False
        p = seg[0]
        if p.default is not None:
            values[p.name] = p.default
        elif not (p.optional or p.catch_all):
            return False
    return True


def _match_segment(seg: list[Part], raw: str, values: dict[str, str]) -> bool:
    text = unquote(raw)
    if len(seg) == 1:
        part = seg[0]
        if isinstance(part, str):
            return text.lower() == part.lower()
        if text == "":
            return False
        if not part.accepts(text):
            return False
        values[part.name] = text
        return True
    pattern = ""
    for i, p in enumerate(seg):
        if isinstance(p, str):
            pattern += re.escape(p)
            continue
        group = f"(?P<p{i}>.+{'?' if i < len(seg) - 1 else ''})"
        prev = seg[i - 1] if i > 0 else None
        if p.optional and i == len(seg) - 1 and isinstance(prev, str):
            # "{name}.{ext?}": the separator is optional together with the parameter
            lit = re.escape(prev)
            pattern = pattern[: len(pattern) - len(lit)] + f"(?:{lit}{group})?"
        else:
            pattern += group
    m = re.fullmatch(pattern, text, re.IGNORECASE | re.S)
    if not m:
        return False
    for i, p in enumerate(seg):
        if isinstance(p, Param):
            v = m.group(f"p{i}")
            if v is None:
                if p.default is not None:
                    values[p.name] = p.default
                continue
            if not p.accepts(v):
                return False
            values[p.name] = v
    return True


@dataclass
class Route:
    """A template bound to HTTP methods and an arbitrary target (e.g. a FunctionInfo)."""

    template: RouteTemplate
    methods: frozenset[str]
    target: Any

    def allows(self, method: str) -> bool:
        return method.upper() in self.methods


def normalize_methods(methods: Iterable[Any] | None) -> frozenset[str]:
    """Trigger ``methods`` (enums or strings, possibly absent) → upper-case method names."""
    if not methods:
        return frozenset(ALL_METHODS)
    return frozenset(str(getattr(m, "value", m)).upper() for m in methods)


class Router:
    """Routes sorted by precedence; ``resolve`` returns (route, values) for path + method."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._routes: list[Route] = []
        for r in routes:
            self.add(r)

    def add(self, route: Route) -> None:
        self._routes.append(route)
        self._routes.sort(key=lambda r: r.template.precedence)

    @property
    def routes(self) -> list[Route]:
        return list(self._routes)

    def resolve(self, path: str, method: str) -> tuple[Route, dict[str, str]] | None:
        for route in self._routes:
            if not route.allows(method):
                continue
            values = route.template.match(path)
            if values is not None:
                return route, values
        return None
