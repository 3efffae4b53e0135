"""A v2 Durable Functions app with regular packages named like durable_local's repository
folders (activities, clients, domain, entities, tests), started through its own HTTP route."""

import azure.durable_functions as df
import azure.functions as func

from activities import work
from clients import routes
from entities import tally

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(work.bp)
app.register_functions(routes.bp)
app.register_functions(tally.bp)
