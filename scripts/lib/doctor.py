"""Entry point that scripts/doctor.sh runs: the doctor is the gluonlab_doctor package beside it."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gluonlab_doctor.cli import entry  # noqa: E402  (needs the path above)

if __name__ == "__main__":
    sys.exit(entry(sys.argv[1:]))
