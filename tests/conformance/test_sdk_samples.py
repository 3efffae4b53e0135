"""Protocol conformance: the SDK's own samples-v2 apps, run unmodified with durable_local.

The samples come from the ``azure-functions-durable`` sdist on PyPI, downloaded at test time
into a cache directory (never committed). Each app is started with the real CLI in a
subprocess (``python -m durable_local start``) and driven over HTTP to its documented output.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.sdist import samples_v2

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def samples() -> Path:
    """samples-v2 of the SDK sdist, downloaded once per machine."""
    return samples_v2()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, port: int, proc: subprocess.Popen[str]) -> None:
        self.port, self.proc = port, proc
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method: str, path_or_url: str, body: Any = None) -> tuple[int, Any]:
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read().decode()
                code = r.status
        except urllib.error.HTTPError as e:
            text, code = e.read().decode(), e.code
        try:
            return code, json.loads(text) if text else None
        except ValueError:
            return code, text

    def wait_status(self, status_url: str, wanted: str = "Completed", timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        body: Any = None
        while time.monotonic() < deadline:
            _, body = self.call("GET", status_url)
            if isinstance(body, dict) and body.get("runtimeStatus") == wanted:
                return body
            time.sleep(0.05)
        raise AssertionError(f"not {wanted} after {timeout}s: {body}")


def serve(app_dir: Path, data_dir: Path) -> Iterator[Served]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "durable_local",
            "start",
            "--app-dir",
            str(app_dir),
            "--port",
            str(port),
            "--store",
            "sqlite",
            "--data-dir",
            str(data_dir),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Served(port, proc)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"host exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    try:
        yield served
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        served.output = out  # type: ignore[attr-defined]


def _copy(samples: Path, name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    shutil.copytree(samples / name, dest, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    return dest


def test_function_chaining_sample(samples: Path, tmp_path: Path) -> None:
    app = _copy(samples, "function_chaining", tmp_path)
    gen = serve(app, tmp_path / "data")
    host = next(gen)
    code, payload = host.call("POST", "/api/orchestrators/my_orchestrator")
    assert code == 202, payload
    status = host.wait_status(payload["statusQueryGetUri"])
    assert status["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    gen.close()
    assert host.proc.returncode == 0, host.output  # Ctrl-C stops cleanly
    assert "my_orchestrator: orchestrationTrigger" in host.output
    assert "http_start: [GET,POST] " in host.output or "http_start: " in host.output


def test_blueprint_sample_on_a_plain_function_app(samples: Path, tmp_path: Path) -> None:
    app = _copy(samples, "blueprint", tmp_path)
    gen = serve(app, tmp_path / "data")
    host = next(gen)
    code, text = host.call("GET", "/api/HttpTrigger?name=Durable")
    assert code == 200 and text == "Hello, Durable. This HTTP triggered function executed successfully."
    code, payload = host.call("POST", "/api/startOrchestrator")
    assert code == 202
    status = host.wait_status(payload["statusQueryGetUri"])
    assert status["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    gen.close()


def test_orchestration_versioning_sample_across_a_default_version_change(samples: Path, tmp_path: Path) -> None:
    """The sample's README scenario: start on 1.0, change defaultVersion to 2.0, restart, continue."""
    app = _copy(samples, "orchestration_versioning", tmp_path)
    data = tmp_path / "data"
    gen = serve(app, data)
    host = next(gen)
    code, payload = host.call("POST", "/api/orchestrators/my_orchestrator")
    assert code == 202
    host.wait_status(payload["statusQueryGetUri"], wanted="Running")
    deadline = time.monotonic() + 20
    while host.call("GET", payload["statusQueryGetUri"])[1].get("customStatus") != "Waiting for Continue event...":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    gen.close()

    host_json = json.loads((app / "host.json").read_text())
    host_json["extensions"]["durableTask"]["defaultVersion"] = "2.0"
    (app / "host.json").write_text(json.dumps(host_json))
    gen = serve(app, data)
    host = next(gen)
    status_url = payload["statusQueryGetUri"].replace(payload["statusQueryGetUri"].split("/runtime")[0], host.base)
    code, _ = host.call(
        "POST",
        payload["sendEventPostUri"].split("/runtime")[1].join(["/runtime", ""]).replace("{eventName}", "Continue"),
        {},
    )
    assert code == 202
    status = host.wait_status(status_url)
    assert status["output"] == [
        "Orchestration version: 1.0",
        "Suborchestration version (explicit): 0.9",
        "Suborchestration version (default): 2.0",
        "Hello from A!",
    ]
    # a new instance now takes the new code path
    code, payload = host.call("POST", "/api/orchestrators/my_orchestrator?version=2.0")
    assert code == 202
    host.wait_status(payload["statusQueryGetUri"], wanted="Running")
    gen.close()
