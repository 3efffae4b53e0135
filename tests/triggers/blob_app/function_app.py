"""A blob-triggered function for admin invoke tests (tests/triggers/test_admin_blob.py)."""

import json
import os

import azure.functions as func

app = func.FunctionApp()


@app.blob_trigger(arg_name="blob", path="samples/{name}", connection="AzureWebJobsStorage")
def on_blob(blob: func.InputStream) -> None:
    with open(os.environ["TRIGGER_TEST_LOG"], "a", encoding="utf-8") as f:
        f.write(json.dumps({"fn": "on_blob", "name": blob.name, "length": blob.length, "text": blob.read().decode()}))
        f.write("\n")


@app.blob_trigger(arg_name="text", path="texts/{name}", connection="AzureWebJobsStorage")
def on_blob_text(text: str) -> None:
    """A `str` parameter: the admin call must hand over the decoded text, as the listener does."""
    with open(os.environ["TRIGGER_TEST_LOG"], "a", encoding="utf-8") as f:
        f.write(json.dumps({"fn": "on_blob_text", "type": type(text).__name__, "text": text}) + "\n")
