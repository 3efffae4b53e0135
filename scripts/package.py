#!/usr/bin/env python3
"""Build the deployment zip of the Function App (dist/app.zip) honouring .funcignore.

Standard library only. The zip holds what Azure Functions needs to run the app from a
remote build (SCM_DO_BUILD_DURING_DEPLOYMENT / Flex Consumption remote build):
function_app.py, the app's packages, host.json and requirements.txt -- and nothing that
.funcignore excludes (the local host durable_local/, tests/, the venv, local settings...).

.funcignore uses gitignore syntax: blank lines and ``#`` comments are skipped, ``!``
re-includes, a trailing ``/`` matches directories only, a pattern with a ``/`` before its
end is anchored to the root, ``*`` and ``?`` do not cross ``/``, ``**`` does, and the last
matching pattern wins. As in git, a file inside an excluded directory cannot be
re-included.

The archive is reproducible: entries are sorted and carry a fixed timestamp
(SOURCE_DATE_EPOCH if set, else 1980-01-01), so the same tree gives the same bytes.

Usage:
    python scripts/package.py                      # -> dist/app.zip
    python scripts/package.py -o /tmp/app.zip --root .
    python scripts/package.py --list               # print what would be packaged
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import sys
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Always left out, whatever .funcignore says: VCS metadata, local secrets, bytecode.
ALWAYS_IGNORED = (".git/", "local.settings.json", "__pycache__/", "*.pyc", ".azure/")
# Without these the package cannot run on Azure Functions (Python v2 model).
REQUIRED_FILES = ("function_app.py", "host.json", "requirements.txt")
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool
    source: str


def _translate_glob(glob: str) -> str:
    """Translate one gitignore glob (already stripped of anchors) into a regex body."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "*":
            if glob.startswith("**", i):
                at_start = i == 0 or glob[i - 1] == "/"
                i += 2
                if at_start and i < n and glob[i] == "/":
                    out.append("(?:.*/)?")  # '**/' : zero or more leading directories
                    i += 1
                elif at_start and i == n:
                    out.append(".*")  # trailing '/**' : everything inside
                else:
                    out.append("[^/]*")  # '**' elsewhere behaves like '*'
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 1
            if j < n and glob[j] in "!^":
                j += 1
            if j < n and glob[j] == "]":
                j += 1
            while j < n and glob[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape(c))
            else:
                body = glob[i + 1 : j]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(glob[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def parse_pattern(line: str) -> Pattern | None:
    """Parse one .funcignore line; None for blanks and comments."""
    raw = line.rstrip("\n").rstrip("\r")
    # Trailing spaces are ignored unless escaped.
    stripped = raw.rstrip(" ")
    if raw.endswith("\\ ") and not stripped.endswith("\\\\"):
        stripped += " "
    text = stripped
    if not text or text.startswith("#"):
        return None
    negated = False
    if text.startswith("!"):
        negated, text = True, text[1:]
    elif text.startswith(("\\!", "\\#")):
        text = text[1:]
    dir_only = text.endswith("/")
    text = text.rstrip("/")
    if not text:
        return None
    anchored = "/" in text
    text = text.lstrip("/")
    body = _translate_glob(text)
    prefix = "" if anchored else "(?:.*/)?"
    return Pattern(re.compile(f"^{prefix}{body}$"), negated, dir_only, line.strip())


class IgnoreRules:
    def __init__(self, patterns: Iterable[Pattern]):
        self.patterns = list(patterns)

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> IgnoreRules:
        return cls(p for p in (parse_pattern(line) for line in lines) if p is not None)

    @classmethod
    def for_root(cls, root: Path, extra: Iterable[str] = ALWAYS_IGNORED) -> IgnoreRules:
        lines = list(extra)
        funcignore = root / ".funcignore"
        if funcignore.is_file():
            lines += funcignore.read_text(encoding="utf-8").splitlines()
        return cls.from_lines(lines)

    def ignored(self, relpath: str, is_dir: bool) -> bool:
        """Whether the path itself matches (parents are checked by the walker)."""
        result = False
        for p in self.patterns:
            if p.dir_only and not is_dir:
                continue
            if p.regex.match(relpath):
                result = not p.negated
        return result


def iter_files(root: Path, rules: IgnoreRules, skip: Iterable[Path] = ()) -> Iterator[tuple[str, Path]]:
    """Yield (archive name, path) for every file to package, in sorted order."""
    root = root.resolve()
    skipped = {p.resolve() for p in skip}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        kept = []
        for d in sorted(dirnames):
            full = here / d
            if full.is_symlink() or rules.ignored(rel_dir + d, is_dir=True):
                continue
            kept.append(d)
        dirnames[:] = kept
        for f in sorted(filenames):
            full = here / f
            rel = rel_dir + f
            if rules.ignored(rel, is_dir=False) or full.resolve() in skipped or not full.is_file():
                continue
            yield rel, full


def _zip_timestamp() -> tuple[int, int, int, int, int, int]:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        t = time.gmtime(max(int(epoch), 315532800))  # zip cannot store dates before 1980
        return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
    return ZIP_EPOCH


def build(root: Path, output: Path, *, check_required: bool = True) -> list[str]:
    """Write the zip and return the archive names it holds."""
    root = root.resolve()
    output = output.resolve()
    rules = IgnoreRules.for_root(root)
    files = list(iter_files(root, rules, skip=[output]))
    names = [name for name, _ in files]
    if check_required:
        missing = [f for f in REQUIRED_FILES if f not in names]
        if missing:
            raise SystemExit(
                f"package.py: {', '.join(missing)} missing from {root} (or excluded by .funcignore); "
                "the Function App cannot run without them"
            )
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    stamp = _zip_timestamp()
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=stamp)
            mode = 0o755 if os.stat(path).st_mode & stat.S_IXUSR else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the permission bits are honoured
            zf.writestr(info, path.read_bytes())
    tmp.replace(output)
    return names


def main(argv: list[str] | None = None) -> int:
    repo = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description="Build the Function App deployment zip honouring .funcignore.")
    ap.add_argument("--root", type=Path, default=repo, help="app root (default: the repository root)")
    ap.add_argument(
        "-o", "--output", "--out", type=Path, default=None, help="zip to write (default: ROOT/dist/app.zip)"
    )
    ap.add_argument("--list", action="store_true", help="print the files that would be packaged and exit")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    output = args.output or root / "dist" / "app.zip"
    if args.list:
        for name, _ in iter_files(root, IgnoreRules.for_root(root), skip=[output]):
            print(name)
        return 0
    names = build(root, output)
    size = output.stat().st_size
    print(f"wrote {output} ({len(names)} files, {size / 1024:.1f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
