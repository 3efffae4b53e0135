"""The app of the issue that asked for the whole Function App to run: an orchestration started
by a timer (every 5 s) and by a queue message, whose activity writes through a queue output."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.timer_trigger(arg_name="timer", schedule="*/5 * * * * *")
@app.durable_client_input(client_name="client")
async def cron_start(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await client.start_new("hello_orchestrator", None, "cron")


@app.queue_trigger(arg_name="msg", queue_name="%START_QUEUE%", connection="AzureWebJobsStorage")
@app.durable_client_input(client_name="client")
async def queue_start(msg: func.QueueMessage, client: df.DurableOrchestrationClient) -> None:
    await client.start_new("hello_orchestrator", None, msg.get_body().decode())


@app.orchestration_trigger(context_name="context")
def hello_orchestrator(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("hello", context.get_input()))


@app.activity_trigger(input_name="name")
@app.queue_output(arg_name="out", queue_name="%OUT_QUEUE%", connection="AzureWebJobsStorage")
def hello(name: str, out: func.Out[str]) -> str:
    out.set(f"Hello {name}")
    return f"Hello {name}"
