"""``python -m durable_local``."""

import sys

from durable_local.cli import main

sys.exit(main())
