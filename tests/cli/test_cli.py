"""The ``durable-local`` command line as a user meets it: help, version, errors, exit codes."""

from __future__ import annotations

import argparse
import re
import socket
import sys
from pathlib import Path

import pytest

import durable_local
from durable_local import cli
from durable_local.app_loader import AppLoadError
from durable_local.store.base import StoreError

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
COMMANDS = ("start", "replay", "export", "lint")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Help rendered for a 100-column terminal, as in the README."""
    monkeypatch.setenv("COLUMNS", "100")


def test_every_option_has_help_and_names_its_default() -> None:
    parser = cli.build_parser()
    for name, sub in _subparsers(parser).items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            where = f"{name} {'/'.join(action.option_strings) or action.dest}"
            assert action.help, f"{where} has no help text"
            takes_value = action.nargs != 0 and not isinstance(action, argparse._StoreTrueAction)
            if action.option_strings and takes_value and action.dest not in ("instance",):
                assert "(default:" in action.help, f"{where} does not name its default"
    assert set(_subparsers(parser)) == set(COMMANDS)


def test_help_is_plain_text_with_exit_codes(wide: None, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["start"], ["replay"], ["export"], ["lint"]):
        with pytest.raises(SystemExit) as exited:
            cli.main([*argv, "--help"])
        assert exited.value.code == 0
        text = capsys.readouterr().out
        assert "``" not in text and ":func:" not in text, argv  # no reStructuredText
        assert text.startswith(f"usage: durable-local {' '.join(argv)}".rstrip() + " ")
        assert "exit codes:" in text and "130" in text, argv


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"durable-local {durable_local.__version__}"
    assert version("durable-local") == durable_local.__version__


def test_readme_usage_blocks_match_the_help(wide: None) -> None:
    """Each README block starting with ``usage: durable-local`` is that command's usage or full help."""
    blocks = re.findall(r"```text\n(usage: durable-local.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2, "the README shows `durable-local --help` and the start usage"
    parser = cli.build_parser()
    subs = _subparsers(parser)
    for block in blocks:
        words = block.split("\n", 1)[0].split()
        command = words[2] if len(words) > 2 and words[2] in subs else None
        p = subs[command] if command else parser
        assert block in (p.format_usage(), p.format_help()), f"README block differs from --help:\n{block}"


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("durable-local: error: ")
    return lines[0]


def test_an_unknown_instance_is_one_line_without_stray_quotes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli.main(["export", "nope", "--store", "memory", "--data-dir", str(tmp_path)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line == "durable-local: error: instance 'nope' not found"


def test_an_app_that_fails_to_load_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["start", "--app-dir", str(tmp_path), "--store", "memory"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "the app failed to load" in line and "function_app.py" in line


def test_a_taken_port_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = cli.main(["start", "--app-dir", str(REPO), "--store", "memory", "--port", str(port)])
    assert code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "address already in use" in line and "--port" in line


def test_the_port_comes_from_local_settings_like_func_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FUNCTIONS_HTTPWORKER_PORT", raising=False)
    settings = tmp_path / "local.settings.json"
    settings.write_text('{"Values": {}, "Host": {"LocalHttpPort": 7199}}')
    assert cli._default_port(tmp_path) == 7199
    settings.write_text('{"Values": {}}')
    assert cli._default_port(tmp_path) == 7071
    settings.write_text('{"Host": {"LocalHttpPort": "seventy"}}')
    with pytest.raises(AppLoadError, match="LocalHttpPort"):
        cli._default_port(tmp_path)


def test_an_unexpected_failure_is_one_line_with_a_hint(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(args: argparse.Namespace) -> int:
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(cli, "_start", broken)
    assert cli.main(["start"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line == "durable-local: error: RuntimeError: something broke (run with -v for the traceback)"


def test_the_azure_store_without_its_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from durable_local.store import open_store

    for name in [m for m in sys.modules if m.startswith(("durable_local.store.azure", "azure.data.tables"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "azure.data.tables", None)  # as if azure-data-tables were not installed
    with pytest.raises(StoreError) as exc:
        open_store("azure", Path("."))
    message = str(exc.value)
    assert "\n" not in message
    assert "pip install 'durable-local[azure]'" in message and "azure.data.tables" in message
