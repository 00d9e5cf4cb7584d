"""``python -m qser_core.cli`` runs the ``qser`` command line."""

import sys

from qser_core.cli import console

if __name__ == "__main__":
    sys.exit(console())
