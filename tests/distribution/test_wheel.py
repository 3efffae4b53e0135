"""The durable-local distribution as a user gets it: the wheel, installed into a fresh venv.

- the wheel holds durable_local (with the dashboard's assets), the ``durable-local`` script
  and the pytest11 entry point, and nothing of the order app or the tests;
- a fresh venv (no system site-packages, PYTHONPATH cleared, cwd outside the repository) with
  only the wheel and a samples-v2 app's own requirements.txt runs ``durable-local start`` in
  that app's folder, driven over HTTP, then runs a pytest file written here that uses the
  ``durable_host`` fixture on the same app (a virtual-clock step and a raised event).

One wheel and one venv for the whole module.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import durable_local
from tests.conformance.sdist import samples_v2

REPO = Path(__file__).resolve().parents[2]
SAMPLE = "orchestration_versioning"  # waits for an external event "Continue"
# Copied to build from: everything a clone has, minus caches and local state.
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", ".azurite", ".durable", ".sandbox", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
)
APP_FOLDERS = ("orchestrators", "activities", "entities", "clients", "domain", "tests", "bench", "scripts", "infra")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build --wheel`` of a copy of the checkout (the checkout stays untouched)."""
    src = tmp_path_factory.mktemp("src") / "repo"
    shutil.copytree(REPO, src, ignore=NOT_COPIED, symlinks=True)
    out = tmp_path_factory.mktemp("wheel")
    # --no-isolation: setuptools and build come from requirements-dev.txt, no index needed here
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (found,) = out.glob("durable_local-*.whl")
    return found


def test_the_wheel_holds_durable_local_and_nothing_of_the_app(wheel: Path) -> None:
    assert wheel.name == f"durable_local-{durable_local.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        dist_info = f"durable_local-{durable_local.__version__}.dist-info"
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
        metadata = zf.read(f"{dist_info}/METADATA").decode()
    top = {n.split("/", 1)[0] for n in names}
    assert top == {"durable_local", dist_info}, top
    for folder in APP_FOLDERS:
        assert not any(n.startswith(f"{folder}/") for n in names), folder
    assert "function_app.py" not in names
    sources = {p.relative_to(REPO).as_posix() for p in (REPO / "durable_local").rglob("*.py")}
    assert sources <= set(names), sorted(sources - set(names))
    static = {p.relative_to(REPO).as_posix() for p in (REPO / "durable_local/dashboard/static").iterdir()}
    assert static and static <= set(names), sorted(static - set(names))
    assert "durable_local/py.typed" in names
    assert "durable-local = durable_local.cli:main" in entry_points
    assert "[pytest11]" in entry_points and "durable_local = durable_local.testing.plugin" in entry_points
    assert "Name: durable-local" in metadata
    assert "Provides-Extra: azure" in metadata
    requires = [r for r in metadata.splitlines() if r.startswith("Requires-Dist: ")]
    # the Azure Storage clients only with the extra; the host's own needs always
    for name in ("azure-data-tables", "azure-storage-queue", "azure-storage-blob"):
        (line,) = [r for r in requires if r.startswith(f"Requires-Dist: {name}")]
        assert 'extra == "azure"' in line, line
    for name in ("aiohttp", "azure-functions-durable"):
        (line,) = [r for r in requires if r.startswith(f"Requires-Dist: {name}")]
        assert "extra" not in line and "<" in line, line  # a range, not a pin or nothing


# -- a fresh venv -------------------------------------------------------------------------------------


class FreshVenv:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "venv" / "bin"
        self.python = self.bin / "python"
        self.home = root / "home"
        self.home.mkdir(exist_ok=True)

    def env(self, **extra: str) -> dict[str, str]:
        """A bare environment: no PYTHONPATH, no VIRTUAL_ENV, nothing of this repo's venv on PATH."""
        path = os.pathsep.join([str(self.bin), "/usr/local/bin", "/usr/bin", "/bin"])
        return {"PATH": path, "HOME": str(self.home), "LANG": "C.UTF-8", **extra}

    def run(self, *args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=timeout, check=False
        )


@pytest.fixture(scope="module")
def sample_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample app in a folder of its own, with a local.settings.json as `func new` writes it
    plus Host.LocalHttpPort (a free port rather than 7071: other hosts may run on this machine)."""
    app = tmp_path_factory.mktemp("apps") / SAMPLE
    shutil.copytree(samples_v2() / SAMPLE, app, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    settings = {
        "IsEncrypted": False,
        "Values": {"FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsStorage": "UseDevelopmentStorage=true"},
        "Host": {"LocalHttpPort": _free_port()},
    }
    (app / "local.settings.json").write_text(json.dumps(settings, indent=2))
    return app


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, sample_app: Path, tmp_path_factory: pytest.TempPathFactory) -> FreshVenv:
    """A venv with only the wheel and the sample app's own requirements.txt, from PyPI."""
    fresh = FreshVenv(tmp_path_factory.mktemp("fresh"))
    venv.EnvBuilder(with_pip=False, clear=True, system_site_packages=False).create(fresh.root / "venv")
    # this interpreter's pip installs into the new venv (pip --python): no ensurepip run
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(fresh.python),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(wheel),
            "-r",
            str(sample_app / "requirements.txt"),
        ],
        cwd=fresh.root,
        env={**fresh.env(), **{k: v for k, v in os.environ.items() if k.startswith("PIP_")}},
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    return fresh


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            code, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        code, text = e.code, e.read().decode()
    return code, (json.loads(text) if text else None)


def _poll(url: str, done: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: Any = None
    while time.monotonic() < deadline:
        _, body = _call("GET", url)
        if isinstance(body, dict) and done(body):
            return body
        time.sleep(0.1)
    raise AssertionError(f"no expected status after {timeout}s: {body}")


@pytest.fixture
def served(fresh_venv: FreshVenv, sample_app: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``durable-local start`` with no arguments, run in the app's folder."""
    port = json.loads((sample_app / "local.settings.json").read_text())["Host"]["LocalHttpPort"]
    proc = subprocess.Popen(
        [str(fresh_venv.bin / "durable-local"), "start"],
        cwd=sample_app,
        env=fresh_venv.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"durable-local start exited {proc.returncode}: {proc.stdout.read()}")  # type: ignore[union-attr]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            assert time.monotonic() < deadline, "durable-local start did not listen within 60 s"
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


# a fresh venv from PyPI (about a minute for the module): the issue asks CI to prove the install path
def test_version_and_plugin_come_from_the_fresh_venv(fresh_venv: FreshVenv, tmp_path: Path) -> None:
    r = fresh_venv.run(str(fresh_venv.bin / "durable-local"), "--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == f"durable-local {durable_local.__version__}", r.stderr
    code = "import durable_local, sys; print(durable_local.__file__); print(sys.path)"
    r = fresh_venv.run(str(fresh_venv.python), "-c", code, cwd=tmp_path)
    where, path = r.stdout.splitlines()
    assert where.startswith(str(fresh_venv.root / "venv")), where
    assert str(REPO) not in path, path


# a fresh venv from PyPI (about a minute for the module): the issue asks CI to prove the install path
def test_durable_local_start_serves_the_app_in_its_folder(served: tuple[str, Any], sample_app: Path) -> None:
    base, proc = served
    code, payload = _call("POST", f"{base}/api/orchestrators/my_orchestrator")
    assert code == 202, payload
    waiting = _poll(payload["statusQueryGetUri"], lambda b: b.get("customStatus") == "Waiting for Continue event...")
    assert waiting["runtimeStatus"] == "Running"
    code, _ = _call("POST", payload["sendEventPostUri"].replace("{eventName}", "Continue"), {})
    assert code == 202
    done = _poll(payload["statusQueryGetUri"], lambda b: b.get("runtimeStatus") in ("Completed", "Failed"))
    assert done["runtimeStatus"] == "Completed", done
    assert done["output"][0] == "Orchestration version: 1.0"  # host.json defaultVersion of the sample
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert (sample_app / ".durable" / "durable.db").is_file()  # the default store, in the app's folder


# A user's test file: the fixture, driven from plain `def` tests (pytest alone, no asyncio plugin).
USER_TESTS = """
import sys
from datetime import datetime, timedelta

import pytest

import durable_local


def _when(event):
    return datetime.fromisoformat(event["Timestamp"].replace("Z", "+00:00"))


def test_the_host_comes_from_this_venv():
    assert durable_local.__file__.startswith(sys.prefix)


def test_continue_event_three_virtual_days_later(durable_host):
    instance_id = durable_host.start_http("/api/orchestrators/my_orchestrator")
    durable_host.wait_for_history(instance_id, "TaskCompleted")  # activity done, now waiting for the event
    assert durable_host.status(instance_id)["customStatus"] == "Waiting for Continue event..."
    before = durable_host.clock.now()
    durable_host.clock.advance(hours=72)
    assert durable_host.clock.now() - before >= timedelta(hours=72)
    assert durable_host.status(instance_id)["runtimeStatus"] == "Running"
    durable_host.raise_event(instance_id, "Continue")
    done = durable_host.wait_for(instance_id)
    assert done["runtimeStatus"] == "Completed", done
    history = durable_host.history(instance_id)
    raised = next(e for e in history if e["EventType"] == "EventRaised")
    assert raised["Name"] == "Continue"
    assert _when(raised) - _when(history[0]) >= timedelta(hours=72)  # durable time moved with the clock


@pytest.mark.durable_host(store="sqlite")
def test_start_by_name_on_sqlite(durable_host):
    instance_id = durable_host.start("my_sub_orchestrator", instance_id="sub-1")
    assert instance_id == "sub-1"
    assert durable_host.wait_for(instance_id, "Completed")["output"] == "1.0"
"""


# a fresh venv from PyPI (about a minute for the module): the issue asks CI to prove the install path
def test_a_user_test_file_uses_the_durable_host_fixture(fresh_venv: FreshVenv, sample_app: Path) -> None:
    project = fresh_venv.root / "user_project"
    (project / "tests").mkdir(parents=True, exist_ok=True)
    (project / "tests" / "test_sample_app.py").write_text(USER_TESTS)
    app = os.path.relpath(sample_app, project)
    (project / "pytest.ini").write_text(f"[pytest]\ndurable_app_dir = {app}\ndurable_store = memory\n")
    r = fresh_venv.run(str(fresh_venv.python), "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "3 passed" in r.stdout, r.stdout
