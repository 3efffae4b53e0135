"""The deployment zip (scripts/package.py, `make package`).

- .funcignore matching follows gitignore rules (unit tests on a synthetic tree);
- the real repository's zip holds the app and none of the local tooling;
- the zip, unpacked into a fresh venv that has only requirements.txt installed (what the
  Azure remote build does), imports function_app and registers functions. A broken import,
  or a runtime dependency missing from requirements.txt, fails here rather than in Azure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE_PY = REPO / "scripts" / "package.py"

# Never in the package: local host, tests, tooling, secrets, deployment sources.
EXCLUDED_PREFIXES = (
    "durable_local/",
    "tests/",
    "bench/",
    ".venv/",
    "infra/",
    "scripts/",
    "dist/",
    ".git/",
    ".github/",
    ".azure/",
    "docs/",
    ".durable/",
)
REQUIRED = ("function_app.py", "host.json", "requirements.txt")
APP_PACKAGES = ("orchestrators", "activities", "entities", "clients", "domain")
# Values like those the Bicep / deploy.sh set; the app may read them at import time.
APP_SETTINGS = {
    "TASK_HUB_NAME": "DurableOrdersHub",
    "APPROVAL_THRESHOLD_CENTS": "100000",
    "APPROVAL_TIMEOUT_HOURS": "72",
    "PAYMENT_ADAPTER": "sandbox",
    "CARRIER_ADAPTER": "sandbox",
    "NOTIFICATION_ADAPTER": "outbox",
}


def _load_package_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_package_script", PACKAGE_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


package = _load_package_module()


# ---- .funcignore semantics ------------------------------------------------------------------


def _tree(root: Path, files: list[str]) -> None:
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)


def _packaged(root: Path, funcignore: str) -> list[str]:
    (root / ".funcignore").write_text(funcignore)
    rules = package.IgnoreRules.for_root(root)
    return [name for name, _ in package.iter_files(root, rules)]


def test_gitignore_semantics(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        [
            "function_app.py",
            "keep/a.py",
            "keep/sub/b.log",
            "logs/x.log",
            "nested/logs/y.txt",
            "docs/guide.md",
            "docs/important.md",
            "build/out.bin",
            "src/build",
            "a/b/deep/c.txt",
            "root_only.txt",
            "sub/root_only.txt",
            "data/keep.csv",
            "data/drop.csv",
            "weird[1].txt",
            "pkg/__pycache__/m.cpython-311.pyc",
            "pkg/m.py",
            "local.settings.json",
            "sub/local.settings.json",
        ],
    )
    names = _packaged(
        tmp_path,
        "\n".join(
            [
                "# comment",
                "",
                "*.log",  # any depth
                "logs/",  # directory at any depth
                "docs/*",
                "!docs/important.md",  # re-included (parent dir itself not excluded)
                "build/",  # dir-only: the file src/build stays
                "a/**/c.txt",
                "/root_only.txt",  # anchored
                "data/*.csv",
                "!data/keep.csv",
                "weird\\[1\\].txt",
            ]
        ),
    )
    assert set(names) == {
        ".funcignore",
        "function_app.py",
        "keep/a.py",
        "docs/important.md",
        "src/build",
        "sub/root_only.txt",
        "data/keep.csv",
        "pkg/m.py",
    }


def test_excluded_directory_cannot_be_reincluded(tmp_path: Path) -> None:
    _tree(tmp_path, ["tests/keep.py", "app.py"])
    assert set(_packaged(tmp_path, "tests\n!tests/keep.py\n")) == {".funcignore", "app.py"}


def test_always_ignored_even_without_funcignore(tmp_path: Path) -> None:
    _tree(tmp_path, ["app.py", ".git/config", ".azure/dev/.env", "x/__pycache__/y.pyc", "local.settings.json"])
    rules = package.IgnoreRules.for_root(tmp_path)
    assert [n for n, _ in package.iter_files(tmp_path, rules)] == ["app.py"]


def test_build_refuses_a_tree_without_the_app(tmp_path: Path) -> None:
    _tree(tmp_path, ["host.json", "requirements.txt"])
    with pytest.raises(SystemExit, match=r"function_app\.py missing"):
        package.build(tmp_path, tmp_path / "out.zip")


# ---- the repository's package ---------------------------------------------------------------


@pytest.fixture(scope="module")
def app_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package") / "app.zip"
    # The same command line as `make package`, into a temp dir.
    proc = subprocess.run(
        [sys.executable, str(PACKAGE_PY), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_zip_contents(app_zip: Path) -> None:
    with zipfile.ZipFile(app_zip) as zf:
        names = zf.namelist()
        assert zf.testzip() is None
    for required in REQUIRED:
        assert required in names, required
    for name in names:
        assert not name.startswith(EXCLUDED_PREFIXES), name
        parts = name.split("/")
        assert "local.settings.json" not in parts, name
        assert "__pycache__" not in parts and not name.endswith(".pyc"), name
        assert ".venv" not in parts, name
    # Nothing of the app itself is left out.
    for pkg in APP_PACKAGES:
        if (REPO / pkg).is_dir():
            sources = {
                p.relative_to(REPO).as_posix() for p in (REPO / pkg).rglob("*.py") if "__pycache__" not in p.parts
            }
            assert sources <= set(names), sources - set(names)


def test_zip_is_reproducible(app_zip: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.zip"
    package.build(REPO, again)
    assert again.read_bytes() == app_zip.read_bytes()


def test_host_json_is_deployable(app_zip: Path) -> None:
    with zipfile.ZipFile(app_zip) as zf:
        host = json.loads(zf.read("host.json"))
    assert host["version"] == "2.0"
    # Durable Functions triggers on Azure come from the extension bundle (v4 for Functions v4).
    bundle = host["extensionBundle"]
    assert bundle["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    assert "4." in bundle["version"], bundle["version"]


IMPORT_CHECK = r"""
import json, sys
app_dir = sys.argv[1]
sys.path.insert(0, app_dir)
import azure.functions as func
import function_app

registers = [v for v in vars(function_app).values() if isinstance(v, func.FunctionRegister)]
assert len(registers) == 1, f"function_app.py must define one app, found {len(registers)}"
functions = []
for f in registers[0].get_functions():
    # What the Python worker sends to the host at indexing time.
    meta = json.loads(f.get_function_json())
    functions.append({"name": f.get_function_name(), "bindings": [b["type"] for b in meta["bindings"]]})
assert "durable_local" not in sys.modules, "the deployed app must not import durable_local"
print("FUNCTIONS=" + json.dumps(functions))
"""


@pytest.mark.timeout(900)
def test_zip_imports_in_a_fresh_venv(app_zip: Path, tmp_path: Path) -> None:
    app_dir = tmp_path / "wwwroot"
    with zipfile.ZipFile(app_zip) as zf:
        zf.extractall(app_dir)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, clear=True).create(env_dir)
    py = env_dir / "bin" / "python"
    # pip from this interpreter installs into the new venv (pip --python): no ensurepip run,
    # and pip's cache is shared with the developer's/CI's other installs.
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--disable-pip-version-check",
            "--quiet",
            "-r",
            str(app_dir / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "SANDBOX_DATA_DIR": str(tmp_path / "sandbox"),
        **APP_SETTINGS,
    }
    proc = subprocess.run(
        [str(py), "-I", "-c", IMPORT_CHECK, str(app_dir)],
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"importing function_app from the package failed:\n{proc.stderr}"
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("FUNCTIONS="))
    functions = json.loads(line.removeprefix("FUNCTIONS="))
    print("registered functions:", ", ".join(f["name"] for f in functions))
    assert functions, "function_app registers no functions"
    names = [f["name"] for f in functions]
    assert len(names) == len(set(names)), names
