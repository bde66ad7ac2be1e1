"""``python -m gluonlab_hub.accounts``: the same command as ``gluonlab-accounts``."""

import sys

from .cli import main

sys.exit(main())
