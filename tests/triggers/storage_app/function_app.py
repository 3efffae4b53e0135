"""A test app for queue and blob triggers and the Storage bindings (tests/triggers).

Queue, container and table names come from app settings (``%...%``) so every test uses its
own; ``TRIGGER_TEST_MARKS`` is a folder where functions leave a line per run.
"""

import json
import os
import time
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def mark(kind: str, text: str) -> int:
    """Append a line to <marks>/<kind>; the number of lines so far."""
    path = Path(os.environ["TRIGGER_TEST_MARKS"]) / kind
    with path.open("a", encoding="utf-8") as f:
        f.write(text + "\n")
    return len(path.read_text(encoding="utf-8").splitlines())


@app.queue_trigger(arg_name="msg", queue_name="%START_QUEUE%", connection="AzureWebJobsStorage")
@app.durable_client_input(client_name="client")
async def queue_start(msg: func.QueueMessage, client: df.DurableOrchestrationClient) -> None:
    order = json.loads(msg.get_body())
    await client.start_new("hello_orchestrator", f"q-{order['id']}", order["name"])


@app.orchestration_trigger(context_name="context")
def hello_orchestrator(context: df.DurableOrchestrationContext):
    greeting = yield context.call_activity("hello", context.get_input())
    status = yield context.call_activity("own_status", context.instance_id)
    return {"greeting": greeting, "seenStatus": status}


@app.activity_trigger(input_name="name")
@app.queue_output(arg_name="out", queue_name="%OUT_QUEUE%", connection="AzureWebJobsStorage")
def hello(name: str, out: func.Out[str]) -> str:
    out.set(f"Hello {name}")
    return f"Hello {name}"


@app.activity_trigger(input_name="instance_id")
@app.durable_client_input(client_name="client")
async def own_status(instance_id: str, client: df.DurableOrchestrationClient, context: func.Context) -> str:
    # activities may query orchestrations: this one reads the status of the one that called it
    status = await client.get_status(instance_id)
    return f"{status.runtime_status.value} ({context.function_name})"


@app.queue_trigger(arg_name="msg", queue_name="%FAIL_QUEUE%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="%OUT_QUEUE%", connection="AzureWebJobsStorage")
def always_fails(msg: func.QueueMessage, out: func.Out[str]) -> None:
    mark("fail", f"{msg.id} {msg.dequeue_count}")
    out.set("never written: the function fails")
    raise RuntimeError("this function always fails")


@app.queue_trigger(arg_name="msg", queue_name="%SLOW_QUEUE%", connection="AzureWebJobsStorage")
def slow_once(msg: str) -> None:
    runs = mark("slow", msg)
    if runs == 1:
        time.sleep(120)  # the test kills the host meanwhile
    mark("slow-done", msg)


@app.blob_trigger(arg_name="blob", path="%IN_CONTAINER%/{name}.txt", connection="AzureWebJobsStorage")
@app.blob_output(arg_name="out", path="%OUT_CONTAINER%/{name}-{DateTime:yyyy}.out", connection="AzureWebJobsStorage")
def on_blob(blob: func.InputStream, out: func.Out[str]) -> None:
    text = blob.read().decode("utf-8")
    mark("blob", f"{blob.name} {blob.length} {text}")
    out.set(text.upper())


@app.route(route="tables/{pk}/{rk}", methods=["POST"])
@app.table_output(arg_name="row", table_name="%TABLE%", connection="AzureWebJobsStorage")
def put_row(req: func.HttpRequest, row: func.Out[str]) -> func.HttpResponse:
    body = req.get_json()
    row.set(json.dumps({"PartitionKey": req.route_params["pk"], "RowKey": req.route_params["rk"], **body}))
    return func.HttpResponse("stored", status_code=201)


@app.route(route="tables/{pk}/{rk}", methods=["GET"])
@app.table_input(
    arg_name="row", table_name="%TABLE%", partition_key="{pk}", row_key="{rk}", connection="AzureWebJobsStorage"
)
def get_row(req: func.HttpRequest, row: str) -> func.HttpResponse:
    entity = json.loads(row)
    if entity is None:
        return func.HttpResponse("no such row", status_code=404)
    return func.HttpResponse(json.dumps(entity), mimetype="application/json")


@app.route(route="tables/{pk}", methods=["GET"])
@app.table_input(arg_name="rows", table_name="%TABLE%", partition_key="{pk}", connection="AzureWebJobsStorage")
def list_rows(req: func.HttpRequest, rows: str) -> func.HttpResponse:
    return func.HttpResponse(rows, mimetype="application/json")


@app.route(route="blobs/{name}", methods=["GET"])
@app.blob_input(arg_name="content", path="%OUT_CONTAINER%/{name}", connection="AzureWebJobsStorage")
def read_blob(req: func.HttpRequest, content: func.InputStream) -> func.HttpResponse:
    if content is None:
        return func.HttpResponse("no such blob", status_code=404)
    return func.HttpResponse(content.read(), mimetype="text/plain")


@app.route(route="blobs/{name}", methods=["PUT"])
@app.blob_output(arg_name="content", path="%OUT_CONTAINER%/{name}", connection="AzureWebJobsStorage")
def write_blob(req: func.HttpRequest, content: func.Out[bytes]) -> str:
    content.set(req.get_body())
    return "written"


@app.route(route="bad-expression", methods=["POST"])
@app.queue_output(arg_name="out", queue_name="{missing}", connection="AzureWebJobsStorage")
def bad_expression(req: func.HttpRequest, out: func.Out[str]) -> str:
    out.set("x")
    return "ok"


@app.route(route="bad-type", methods=["POST"])
@app.generic_output_binding(arg_name="out", type="madeUpBinding")
def bad_type(req: func.HttpRequest, out: func.Out[str]) -> str:
    return "never runs"
