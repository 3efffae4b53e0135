"""The benchmark app: echo chains, fan-out/fan-in, an event waiter, a counter entity.

A plain Python v2-model Durable Functions app; it runs unmodified on the real Functions
host, on durable_local, and (rewritten for its API) on durabletask-python (bench/peers.py).
"""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.activity_trigger(input_name="value")
def echo(value):
    return value


@app.activity_trigger(input_name="size")
def blob(size: int):
    return "x" * int(size)


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    """``n`` sequential echo activities (W1, W2, W4, W5)."""
    n = int(context.get_input() or 0)
    total = 0
    for i in range(n):
        total += yield context.call_activity("echo", i)
    return total


@app.orchestration_trigger(context_name="context")
def fan(context: df.DurableOrchestrationContext):
    """``n`` parallel echo activities, then fan-in (W6, W7)."""
    n = int(context.get_input() or 0)
    results = yield context.task_all([context.call_activity("echo", i) for i in range(n)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def waiter(context: df.DurableOrchestrationContext):
    """Waits for ``n`` external events named "e", one after the other (W9)."""
    n = int(context.get_input() or 0)
    total = 0
    for _ in range(n):
        total += yield context.wait_for_external_event("e")
    return total


@app.orchestration_trigger(context_name="context")
def big(context: df.DurableOrchestrationContext):
    """One activity returning ``size`` bytes of text (W12)."""
    text = yield context.call_activity("blob", int(context.get_input() or 0))
    return len(text)


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext):
    """add(n) / get (W10)."""
    state = context.get_state() or 0  # (the SDK json-decodes an initializer's value)
    if context.operation_name == "add":
        state += int(context.get_input() or 1)
    elif context.operation_name == "get":
        context.set_result(state)
    context.set_state(state)
