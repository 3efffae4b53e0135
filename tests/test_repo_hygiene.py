"""The repository stands on its own: no tracked file points outside it.

A clone has neither the reference notes that sit beside the build machine's checkout nor that
machine's directories, so a
reference to them is a dead link for every reader (and a path a test or tool would fail on).
Documentation lives in ``docs/``; this check keeps it that way.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Each pattern is written so that it does not match its own source line (the bracketed
# letter), otherwise this file would report itself.
FORBIDDEN = {
    "a sibling folder outside the repository": re.compile(r"\.\./share[d]\b"),
    "the build machine's work tree": re.compile(r"(?<![\w.-])/wor[k]/"),
    "root's home directory": re.compile(r"(?<![\w.-])/roo[t]/"),
    # /home/site/wwwroot is where Azure Functions runs an app: a documented, fixed path.
    "a user's home directory": re.compile(r"(?<![\w.-])/hom[e]/(?!site/)[\w.-]+"),
    "a macOS home directory": re.compile(r"(?<![\w.-])/User[s]/[\w.-]+"),
    "a Windows home directory": re.compile(r"[A-Za-z]:\\\\?User[s]\\\\?", re.IGNORECASE),
}

# Folders a walk skips when the tree is not a git checkout (virtualenvs, caches, build output).
UNTRACKED_DIRS = {".git", ".venv", "venv", "node_modules", ".azurite", ".durable", ".sandbox", "__pycache__",
                  ".pytest_cache", ".ruff_cache", ".hypothesis", "build", "dist"}


def _tracked_files(root: Path) -> list[Path]:
    """``git ls-files`` when ``root`` is a git checkout; otherwise every file under it."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True, timeout=60
        ).stdout
        names = [n for n in out.decode("utf-8", "surrogateescape").split("\0") if n]
        if names:
            return [root / n for n in names]
    except (OSError, subprocess.SubprocessError):
        pass
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in UNTRACKED_DIRS and not d.endswith(".egg-info")]
        found.extend(Path(dirpath) / f for f in filenames)
    return found


def _text(path: Path) -> str | None:
    """The file's text, or None for binary files (a NUL byte or not UTF-8) and vanished files."""
    try:
        data = path.read_bytes()
    except OSError:  # listed by git but deleted in the working tree
        return None
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _symlink_problem(root: Path, path: Path) -> str | None:
    """Why a tracked symlink is wrong: an absolute target, or one that leaves the repository
    (a committed ``.venv -> /some/checkout/.venv`` replaces every clone's virtualenv)."""
    target = os.readlink(path)
    if os.path.isabs(target):
        return f"symlink to the absolute path {target}"
    resolved = os.path.normpath(os.path.join(os.path.dirname(path), target))
    if os.path.relpath(resolved, root).startswith(os.pardir):
        return f"symlink to {target}, outside the repository"
    return None


def outside_references(root: Path) -> list[str]:
    """``file:line: what`` for every line of a tracked text file that points outside the
    repository, and ``file: what`` for every tracked symlink that does."""
    hits = []
    for path in _tracked_files(root):
        if path.is_symlink():
            problem = _symlink_problem(root, path)
            if problem:
                hits.append(f"{path.relative_to(root)}: {problem}")
            continue
        text = _text(path)
        if text is None:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            for what, pattern in FORBIDDEN.items():
                if pattern.search(line):
                    hits.append(f"{path.relative_to(root)}:{lineno}: {what}: {line.strip()[:120]}")
    return hits


def test_no_tracked_file_points_outside_the_repository() -> None:
    hits = outside_references(REPO)
    assert not hits, "tracked files refer to paths outside the repository (link docs/ instead):\n" + "\n".join(hits)


def test_the_check_finds_each_kind_of_reference(tmp_path: Path) -> None:
    # Not a git checkout: exercises the walk fallback, the binary skip and every pattern.
    samples = {
        "a.md": "see ../" + "sha" + "red/docs/PROTOCOL.md",
        "b.py": '"""docs: /' + "wo" + "rk/" + "sha" + 'red/docs/PERF.md"""',
        "c.sh": "cp x /" + "root/.cache/y",
        "d.txt": "built in /" + "home/builder/src",
        "e.txt": "on a Mac: /" + "Users/ada/project",
        "f.txt": "C:\\" + "Users\\ada\\project",
    }
    for name, text in samples.items():
        (tmp_path / name).write_text(text + "\n", encoding="utf-8")
    (tmp_path / "ok.md").write_text("Azure runs the app from /home/site/wwwroot; docs in docs/ARCHITECTURE.md\n")
    (tmp_path / "blob.bin").write_bytes(b"\0\1/" + b"wo" + b"rk/x")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "site.py").write_text("/" + "wo" + "rk/ignored\n")
    (tmp_path / "abs-link").symlink_to(tmp_path / "ok.md")  # absolute target
    (tmp_path / "up-link").symlink_to(os.path.join(os.pardir, "elsewhere"))  # leaves the tree
    (tmp_path / "in-link").symlink_to("ok.md")  # relative, inside: fine

    hits = outside_references(tmp_path)

    assert sorted(h.split(":", 1)[0] for h in hits) == sorted([*samples, "abs-link", "up-link"])
