"""W14's app: a queue trigger and an HTTP route that each start a 3-activity chain."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.queue_trigger(arg_name="msg", queue_name="%BENCH_QUEUE%", connection="AzureWebJobsStorage")
@app.durable_client_input(client_name="client")
async def queue_start(msg: func.QueueMessage, client: df.DurableOrchestrationClient) -> None:
    await client.start_new("chain3", None, msg.get_body().decode())


@app.route(route="start", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new("chain3", None, req.get_body().decode())
    return func.HttpResponse(instance_id, status_code=202)


@app.orchestration_trigger(context_name="context")
def chain3(context: df.DurableOrchestrationContext):
    value = context.get_input()
    for _ in range(3):
        value = yield context.call_activity("echo3", value)
    return value


@app.activity_trigger(input_name="value")
def echo3(value: str) -> str:
    return value
