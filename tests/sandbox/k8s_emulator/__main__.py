"""``python -m tests.sandbox.k8s_emulator``."""

import sys

from .cli import main

sys.exit(main())
