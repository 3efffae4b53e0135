"""Orchestrators with one problem per line (markers name the expected code)."""

import threading
import time
import uuid

import azure.durable_functions as df
import requests

from badflows import helpers
from badflows.helpers import COUNTER, MISSING_ENTITY, steps

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
def Bad(context: df.DurableOrchestrationContext):
    started = time.time()  # DL003
    key = uuid.uuid4()  # DL005
    body = requests.get("https://example.com").text  # DL007
    with open("/tmp/x") as fh:  # DL007
        fh.read()
    threading.Thread(target=print).start()  # DL009
    time.sleep(1)  # DL004
    helpers.stamp()
    helpers.pick([1, 2])
    steps(context)  # DL002
    yield steps(context)  # DL002
    ok = yield from steps(context)
    yield context.call_activity("Unknown", key)  # DL010
    yield context.call_sub_orchestrator("Bad2", body)  # DL010
    yield context.call_entity(df.EntityId(MISSING_ENTITY, "k"), "add", 1)  # DL010
    yield context.call_entity(df.EntityId(COUNTER, "k"), "add", 1)
    return [started, ok]


@bp.orchestration_trigger(context_name="context")
async def AsyncBad(context: df.DurableOrchestrationContext):  # DL001
    return None
