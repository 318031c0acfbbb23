"""``python -m shapesafe.cli``: the ``shapesafe`` command."""

import sys

from shapesafe.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
