import os
from pathlib import Path

import azure.durable_functions as df
from tests.fixtures import SOURCE

from domain.rules import label

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
def pipeline(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("record", context.get_input())
    context.signal_entity(df.EntityId("tally", "runs"), "add", 1)
    return first


@bp.activity_trigger(input_name="item")
def record(item: str) -> dict:
    Path("out").mkdir(exist_ok=True)
    Path("out", f"{item}.txt").write_text(label(item), encoding="utf-8")
    return {"label": label(item), "cwd": os.getcwd(), "source": SOURCE,
            "threshold": Path("config/threshold.txt").read_text(encoding="utf-8").strip()}
