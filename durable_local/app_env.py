"""The process environment a Function App's code sees: the one the Python worker gives it.

The Python worker starts in the app's root folder and puts that folder first on ``sys.path``;
nothing of the host is importable but the worker's own modules. durable_local runs user code
in its own process (and in worker processes), so ``app_process_env(app_dir)`` makes the
process look like that for as long as it is entered:

- the working directory is the app root (``open("config/params.json")`` works, a relative
  ``logs/`` folder is created inside the app);
- ``sys.path`` is the app root first, then the installed packages; the folders of a source
  checkout that holds ``durable_local`` (its ``activities``, ``tests``, ``bench``, ...) and
  the caller's working directory are taken off, so they cannot shadow the app's own packages
  (a regular package anywhere on the path wins over an app's namespace package);
- modules already imported under a name the app provides (another app's ``activities``, this
  repository's ``orchestrators``) are set aside, so the app imports its own.

Leaving restores the working directory, ``sys.path`` and the set-aside modules exactly: tests
load several apps one after another in one process. The host's own paths (data dir, exports)
must be resolved before entering; see ``HostConfig`` and the CLI.

Entering is stack-like (a host holds it for its lifetime, ``load_app`` again while importing);
two hosts for different apps running at the same time in one process share one working
directory, so the last one entered wins until it leaves.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.machinery
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import durable_local

_HOST_PACKAGE = Path(durable_local.__file__).resolve().parent


def _is_installed_location(path: Path) -> bool:
    """site-packages, dist-packages and the interpreter's own library: never the host checkout."""
    parts = set(path.parts)
    if "site-packages" in parts or "dist-packages" in parts:
        return True
    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    return any(path.is_relative_to(p) and p != Path("/") for p in prefixes)


def host_source_root() -> Path | None:
    """The folder holding ``durable_local`` when it runs from a source checkout (not installed)."""
    root = _HOST_PACKAGE.parent
    return None if _is_installed_location(root) else root


def _resolved(entry: str) -> Path | None:
    if entry in ("", "."):
        return Path.cwd().resolve()
    try:
        return Path(entry).resolve()
    except (OSError, RuntimeError):
        return None


def worker_sys_path(app_dir: Path, current: list[str]) -> list[str]:
    """``current`` as the worker would have it for ``app_dir``: the app first, host folders gone."""
    source = host_source_root()
    caller_cwd = Path.cwd().resolve()
    out = [str(app_dir)]
    for entry in current:
        path = _resolved(entry)
        if path is None or path == app_dir or str(path) in out:
            continue
        if not _is_installed_location(path):
            if path == caller_cwd:
                continue  # `python -m` puts the caller's folder first; the worker never has it
            if source is not None and path.is_relative_to(source) and not path.is_relative_to(app_dir):
                continue  # a checkout's folders (pytest adds its rootdir and test folders too)
        out.append(entry)
    if not _host_reachable(out):
        out.append(str(_host_shim()))
    return out


def _host_reachable(path: list[str]) -> bool:
    """Whether ``durable_local`` can still be imported (worker processes import it anew)."""
    if importlib.machinery.PathFinder.find_spec("durable_local", path) is not None:
        return True
    for finder in sys.meta_path:  # an editable install maps the package without a path entry
        if finder is importlib.machinery.PathFinder or not hasattr(finder, "find_spec"):
            continue
        with contextlib.suppress(Exception):
            if finder.find_spec("durable_local", None) is not None:
                return True
    return False


def _host_shim() -> Path:
    """A folder whose only entry is a link to the host package: ``durable_local`` and nothing else."""
    digest = hashlib.sha1(str(_HOST_PACKAGE).encode()).hexdigest()[:12]
    shim = Path(tempfile.gettempdir()) / f"durable_local-path-{os.getuid() if hasattr(os, 'getuid') else 0}-{digest}"
    link = shim / "durable_local"
    if not link.exists():
        shim.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            link.symlink_to(_HOST_PACKAGE, target_is_directory=True)
    return shim


def app_top_level_names(app_dir: Path) -> set[str]:
    """Module names the app folder provides: packages (with or without ``__init__``) and .py files."""
    names: set[str] = set()
    with contextlib.suppress(OSError):
        for entry in app_dir.iterdir():
            if entry.is_dir() and entry.name.isidentifier():
                names.add(entry.name)
            elif entry.suffix == ".py" and entry.stem.isidentifier():
                names.add(entry.stem)
    names.discard("durable_local")  # the host's own name stays the host's
    return names


def _module_paths(module: ModuleType) -> list[Path]:
    file = getattr(module, "__file__", None)
    if file:
        return [Path(file).resolve()]
    try:  # a namespace package: its path is recomputed from its parent's, which may be gone
        return [Path(p).resolve() for p in getattr(module, "__path__", [])]
    except (TypeError, KeyError, AttributeError):
        return []


def _belongs_to(module: ModuleType, app_dir: Path) -> bool:
    paths = _module_paths(module)
    return bool(paths) and all(p.is_relative_to(app_dir) for p in paths)


def _shadowed_modules(app_dir: Path) -> dict[str, ModuleType]:
    """Imported modules under a name the app provides that did not come from the app."""
    names = app_top_level_names(app_dir)
    out: dict[str, ModuleType] = {}
    for key, module in list(sys.modules.items()):
        top = key.split(".", 1)[0]
        if top not in names or module is None or key in ("__main__", "__mp_main__"):
            continue
        paths = _module_paths(module)
        if not paths or all(_is_installed_location(p) for p in paths):
            continue  # builtins and installed packages: the worker has those imported too
        if not _belongs_to(module, app_dir):
            out[key] = module
    return out


class _Saved:
    """What entering changed, to put back on leaving."""

    def __init__(self, cwd: str, path: list[str], aside: dict[str, ModuleType]) -> None:
        self.cwd, self.path, self.aside = cwd, path, aside


def adopt_app_env(app_dir: Path | str) -> Path:
    """Set the process up for ``app_dir`` for good (a worker process exists for one app)."""
    _enter(Path(app_dir).resolve())
    return Path(app_dir).resolve()


_host_path: list[str] | None = None  # sys.path before the outermost entry: the host's own
_depth = 0


@contextlib.contextmanager
def host_import_path() -> Iterator[None]:
    """The host's own ``sys.path`` back for a moment: a spawned worker process first re-imports
    the program that started it (``python -m bench.one``), which may live where the app must not
    look; it then takes the app's path itself (``adopt_app_env``)."""
    if _host_path is None:
        yield
        return
    saved = list(sys.path)
    sys.path[:] = _host_path
    try:
        yield
    finally:
        sys.path[:] = saved


def _enter(app_dir: Path) -> _Saved:
    global _host_path, _depth
    if _depth == 0:
        _host_path = list(sys.path)
    _depth += 1
    saved = _Saved(os.getcwd(), list(sys.path), _shadowed_modules(app_dir))
    for key in saved.aside:
        del sys.modules[key]
    sys.path[:] = worker_sys_path(app_dir, saved.path)
    os.chdir(app_dir)
    importlib.invalidate_caches()
    return saved


def _leave(saved: _Saved) -> None:
    global _host_path, _depth
    _depth -= 1
    if _depth == 0:
        _host_path = None
    with contextlib.suppress(OSError):
        os.chdir(saved.cwd)
    sys.path[:] = saved.path
    tops = {key.split(".", 1)[0] for key in saved.aside}
    for key in [k for k in sys.modules if k.split(".", 1)[0] in tops]:
        del sys.modules[key]  # the app's own modules of those names go; the earlier ones come back
    sys.modules.update(saved.aside)
    importlib.invalidate_caches()


@contextlib.contextmanager
def app_process_env(app_dir: Path | str) -> Iterator[Path]:
    """Run the enclosed code with the process set up as the Python worker sets it up for ``app_dir``."""
    app_dir = Path(app_dir).resolve()
    saved = _enter(app_dir)
    try:
        yield app_dir
    finally:
        if sys.path is not None:  # (not while the interpreter is being torn down)
            _leave(saved)
