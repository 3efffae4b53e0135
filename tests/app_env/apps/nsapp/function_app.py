"""A v2 Durable Functions app whose functions live in namespace packages (no __init__.py)
named like durable_local's own repository folders, and which reads a file by relative path."""

import json

import azure.durable_functions as df
import azure.functions as func

from activities import greet
from orchestrators import hello

# module-level read by relative path: the worker imports the app with its root as cwd
SETTINGS = json.loads(open("config/params.json", encoding="utf-8").read())  # noqa: SIM115

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(greet.bp)
app.register_functions(hello.bp)
