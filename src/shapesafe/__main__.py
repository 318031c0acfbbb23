"""``python -m shapesafe``: the command line (what torchrun runs with ``-m shapesafe``)."""

from shapesafe.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
