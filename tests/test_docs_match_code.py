"""docs/ARCHITECTURE.md and docs/COMPATIBILITY.md name CLI flags, Durable API routes and query
parameters; each one must exist in the code, so a renamed flag or route fails here rather than
in a reader's terminal. Relative links in README.md and docs/ must lead to existing files."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from durable_local.cli import build_parser
from durable_local.http.durable_api import ROUTER

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "docs" / "ARCHITECTURE.md", REPO / "docs" / "COMPATIBILITY.md"]

# `GET instances/{id}?showHistory=` style spans: optional method, a path below the API base
_ROUTE = re.compile(r"`(?:(GET|POST|DELETE) )?((?:orchestrators|instances|entities|makeprimary)\b[^`\s]*)`")
_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")
_QUERY = re.compile(r"[?&]([A-Za-z]+)=")


def _doc_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in DOCS)


def _cli_options(parser: argparse.ArgumentParser) -> set[str]:
    found: set[str] = set()
    for action in parser._actions:
        found.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _cli_options(sub)
    return found


def _documented_routes() -> list[tuple[str | None, str]]:
    routes = []
    for method, path in _ROUTE.findall(_doc_text()):
        if path.endswith(".py"):
            continue  # a source file such as orchestrators/retry.py, not a route
        routes.append((method or None, path))
    return routes


def test_every_documented_cli_flag_exists() -> None:
    options = _cli_options(build_parser())
    flags = set(_FLAG.findall(_doc_text()))
    assert flags, "the docs name no flags: the pattern is broken"
    assert not flags - options, f"documented flags missing from `python -m durable_local --help`: {flags - options}"


def test_the_documents_name_durable_api_routes() -> None:
    assert len(_documented_routes()) >= 10


@pytest.mark.parametrize(("method", "path"), _documented_routes())
def test_every_documented_durable_api_route_resolves(method: str | None, path: str) -> None:
    concrete = path.split("?", 1)[0].replace("[", "").replace("]", "")
    concrete = re.sub(r"\{[^}]*\}", "x", concrete)
    methods = [method] if method else ["GET", "POST", "DELETE"]
    assert any(ROUTER.resolve("/" + concrete, m) is not None for m in methods), f"{method or ''} {path}"


def test_every_documented_query_parameter_is_read_by_the_host() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "durable_local" / "http").glob("*.py"))
    names = {n for _, path in _documented_routes() for n in _QUERY.findall(path)}
    names |= set(re.findall(r"`\??([a-z][A-Za-z]+)=`", _doc_text()))  # lone spans such as `?code=`
    assert names
    missing = sorted(n for n in names if f'"{n}"' not in source and f"{n}=" not in source)
    assert not missing, f"documented query parameters the host never reads: {missing}"


_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


def test_relative_links_in_the_docs_resolve() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in _LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(REPO)} -> {target}")
    assert not broken, f"links to files that do not exist: {broken}"
