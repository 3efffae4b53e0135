"""A stand-in for the Azure CLI used by the deploy.sh tests (no Azure account, no network).

It understands just the commands scripts/deploy.sh runs. Each call is appended to
$FAKE_AZ_LOG (one JSON array of argv per line); resources created with `... create` are
remembered in $FAKE_AZ_STATE so that a later `... show` finds them, which is what makes a
second run of deploy.sh observable as idempotent. Any command it does not know fails with
exit code 2, as az does for a bad command line, so an unexpected call fails the test.

Environment: FAKE_AZ_LOGGED_OUT=1 makes `az account show` fail as when not logged in.
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
FLAGS_WITH_VALUES_ALIASES = {
    "-n": "--name",
    "-g": "--resource-group",
    "-o": "--output",
    "-l": "--location",
    "--workspace-name": "--name",
}
# Resource kinds whose show/create pairs deploy.sh uses.
KINDS = {
    "group",
    "storage account",
    "monitor log-analytics workspace",
    "resource",
    "identity",
    "functionapp",
}


def parse(argv: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    words: list[str] = []
    i = 0
    while i < len(argv) and not argv[i].startswith("-"):
        words.append(argv[i])
        i += 1
    opts: dict[str, list[str]] = {}
    key = None
    for arg in argv[i:]:
        if arg.startswith("-") and not arg.lstrip("-").isdigit():
            key = FLAGS_WITH_VALUES_ALIASES.get(arg, arg)
            opts.setdefault(key, [])
        elif key is not None:
            opts[key].append(arg)
    return words, opts


def one(opts: dict[str, list[str]], flag: str, default: str = "") -> str:
    values = opts.get(flag) or [default]
    return values[0]


def load(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    return {"resources": {}, "roles": []}


def query_value(kind: str, name: str, query: str) -> str:
    rg = "rg"
    if query == "id":
        provider = {
            "group": "",
            "storage account": "/providers/Microsoft.Storage/storageAccounts",
            "monitor log-analytics workspace": "/providers/Microsoft.OperationalInsights/workspaces",
            "resource": "/providers/Microsoft.Insights/components",
            "identity": "/providers/Microsoft.ManagedIdentity/userAssignedIdentities",
            "functionapp": "/providers/Microsoft.Web/sites",
        }[kind]
        return f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{rg}{provider}/{name}"
    if query.startswith("primaryEndpoints."):
        service = query.split(".", 1)[1]
        return f"https://{name}.{service}.core.windows.net/"
    simple = {
        "location": "westeurope",
        "clientId": f"client-{name}",
        "principalId": f"principal-{name}",
        "defaultHostName": f"{name}.azurewebsites.net",
    }
    return simple.get(query, f"<{query}>")


def fail(code: int, message: str) -> int:
    print(message, file=sys.stderr)
    return code


def main(argv: list[str]) -> int:
    log = Path(os.environ["FAKE_AZ_LOG"])
    state_path = Path(os.environ["FAKE_AZ_STATE"])
    with log.open("a") as f:
        f.write(json.dumps(argv) + "\n")
    state = load(state_path)
    words, opts = parse(argv)
    query = one(opts, "--query")
    command = " ".join(words)

    if command == "account show":
        if os.environ.get("FAKE_AZ_LOGGED_OUT") == "1":
            return fail(1, "Please run 'az login' to setup account.")
        print(SUBSCRIPTION_ID if query == "id" else json.dumps({"id": SUBSCRIPTION_ID}))
        return 0
    if command == "account set":
        return 0

    if words and words[-1] in ("show", "create") and " ".join(words[:-1]) in KINDS:
        kind = " ".join(words[:-1])
        name = one(opts, "--name")
        if not name:
            return fail(2, f"the following arguments are required: --name ({command})")
        key = f"{kind}:{name}"
        if words[-1] == "create":
            if key in state["resources"]:
                return fail(1, f"(Conflict) {key} already exists")
            state["resources"][key] = {"opts": opts}
            state_path.write_text(json.dumps(state))
        elif key not in state["resources"]:
            return fail(3, f"(ResourceNotFound) {key} was not found.")
        if query:
            print(query_value(kind, name, query))
        return 0

    if command == "role assignment list":
        wanted = [one(opts, "--assignee-object-id"), one(opts, "--role"), one(opts, "--scope")]
        print(sum(1 for r in state["roles"] if r == wanted))
        return 0
    if command == "role assignment create":
        if one(opts, "--assignee-principal-type") != "ServicePrincipal":
            return fail(2, "expected --assignee-principal-type ServicePrincipal")
        state["roles"].append([one(opts, "--assignee-object-id"), one(opts, "--role"), one(opts, "--scope")])
        state_path.write_text(json.dumps(state))
        return 0

    if command == "functionapp deployment source config-zip":
        src = Path(one(opts, "--src"))
        if not zipfile.is_zipfile(src):
            return fail(1, f"{src} is not a zip file")
        return 0
    if command in (
        "storage account update",
        "functionapp config appsettings set",
        "functionapp config appsettings delete",
        "functionapp function list",
    ):
        return 0
    return fail(2, f"fake az: unknown command '{command}'")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
