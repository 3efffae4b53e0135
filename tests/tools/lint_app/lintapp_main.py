"""A deliberately bad app for the linter tests (loaded with PYTHON_SCRIPT_FILE_NAME=lintapp_main.py)."""

import azure.durable_functions as df
import azure.functions as func
from badflows import bad

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(bad.bp)


@app.activity_trigger(input_name="x")
def Known(x: str) -> str:
    return x


@app.entity_trigger(context_name="context")
def Counter(context: df.DurableEntityContext) -> None:
    context.set_state(0)
