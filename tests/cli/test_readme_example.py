"""The README's pytest example, run as a user would: its own folder, the plugin, this app."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_readme_pytest_example_passes_against_this_app(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Use durable_local with your own Function App", 1)[1]
    (example,) = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], flags=re.S)
    (tmp_path / "test_example.py").write_text(example)
    (tmp_path / "pytest.ini").write_text(f"[pytest]\ndurable_app_dir = {REPO}\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["SANDBOX_DATA_DIR"] = str(tmp_path / "sandbox")  # the app's activities write their records here
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "2 passed" in r.stdout, r.stdout
