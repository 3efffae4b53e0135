"""The SDK's ``samples-v2`` apps, from the azure-functions-durable sdist on PyPI.

Downloaded at test time into a per-machine cache (``DURABLE_SAMPLES_CACHE``), never committed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

SDK_VERSION = "1.7.0"
CACHE = Path(os.environ.get("DURABLE_SAMPLES_CACHE", Path.home() / ".cache" / "durable-orders" / "sdist"))


def samples_v2() -> Path:
    """The ``samples-v2`` folder of the SDK sdist, downloaded and unpacked on first use."""
    root = CACHE / f"azure_functions_durable-{SDK_VERSION}"
    if not (root / "samples-v2").is_dir():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-binary",
                ":all:",
                "--no-deps",
                f"azure-functions-durable=={SDK_VERSION}",
                "-d",
                str(CACHE),
            ],
            check=True,
        )
        with tarfile.open(CACHE / f"azure_functions_durable-{SDK_VERSION}.tar.gz") as tar:
            members = [m for m in tar.getmembers() if "/samples-v2/" in m.name]
            tar.extractall(CACHE, members=members, filter="data")
    return root / "samples-v2"
