"""``python -m qser_core.cli`` runs the ``qser`` command line."""

import sys

from qser_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
