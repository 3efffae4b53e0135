"""Offline checks of the infrastructure as code: infra/*.bicep parse (pycep-parser) and
declare what a key-less Flex Consumption Durable Functions app needs; the azd files
(azure.yaml, infra/main.parameters.json) parse and agree with the Bicep; the Python
version is the same everywhere.

pycep-parser gives a syntax tree, not a compiled ARM template: it proves that the files
parse and lets these tests look at every resource, setting and reference, but it does not
type-check against the resource providers' schemas (only `az bicep build` / a deployment
does that; see docs/DEPLOY.md).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pycep import BicepParser

from tests.deploy.expected import APP_SETTINGS, ROLE_GUIDS

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
MAIN = INFRA / "main.bicep"
RESOURCES = INFRA / "app" / "resources.bicep"

# App settings that Flex Consumption rejects or ignores (its functionAppConfig replaces them).
FLEX_UNSUPPORTED_SETTINGS = {
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY",
    "FUNCTIONS_WORKER_PROCESS_COUNT",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTOVERVNET",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_DNS_SERVER",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
    "WEBSITE_NODE_DEFAULT_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
    "WEBSITE_VNET_ROUTE_ALL",
    "AzureWebJobsDashboard",
}


@cache
def parser() -> BicepParser:
    return BicepParser(cache=False)


@cache
def parsed(path: Path) -> dict[str, Any]:
    return parser().parse(file_path=path)


def resources_of(path: Path) -> dict[str, dict[str, Any]]:
    return parsed(path)["resources"]


def by_type(type_: str) -> list[tuple[str, dict[str, Any]]]:
    return [(name, r) for name, r in resources_of(RESOURCES).items() if r["type"] == type_]


def single(type_: str) -> tuple[str, dict[str, Any]]:
    found = by_type(type_)
    assert len(found) == 1, f"expected one {type_}, found {[n for n, _ in found]}"
    return found[0]


def accessor(expr: Any) -> list[str]:
    """`a.b.c` as ['a', 'b', 'c'] (pycep nests property accessors to the right)."""
    if isinstance(expr, str):
        return [expr]
    op = expr.get("operator", {}) if isinstance(expr, dict) else {}
    assert op.get("type") == "property_accessor", expr
    return [op["operands"]["operand_1"], *accessor(op["operands"]["operand_2"])]


def variable(path: Path, name: str) -> Any:
    return parsed(path)["variables"][name]["value"]


def site_settings() -> dict[str, Any]:
    _, site = single("Microsoft.Web/sites")
    return {s["name"]: s["value"] for s in site["config"]["properties"]["siteConfig"]["appSettings"]}


def test_bicep_files_parse() -> None:
    bicep_files = sorted(INFRA.rglob("*.bicep"))
    assert MAIN in bicep_files and RESOURCES in bicep_files
    for path in bicep_files:
        tree = parsed(path)
        assert tree.get("resources") or tree.get("modules"), path


def test_main_is_subscription_scoped_and_calls_the_resources_module() -> None:
    tree = parsed(MAIN)
    assert tree["globals"]["scope"]["value"] == "subscription"
    (rg_name, rg) = next(iter(tree["resources"].items()))
    assert rg["type"] == "Microsoft.Resources/resourceGroups"
    (module,) = tree["modules"].values()
    assert (INFRA / module["detail"]["path"]).resolve() == RESOURCES.resolve()
    assert module["config"]["scope"] == rg_name
    # The module gets exactly the parameters it declares, and every required one.
    declared = parsed(RESOURCES)["parameters"]
    passed = set(module["config"]["params"])
    assert passed <= set(declared), passed - set(declared)
    required = {n for n, p in declared.items() if p["default"] is None}
    assert required <= passed, required - passed
    # azd tags the resource group with the environment name.
    assert "azd-env-name" in str(variable(MAIN, "tags"))


def test_function_app_is_flex_consumption_linux_python_311() -> None:
    _, plan = single("Microsoft.Web/serverfarms")
    assert plan["config"]["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["config"]["properties"]["reserved"] is True

    _, site = single("Microsoft.Web/sites")
    config = site["config"]
    assert config["kind"] == "functionapp,linux"
    props = config["properties"]
    assert accessor(props["serverFarmId"]) == [next(n for n, _ in by_type("Microsoft.Web/serverfarms")), "id"]
    assert props["httpsOnly"] is True
    fac = props["functionAppConfig"]
    assert fac["runtime"] == {"name": "python", "version": "3.11"}
    assert fac["deployment"]["storage"]["type"] == "blobContainer"
    auth = fac["deployment"]["storage"]["authentication"]
    assert auth["type"] == "UserAssignedIdentity"
    identity_name, _ = single("Microsoft.ManagedIdentity/userAssignedIdentities")
    assert accessor(auth["userAssignedIdentityResourceId"]) == [identity_name, "id"]
    # azd finds the deploy target by this tag; it must match the service in azure.yaml.
    assert "'azd-service-name'" in json.dumps(config["tags"])
    assert "api" in azure_yaml()["services"]


def test_storage_account_refuses_keys() -> None:
    _, storage = single("Microsoft.Storage/storageAccounts")
    props = storage["config"]["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"


def test_application_insights_with_log_analytics() -> None:
    ws_name, _ = single("Microsoft.OperationalInsights/workspaces")
    _, appi = single("Microsoft.Insights/components")
    assert accessor(appi["config"]["properties"]["WorkspaceResourceId"]) == [ws_name, "id"]
    settings = site_settings()
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in settings
    if appi["config"]["properties"].get("DisableLocalAuth"):
        assert "Authorization=AAD" in settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]


def test_storage_role_assignments_for_the_app_identity() -> None:
    storage_name, _ = single("Microsoft.Storage/storageAccounts")
    identity_name, _ = single("Microsoft.ManagedIdentity/userAssignedIdentities")
    role_ids = variable(RESOURCES, "roleIds")
    on_storage = {}
    for name, ra in by_type("Microsoft.Authorization/roleAssignments"):
        props = ra["config"]["properties"]
        fn = props["roleDefinitionId"]["function"]
        assert fn["type"] == "subscription_resource_id"
        assert fn["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
        ref = accessor(fn["parameters"]["resource_name_1"])
        guid = role_ids[ref[1]] if ref[0] == "roleIds" else ref[0]
        assert accessor(props["principalId"]) == [identity_name, "properties", "principalId"], name
        assert props["principalType"] == "ServicePrincipal"
        # Deterministic assignment names keep re-deployments idempotent.
        assert ra["config"]["name"]["function"]["type"] == "guid"
        if ra["config"]["scope"] == storage_name:
            on_storage[guid] = name
    assert set(on_storage) == set(ROLE_GUIDS.values())

    # The app runs as that identity, and starts only after the roles exist.
    _, site = single("Microsoft.Web/sites")
    identity = site["config"]["identity"]
    assert identity["type"] == "UserAssigned"
    assert list(identity["userAssignedIdentities"]) == [f"'${{{identity_name}.id}}'"]
    assert set(on_storage.values()) <= set(site["config"]["dependsOn"])


def test_host_storage_is_identity_based() -> None:
    storage_name, _ = single("Microsoft.Storage/storageAccounts")
    identity_name, _ = single("Microsoft.ManagedIdentity/userAssignedIdentities")
    settings = site_settings()
    assert "AzureWebJobsStorage" not in settings  # the connection-string form
    assert accessor(settings["AzureWebJobsStorage__accountName"]) == [storage_name, "name"]
    for service in ("blob", "queue", "table"):
        assert accessor(settings[f"AzureWebJobsStorage__{service}ServiceUri"]) == [
            storage_name,
            "properties",
            "primaryEndpoints",
            service,
        ]
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert accessor(settings["AzureWebJobsStorage__clientId"]) == [identity_name, "properties", "clientId"]


def test_no_keys_or_connection_strings_anywhere() -> None:
    for path in INFRA.rglob("*"):
        if path.is_file():
            text = path.read_text()
            for forbidden in ("AccountKey", "listKeys", "DefaultEndpointsProtocol", "SharedAccessSignature"):
                assert forbidden not in text, f"{forbidden} in {path}"
    assert not FLEX_UNSUPPORTED_SETTINGS & set(site_settings())


def test_app_settings_the_app_reads() -> None:
    settings = site_settings()
    for name in APP_SETTINGS:
        assert name in settings, name
    params = parsed(RESOURCES)["parameters"]
    for name, value in settings.items():
        if name in APP_SETTINGS and isinstance(value, str):
            assert value in params, f"{name} should come from a parameter, got {value!r}"


def test_main_parameters_match_main_bicep() -> None:
    doc = json.loads((INFRA / "main.parameters.json").read_text())
    assert doc["contentVersion"] == "1.0.0.0"
    given = doc["parameters"]
    declared = parsed(MAIN)["parameters"]
    assert set(given) <= set(declared), set(given) - set(declared)
    required = {n for n, p in declared.items() if p["default"] is None}
    assert required <= set(given), required - set(given)
    assert given["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert given["location"]["value"] == "${AZURE_LOCATION}"
    for name, entry in given.items():
        value = entry["value"]
        assert re.fullmatch(r"\$\{[A-Z_]+(=[^}]*)?\}", value), (name, value)
        default = value[2:-1].partition("=")[2]
        if declared[name]["type"] == "string" and name.startswith("approval"):
            assert default.isdigit(), (name, default)  # main.bicep int()s them


def test_bicep_defaults_match_deploy_script() -> None:
    """The two deployment paths configure the app the same way by default."""
    script = (REPO / "scripts" / "deploy.sh").read_text()
    declared = parsed(MAIN)["parameters"]
    pairs = {
        "TASK_HUB_NAME": "taskHubName",
        "APPROVAL_THRESHOLD_CENTS": "approvalThresholdCents",
        "APPROVAL_TIMEOUT_HOURS": "approvalTimeoutHours",
        "PAYMENT_ADAPTER": "paymentAdapter",
        "CARRIER_ADAPTER": "carrierAdapter",
        "NOTIFICATION_ADAPTER": "notificationAdapter",
        "SANDBOX_DATA_DIR": "sandboxDataDir",
    }
    for env, param in pairs.items():
        m = re.search(r'="\$\{' + env + r":-([^}]*)\}\"", script)
        assert m, f"deploy.sh has no default for {env}"
        assert str(declared[param]["default"]) == m.group(1), env


@cache
def azure_yaml() -> dict[str, Any]:
    return yaml.safe_load((REPO / "azure.yaml").read_text())


def test_azure_yaml_points_at_the_app() -> None:
    doc = azure_yaml()
    assert doc["name"]
    (service,) = doc["services"].values()
    assert service["project"] in (".", "./")
    assert service["language"] in ("python", "py")
    assert service["host"] == "function"
    app_dir = (REPO / service["project"]).resolve()
    assert app_dir == REPO
    for required in ("requirements.txt", ".funcignore"):
        assert (app_dir / required).is_file(), required
    infra = doc["infra"]
    assert infra["provider"] == "bicep"
    assert (REPO / infra["path"] / f"{infra['module']}.bicep").is_file()
    assert (REPO / infra["path"] / f"{infra['module']}.parameters.json").is_file()


def test_python_version_is_311_everywhere() -> None:
    _, site = single("Microsoft.Web/sites")
    assert site["config"]["properties"]["functionAppConfig"]["runtime"]["version"] == "3.11"
    script = (REPO / "scripts" / "deploy.sh").read_text()
    assert 'PYTHON_VERSION="${PYTHON_VERSION:-3.11}"' in script
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci-deploy.yml").read_text())
    versions = {
        step["with"]["python-version"]
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "setup-python" in step.get("uses", "")
    }
    assert versions == {"3.11"}
    # requirements.txt: azure-functions 2.x needs Python 3.13+, so it must allow 1.x.
    reqs = (REPO / "requirements.txt").read_text()
    assert re.search(r"^azure-functions>=1\.", reqs, flags=re.M)


def test_ci_deploy_workflow() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci-deploy.yml").read_text())
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as True
    assert "pull_request" in triggers
    assert "v*" in triggers["push"]["tags"]
    assert workflow["permissions"]["id-token"] == "write"  # OIDC for azure/login
    text = (REPO / ".github" / "workflows" / "ci-deploy.yml").read_text()
    assert "make test" in text
    assert "azure/login@" in text
    assert "scripts/deploy.sh" in text
    assert "client-secret" not in text and "creds:" not in text  # OIDC only, no stored secret
    deploy = workflow["jobs"]["deploy"]
    assert "startsWith(github.ref, 'refs/tags/v')" in deploy["if"]
    assert "test" in (deploy["needs"] if isinstance(deploy["needs"], list) else [deploy["needs"]])


@pytest.mark.parametrize(
    "name", ["durable_local", "tests", "bench", ".venv", "local.settings.json", "infra", "scripts"]
)
def test_funcignore_keeps_local_tooling_out(name: str) -> None:
    lines = {line.strip().rstrip("/") for line in (REPO / ".funcignore").read_text().splitlines()}
    assert name in lines


def test_defaults_match_local_settings_example() -> None:
    """Azure gets the same app configuration as a local run (the storage dir aside)."""
    example = REPO / "local.settings.json.example"
    if not example.is_file():
        pytest.skip("local.settings.json.example not written yet")
    values = json.loads(example.read_text())["Values"]
    declared = parsed(MAIN)["parameters"]
    pairs = {
        "TASK_HUB_NAME": "taskHubName",
        "APPROVAL_THRESHOLD_CENTS": "approvalThresholdCents",
        "APPROVAL_TIMEOUT_HOURS": "approvalTimeoutHours",
        "PAYMENT_ADAPTER": "paymentAdapter",
        "CARRIER_ADAPTER": "carrierAdapter",
        "NOTIFICATION_ADAPTER": "notificationAdapter",
    }
    for setting, param in pairs.items():
        if setting in values:
            assert str(declared[param]["default"]) == values[setting], setting
