"""A blob input bound to an `InputStream` parameter reads the blob's bytes."""

from __future__ import annotations

import azure.functions as func

from durable_local.app_loader import FunctionInfo
from durable_local.bindings.invocation import _blob_value


def _reader(req: func.HttpRequest, doc: func.InputStream) -> str:
    return ""


def test_an_input_stream_parameter_gets_the_blob_content() -> None:
    info = FunctionInfo("reader", "http", "reader", {"name": "req"}, [], _reader, False)
    binding = {"name": "doc", "type": "blob", "path": "docs/a.txt"}
    stream = _blob_value(info, binding, (b"hello", {"content_type": "text/plain"}, "http://blob/docs/a.txt"))
    assert isinstance(stream, func.InputStream)
    assert stream.name == "docs/a.txt"
    assert stream.length == 5
    assert stream.read() == b"hello"
