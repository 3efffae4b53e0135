"""A test app for timer triggers, admin invoke and disabled functions (tests/triggers).

Every function appends one JSON line to the file named by ``TRIGGER_TEST_LOG``, so tests see
each execution. Schedules come from app settings so that each test picks its own.
"""

import json
import os

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def record(function: str, **fields: object) -> None:
    with open(os.environ["TRIGGER_TEST_LOG"], "a", encoding="utf-8") as f:
        f.write(json.dumps({"fn": function, **fields}) + "\n")


@app.timer_trigger(schedule="%SCHEDULE_A%", arg_name="timer")
def timer_a(timer: func.TimerRequest) -> None:
    record("timer_a", past_due=timer.past_due, status=timer.schedule_status)


@app.timer_trigger(schedule="%SCHEDULE_B%", arg_name="timer", run_on_startup=True, use_monitor=False)
def startup_timer(timer: func.TimerRequest) -> None:
    record("startup_timer", past_due=timer.past_due)


@app.timer_trigger(schedule="%SCHEDULE_C%", arg_name="timer")
@app.durable_client_input(client_name="client")
async def timer_starter(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    instance_id = await client.start_new("greet", client_input="timer")
    record("timer_starter", instance_id=instance_id)


@app.orchestration_trigger(context_name="context")
def greet(context: df.DurableOrchestrationContext):
    name = context.get_input()
    try:
        greeting = yield context.call_activity("say_hello", name)
    except Exception as exc:  # a disabled activity fails the task, not the orchestration
        greeting = f"failed: {exc}"
    try:
        count = yield context.call_entity(df.EntityId("counter", "c"), "add", 1)
    except Exception as exc:
        count = f"failed: {exc}"
    return {"greeting": greeting, "count": count}


@app.activity_trigger(input_name="name")
def say_hello(name: str) -> str:
    record("say_hello", input=name)
    return f"Hello {name}"


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext) -> None:
    value = (context.get_state(lambda: 0) or 0) + context.get_input()
    context.set_state(value)
    context.set_result(value)


@app.service_bus_queue_trigger(arg_name="msg", queue_name="orders", connection="SERVICE_BUS")
def on_service_bus(msg: func.ServiceBusMessage) -> None:
    record("on_service_bus", body=msg.get_body().decode())


@app.route(route="ping", methods=["GET"])
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")
