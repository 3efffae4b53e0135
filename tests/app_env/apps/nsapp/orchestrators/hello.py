import azure.durable_functions as df

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
def hello(context: df.DurableOrchestrationContext):
    result = yield context.call_activity("greet", context.get_input()["name"])
    return result
