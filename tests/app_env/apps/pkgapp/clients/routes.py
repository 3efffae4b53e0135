import os
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

bp = df.Blueprint()


@bp.route(route="run/{item}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    # the HTTP function also runs in the app's root: a relative read works here too
    if not Path("config/threshold.txt").exists():
        return func.HttpResponse(f"config not found from {os.getcwd()}", status_code=500)
    instance_id = await client.start_new("pipeline", None, req.route_params["item"])
    return client.create_check_status_response(req, instance_id)
