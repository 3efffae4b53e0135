import json
import os
from pathlib import Path

import azure.durable_functions as df

from bench import marker

bp = df.Blueprint()


@bp.activity_trigger(input_name="name")
def greet(name: str) -> dict:
    params = json.loads(Path("config/params.json").read_text(encoding="utf-8"))
    Path("logs").mkdir(exist_ok=True)  # a relative folder, as app loggers create
    with open("logs/greet.log", "a", encoding="utf-8") as log:
        log.write(f"{name}\n")
    return {"greeting": f"{params['greeting']}, {name}", "cwd": os.getcwd(), "pid": os.getpid(),
            "marker": marker.VALUE}
