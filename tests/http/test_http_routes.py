"""Route templates: parsing, constraints, matching and precedence (ASP.NET semantics)."""

from __future__ import annotations

import pytest

from durable_local.http.routes import Route, Router, RouteTemplate, RouteTemplateError, normalize_methods

G = "0f8fad5b-d9cb-469f-a165-70867728950e"

MATCH_TABLE = [
    # template, path, expected route values (None = no match)
    ("orders", "orders", {}),
    ("orders", "ORDERS", {}),  # literals are case-insensitive
    ("orders", "orders/", {}),
    ("orders", "order", None),
    ("orders", "orders/1", None),
    ("orders/{id}", "orders/42", {"id": "42"}),
    ("orders/{id}", "orders", None),
    ("orders/{id}", "orders//", None),
    ("orders/{id}", "orders/a%2Fb", {"id": "a/b"}),  # %2F stays inside one segment
    ("orders/{id}", "orders/hello%20world", {"id": "hello world"}),
    ("orders/{id?}", "orders", {}),
    ("orders/{id?}", "orders/7", {"id": "7"}),
    ("a/{x?}/{y?}", "a", {}),
    ("a/{x?}/{y?}", "a/1/2", {"x": "1", "y": "2"}),
    ("d/{x=7}", "d", {"x": "7"}),
    ("d/{x=7}", "d/9", {"x": "9"}),
    ("d/{x:int=7}", "d/zz", None),
    ("files/{*path}", "files/a/b/c.txt", {"path": "a/b/c.txt"}),
    ("files/{*path}", "files", {}),
    ("files/{**path}", "files/x", {"path": "x"}),
    ("files/{name}.{ext}", "files/report.pdf", {"name": "report", "ext": "pdf"}),
    ("files/{name}.{ext?}", "files/report", {"name": "report"}),
    ("files/{name}.{ext?}", "files/report.pdf", {"name": "report", "ext": "pdf"}),
    ("v{version}/items", "V2/items", {"version": "2"}),
    ("x/{id:int}", "x/-12", {"id": "-12"}),
    ("x/{id:int}", "x/12.5", None),
    ("x/{id:int}", "x/2147483648", None),
    ("x/{id:long}", "x/2147483648", {"id": "2147483648"}),
    ("x/{id:long}", "x/9223372036854775808", None),
    ("x/{f:bool}", "x/True", {"f": "True"}),
    ("x/{f:bool}", "x/yes", None),
    ("x/{g:guid}", f"x/{G}", {"g": G}),
    ("x/{g:guid}", f"x/{G.replace('-', '')}", {"g": G.replace("-", "")}),
    ("x/{g:guid}", "x/not-a-guid", None),
    ("x/{a:alpha}", "x/abcXYZ", {"a": "abcXYZ"}),
    ("x/{a:alpha}", "x/abc1", None),
    ("x/{d:datetime}", "x/2024-01-31", {"d": "2024-01-31"}),
    ("x/{d:datetime}", "x/2024-02-31", None),
    ("x/{d:decimal}", "x/12.50", {"d": "12.50"}),
    ("x/{d:decimal}", "x/1e", None),
    ("x/{d:double}", "x/-1.5e3", {"d": "-1.5e3"}),
    ("x/{d:float}", "x/abc", None),
    ("x/{s:minlength(3)}", "x/ab", None),
    ("x/{s:minlength(3)}", "x/abc", {"s": "abc"}),
    ("x/{s:maxlength(3)}", "x/abcd", None),
    ("x/{s:length(2)}", "x/ab", {"s": "ab"}),
    ("x/{s:length(2)}", "x/abc", None),
    ("x/{s:length(2,4)}", "x/abcd", {"s": "abcd"}),
    ("x/{s:length(2,4)}", "x/abcde", None),
    ("x/{n:min(10)}", "x/9", None),
    ("x/{n:min(10)}", "x/10", {"n": "10"}),
    ("x/{n:max(10)}", "x/11", None),
    ("x/{n:range(1,5)}", "x/5", {"n": "5"}),
    ("x/{n:range(1,5)}", "x/0", None),
    ("x/{n:range(1,5)}", "x/a", None),
    ("x/{n:int:range(1,100)}", "x/50", {"n": "50"}),
    ("x/{z:regex(^\\d{{3}}$)}", "x/123", {"z": "123"}),
    ("x/{z:regex(^\\d{{3}}$)}", "x/1234", None),
    ("x/{z:regex(^[a-c]+$)}", "x/ABC", {"z": "ABC"}),  # regex constraints ignore case
    ("x/{s:required}", "x/a", {"s": "a"}),
    ("", "", {}),
    ("", "x", None),
]


@pytest.mark.parametrize(("template", "path", "expected"), MATCH_TABLE)
def test_match_table(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert RouteTemplate.parse(template).match(path) == expected


@pytest.mark.parametrize("template", [
    "x/{id:unknown}", "x/{id", "x/}", "x/{*rest}/more", "x/{a}{b}", "x/{a}/{A}", "x/{s:minlength(a)}",
    "x/{s:range(1)}", "x/{z:regex([)}", "x//y", "x/{a?=1}", "x/{}",
])
def test_invalid_templates(template: str) -> None:
    with pytest.raises(RouteTemplateError):
        RouteTemplate.parse(template)


def test_escaped_braces_are_literals() -> None:
    assert RouteTemplate.parse("a{{b}}").match("a{b}") == {}


def test_precedence_literal_before_constrained_before_plain_before_catch_all() -> None:
    router = Router([
        Route(RouteTemplate.parse("items/{*rest}"), normalize_methods(None), "catchall"),
        Route(RouteTemplate.parse("items/{name}"), normalize_methods(None), "plain"),
        Route(RouteTemplate.parse("items/{id:int}"), normalize_methods(None), "int"),
        Route(RouteTemplate.parse("items/special"), normalize_methods(None), "literal"),
    ])
    resolve = lambda p: router.resolve(p, "GET")[0].target  # noqa: E731
    assert resolve("items/special") == "literal"
    assert resolve("items/5") == "int"
    assert resolve("items/abc") == "plain"
    assert resolve("items/a/b") == "catchall"


def test_methods() -> None:
    router = Router([Route(RouteTemplate.parse("r"), normalize_methods(["get", "POST"]), "t")])
    assert router.resolve("r", "GET") is not None
    assert router.resolve("r", "post") is not None
    assert router.resolve("r", "DELETE") is None
    assert normalize_methods(None) >= {"GET", "POST", "PUT", "DELETE", "PATCH"}
