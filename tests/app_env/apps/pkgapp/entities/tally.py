import azure.durable_functions as df

bp = df.Blueprint()


@bp.entity_trigger(context_name="context")
def tally(context: df.DurableEntityContext) -> None:
    if context.operation_name == "add":
        context.set_state((context.get_state(lambda: 0) or 0) + context.get_input())
