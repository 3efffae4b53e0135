"""Offline checks of scripts/deploy.sh: syntax, help, preflight failures, and two full runs
against a fake `az` (tests/deploy/fake_az.py) that prove the command sequence and that a
re-run creates nothing.

An optional slow check replays the recorded command lines through a real Azure CLI that
is *not* logged in (an empty AZURE_CONFIG_DIR), so az parses every argument and then stops
at authentication: an unknown flag or a missing required argument fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.deploy.expected import APP_SETTINGS, ROLE_GUIDS

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "deploy.sh"
FAKE_AZ = Path(__file__).with_name("fake_az.py")

# Variables deploy.sh reads as defaults; cleared so the developer's shell cannot leak in.
SCRIPT_ENV_VARS = (
    "AZURE_RESOURCE_GROUP",
    "AZURE_LOCATION",
    "AZURE_SUBSCRIPTION_ID",
    "FUNCTION_APP_NAME",
    "STORAGE_ACCOUNT_NAME",
    "PYTHON_VERSION",
    "INSTANCE_MEMORY_MB",
    "MAXIMUM_INSTANCE_COUNT",
    "PUBLISH_METHOD",
    "PYTHON",
    *APP_SETTINGS,
)


class FakeAz:
    def __init__(self, tmp: Path):
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.log = tmp / "az-calls.jsonl"
        self.state = tmp / "az-state.json"
        wrapper = self.bin / "az"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_AZ}" "$@"\n')
        wrapper.chmod(0o755)
        self.zip = tmp / "app.zip"
        with zipfile.ZipFile(self.zip, "w") as zf:
            zf.writestr("function_app.py", "import azure.functions\n")

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in SCRIPT_ENV_VARS}
        env.update(PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}", FAKE_AZ_LOG=str(self.log))
        env.update(FAKE_AZ_STATE=str(self.state))
        env.update(extra)
        return env

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPT), *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def reset_log(self) -> None:
        self.log.unlink(missing_ok=True)


def _words(call: list[str]) -> str:
    return " ".join(w for w in (call[: next((i for i, a in enumerate(call) if a.startswith("-")), len(call))]))


def _opt(call: list[str], flag: str) -> list[str]:
    """Values following `flag` up to the next option."""
    if flag not in call:
        return []
    out = []
    for arg in call[call.index(flag) + 1 :]:
        if arg.startswith("--"):
            break
        out.append(arg)
    return out


@pytest.fixture
def fake_az(tmp_path: Path) -> FakeAz:
    return FakeAz(tmp_path)


def test_bash_syntax() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (optional: apt-get install shellcheck)")
    proc = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_help_lists_every_parameter(fake_az: FakeAz) -> None:
    proc = fake_az.run("--help")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    # Every option the parser accepts is documented.
    source = SCRIPT.read_text()
    parsed = set(re.findall(r"^\s+(?:-\w \| )?(--[a-z-]+)\)", source, flags=re.M))
    assert len(parsed) > 15
    for option in parsed:
        assert option in text, f"{option} missing from --help"
    for setting in APP_SETTINGS:
        assert setting in text
    assert fake_az.calls() == [], "--help must not call az"


def test_fails_early_without_az(tmp_path: Path) -> None:
    # A PATH with only what the script needs before its az check: no az anywhere.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname",):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    bash = shutil.which("bash")
    assert bash
    proc = subprocess.run(
        [bash, str(SCRIPT), "--location", "westeurope"],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "'az' is not installed" in proc.stderr


def test_fails_early_when_not_logged_in(fake_az: FakeAz) -> None:
    proc = fake_az.run("--location", "westeurope", FAKE_AZ_LOGGED_OUT="1")
    assert proc.returncode != 0
    assert "not logged in" in proc.stderr and "az login" in proc.stderr
    assert [_words(c) for c in fake_az.calls()] == ["account show"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--approval-threshold", "12.5"], "whole number of cents"),
        (["--approval-timeout", "soon"], "whole number of hours"),
        (["--task-hub", "bad-hub!"], "task-hub"),
        (["--publish-method", "ftp"], "publish-method"),
        (["--bogus"], "unknown argument"),
        (["--name"], "needs a value"),
    ],
)
def test_rejects_bad_input_before_calling_az(fake_az: FakeAz, args: list[str], message: str) -> None:
    proc = fake_az.run("--location", "westeurope", *args)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert fake_az.calls() == []


def _deploy(fake_az: FakeAz, *extra: str) -> subprocess.CompletedProcess[str]:
    proc = fake_az.run(
        "--resource-group",
        "rg-orders-test",
        "--name",
        "func-orders-test",
        "--package",
        str(fake_az.zip),
        *extra,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_first_run_creates_everything_keyless(fake_az: FakeAz) -> None:
    _deploy(fake_az, "--location", "westeurope", "--approval-threshold", "25000")
    calls = fake_az.calls()
    words = [_words(c) for c in calls]
    creates = [w for w in words if w.endswith(" create")]
    assert creates == [
        "group create",
        "storage account create",
        "monitor log-analytics workspace create",
        "resource create",
        "identity create",
        "role assignment create",
        "role assignment create",
        "role assignment create",
        "role assignment create",
        "functionapp create",
    ]
    # Every create is preceded by a show of the same resource.
    for i, w in enumerate(words):
        if w.endswith(" create") and not w.startswith("role assignment"):
            assert w.replace(" create", " show") in words[:i], w

    (storage,) = [c for c in calls if _words(c) == "storage account create"]
    assert _opt(storage, "--allow-shared-key-access") == ["false"]
    assert _opt(storage, "--allow-blob-public-access") == ["false"]

    (app,) = [c for c in calls if _words(c) == "functionapp create"]
    assert _opt(app, "--runtime") == ["python"]
    assert _opt(app, "--runtime-version") == ["3.11"]
    assert _opt(app, "--functions-version") == ["4"]
    assert _opt(app, "--flexconsumption-location") == ["westeurope"]
    assert _opt(app, "--deployment-storage-auth-type") == ["UserAssignedIdentity"]

    storage_id = (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg"
        "/providers/Microsoft.Storage/storageAccounts/"
    )
    roles = [c for c in calls if _words(c) == "role assignment create"]
    storage_roles = {_opt(c, "--role")[0] for c in roles if _opt(c, "--scope")[0].startswith(storage_id)}
    assert storage_roles == set(ROLE_GUIDS.values())
    principals = {_opt(c, "--assignee-object-id")[0] for c in roles}
    assert principals == {"principal-id-func-orders-test"}
    # Roles are in place before the app (and its host) is created.
    assert words.index("functionapp create") > max(i for i, w in enumerate(words) if w == "role assignment create")

    (settings_call,) = [c for c in calls if _words(c) == "functionapp config appsettings set"]
    settings = dict(s.split("=", 1) for s in _opt(settings_call, "--settings"))
    assert settings["AzureWebJobsStorage__accountName"].startswith("storders")
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "client-id-func-orders-test"
    for service in ("blob", "queue", "table"):
        assert settings[f"AzureWebJobsStorage__{service}ServiceUri"].startswith("https://")
    assert "AzureWebJobsStorage" not in settings
    for setting in APP_SETTINGS:
        assert setting in settings
    assert settings["APPROVAL_THRESHOLD_CENTS"] == "25000"
    assert settings["TASK_HUB_NAME"] == "DurableOrdersHub"
    flat = " ".join(" ".join(c) for c in calls)
    assert "AccountKey" not in flat and "DefaultEndpointsProtocol" not in flat
    assert "SCM_DO_BUILD_DURING_DEPLOYMENT" not in settings  # Flex Consumption rejects it

    (delete,) = [c for c in calls if _words(c) == "functionapp config appsettings delete"]
    assert "AzureWebJobsStorage" in _opt(delete, "--setting-names")

    (zipdeploy,) = [c for c in calls if _words(c) == "functionapp deployment source config-zip"]
    assert _opt(zipdeploy, "--build-remote") == ["true"]
    assert _opt(zipdeploy, "--src") == [str(fake_az.zip)]
    assert words.index("functionapp deployment source config-zip") > words.index(
        "functionapp config appsettings delete"
    )


def test_rerun_is_idempotent(fake_az: FakeAz) -> None:
    _deploy(fake_az, "--location", "westeurope")
    fake_az.reset_log()
    # Second run without --location: it is read from the existing resource group.
    _deploy(fake_az)
    words = [_words(c) for c in fake_az.calls()]
    assert not [w for w in words if w.endswith(" create")], words
    assert "storage account update" in words
    assert "functionapp config appsettings set" in words
    assert "functionapp deployment source config-zip" in words


def test_skip_code_and_skip_infra(fake_az: FakeAz) -> None:
    _deploy(fake_az, "--location", "westeurope", "--skip-code")
    words = [_words(c) for c in fake_az.calls()]
    assert "functionapp create" in words
    assert "functionapp deployment source config-zip" not in words
    fake_az.reset_log()
    _deploy(fake_az, "--skip-infra")
    words = [_words(c) for c in fake_az.calls()]
    assert not [w for w in words if w.endswith((" create", " update", "appsettings set"))]
    assert "functionapp deployment source config-zip" in words


def test_skip_infra_fails_clearly_when_app_missing(fake_az: FakeAz) -> None:
    proc = fake_az.run("--name", "func-missing", "--skip-infra", "--package", str(fake_az.zip))
    assert proc.returncode != 0
    assert "func-missing not found" in proc.stderr


def _real_az() -> str | None:
    candidate = os.environ.get("DEPLOY_TEST_REAL_AZ") or shutil.which("az")
    return candidate if candidate and Path(candidate).exists() else None


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_recorded_commands_parse_with_real_az(fake_az: FakeAz, tmp_path: Path) -> None:
    """Each command deploy.sh ran is accepted by the real az argument parser."""
    real_az = _real_az()
    if real_az is None:
        pytest.skip("Azure CLI not installed (set DEPLOY_TEST_REAL_AZ=/path/to/az to run this)")
    _deploy(fake_az, "--location", "westeurope")
    config_dir = tmp_path / "empty-az-config"  # never logged in: nothing can reach Azure
    config_dir.mkdir()
    env = dict(os.environ, AZURE_CONFIG_DIR=str(config_dir), AZURE_CORE_COLLECT_TELEMETRY="no")
    env.pop("AZURE_SUBSCRIPTION_ID", None)
    seen = set()
    for call in fake_az.calls():
        if _words(call) in seen:
            continue
        seen.add(_words(call))
        proc = subprocess.run([real_az, *call], env=env, capture_output=True, text=True, timeout=120, check=False)
        err = proc.stderr
        assert "unrecognized arguments" not in err, (call, err)
        assert "the following arguments are required" not in err, (call, err)
        assert "is not in the" not in err and "invalid choice" not in err, (call, err)
        assert proc.returncode != 2, (call, err)
