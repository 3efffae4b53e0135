"""Apps run as the Python worker runs them: their root is the working directory and first on
the import path, and nothing of this repository (its `activities`, `orchestrators`, `tests`,
`bench`, ... packages) shadows theirs — in-process, from the CLI in any folder, with worker
processes, and for replay/lint."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from durable_local.app_loader import load_app
from durable_local.testing import HostHarness, running_host
from tests.chaos.kit import free_port

APPS = Path(__file__).resolve().parent / "apps"
REPO = Path(__file__).resolve().parents[2]
WEBHOOK = "/runtime/webhooks/durabletask"


@pytest.fixture
def nsapp(tmp_path: Path) -> Path:
    return Path(shutil.copytree(APPS / "nsapp", tmp_path / "nsapp"))


@pytest.fixture
def pkgapp(tmp_path: Path) -> Path:
    return Path(shutil.copytree(APPS / "pkgapp", tmp_path / "pkgapp"))


async def _start(h: HostHarness, name: str, value: str) -> str:
    code, body, _ = await h.post(f"{WEBHOOK}/orchestrators/{name}", json={"name": value})
    assert code == 202, body
    return str(body["id"])


def _assert_nsapp_output(out: dict[str, Any], app: Path, name: str) -> None:
    assert out["greeting"] == f"Hello from nsapp, {name}"
    assert Path(out["cwd"]).resolve() == app.resolve()
    assert out["marker"] == "nsapp's own bench"
    assert (app / "logs" / "greet.log").read_text().splitlines().count(name) == 1


async def test_in_process_the_app_root_is_cwd_and_its_namespace_packages_win(nsapp: Path) -> None:
    # this repository's own `activities`/`orchestrators` packages are imported in this process
    # (tests/app imports them) and its root is on sys.path, as pytest put it there
    import activities as repo_activities

    before_cwd, before_path = os.getcwd(), list(sys.path)
    async with running_host(nsapp) as h:
        iid = await _start(h, "hello", "Ada")
        status = await h.wait_for(iid)
        assert status["runtimeStatus"] == "Completed", status["output"]
        _assert_nsapp_output(status["output"], nsapp, "Ada")
    # leaving restores the process exactly: tests load several apps one after another
    assert os.getcwd() == before_cwd and sys.path == before_path
    assert sys.modules["activities"] is repo_activities
    assert not (Path(before_cwd) / "logs").exists() or (Path(before_cwd) / "logs").stat().st_mtime < 0


async def test_two_apps_one_after_the_other_see_only_their_own_modules(nsapp: Path, pkgapp: Path) -> None:
    async with running_host(pkgapp) as h:
        code, body, _ = await h.post("/api/run/widget")
        assert code == 202, body
        status = await h.wait_for(body["id"])
        assert status["runtimeStatus"] == "Completed", status
        out = status["output"]
        assert out == {"label": "pkgapp:widget", "cwd": out["cwd"], "source": "pkgapp's own tests package",
                       "threshold": "7"}
        assert Path(out["cwd"]).resolve() == pkgapp.resolve()
        assert (pkgapp / "out" / "widget.txt").read_text() == "pkgapp:widget"
        entity = await h.wait_until(lambda: _entity(h, "tally", "runs"), what="tally entity")
        assert entity == 1
    async with running_host(nsapp) as h:
        status = await h.wait_for(await _start(h, "hello", "Bo"))
        assert status["runtimeStatus"] == "Completed", status
        _assert_nsapp_output(status["output"], nsapp, "Bo")
        # pkgapp's `activities` package (a regular one) is not what nsapp's code imported
        assert "work" not in dir(sys.modules["activities"])


async def _entity(h: HostHarness, name: str, key: str) -> Any:
    code, body, _ = await h.get(f"{WEBHOOK}/entities/{name}/{key}")
    return body if code == 200 else None


def test_load_app_indexes_with_the_app_root_as_cwd_and_restores_it(nsapp: Path) -> None:
    before = os.getcwd()
    app = load_app(nsapp)
    assert {f.function_name for f in app.registry.functions} == {"greet", "hello"}
    assert os.getcwd() == before


def _cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "durable_local", *args], cwd=cwd, env=env or _env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FUNCTIONS_WORKER_PROCESS_COUNT")}
    # the host from this checkout (as a user runs it from a clone); it must take the checkout
    # off the app's import path by itself
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO), **extra)
    return env


async def _serve_and_run(app: Path, cwd: Path, data_dir: str, env: dict[str, str], names: list[str]) -> list[dict]:
    port = free_port()
    proc = _cli(["start", "--app-dir", str(app), "--port", str(port), "--data-dir", data_dir], cwd, env)
    base = f"http://127.0.0.1:{port}"
    outputs = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s:
            for _ in range(600):
                if proc.poll() is not None:
                    raise AssertionError(proc.stdout.read().decode())
                try:
                    async with s.get(f"{base}{WEBHOOK}/instances") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            for name in names:
                async with s.post(f"{base}{WEBHOOK}/orchestrators/hello", json={"name": name}) as r:
                    assert r.status == 202, await r.text()
                    iid = (await r.json())["id"]
                for _ in range(600):
                    async with s.get(f"{base}{WEBHOOK}/instances/{iid}") as r:
                        body = await r.json()
                    if body["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
                        break
                    await asyncio.sleep(0.05)
                assert body["runtimeStatus"] == "Completed", body
                outputs.append(body["output"])
    finally:
        proc.terminate()
        log = proc.communicate(timeout=40)[0].decode()
    assert "Traceback" not in log, log
    return outputs


async def test_cli_from_another_folder_keeps_relative_data_dir_and_writes_nothing_there(
    nsapp: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out,) = await _serve_and_run(nsapp, elsewhere, "data", _env(), ["Cy"])
    _assert_nsapp_output(out, nsapp, "Cy")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["data"]  # --data-dir kept its meaning
    assert (elsewhere / "data" / "durable.db").exists()
    assert not (nsapp / "data").exists()


async def test_cli_from_the_repository_root_with_worker_processes(nsapp: Path, tmp_path: Path) -> None:
    before = {p.name for p in REPO.iterdir()}
    outputs = await _serve_and_run(nsapp, REPO, str(tmp_path / "data"),
                                   _env(FUNCTIONS_WORKER_PROCESS_COUNT="2"), ["Di", "Ed"])
    for out, name in zip(outputs, ["Di", "Ed"], strict=True):
        _assert_nsapp_output(out, nsapp, name)
        assert out["pid"] != os.getpid()
    assert {p.name for p in REPO.iterdir()} - before == set()  # no logs/ (or anything) in the checkout

    # replay and lint, run from a third folder, import the app the same way
    third = tmp_path / "third"
    third.mkdir()
    replay = subprocess.run([sys.executable, "-m", "durable_local", "replay", "--all", "--app-dir", str(nsapp),
                             "--data-dir", os.path.relpath(tmp_path / "data", third)],
                            cwd=third, env=_env(), capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "2 of 2 histories replayed cleanly" in replay.stdout
    lint = subprocess.run([sys.executable, "-m", "durable_local", "lint", str(nsapp)],
                          cwd=third, env=_env(), capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert list(third.iterdir()) == []


def test_export_writes_relative_to_where_it_runs(nsapp: Path, tmp_path: Path) -> None:
    # nothing to export yet: the command fails cleanly without touching the app folder
    run = subprocess.run([sys.executable, "-m", "durable_local", "export", "nope", "--app-dir", str(nsapp),
                          "--data-dir", str(tmp_path / "none"), "--out", "x.json"],
                         cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert not (nsapp / "x.json").exists()
    assert json.loads("{}") == {}


def test_a_program_from_the_checkout_can_spawn_worker_processes_for_another_app(nsapp: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "tests.app_env.spawn_main", str(nsapp)], cwd=REPO, env=_env(),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["status"] == "Completed", result
    _assert_nsapp_output(result["output"], nsapp, "Fay")
    assert result["output"]["pid"] != result["host_pid"]  # it ran in the worker process
