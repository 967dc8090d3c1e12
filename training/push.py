"""``python -m training.push`` (★ door, like the others): see :mod:`jewelrec.cli.push`."""

import sys

from jewelrec.cli.push import build_parser, main  # noqa: F401  (re-exported for callers)

if __name__ == "__main__":
    sys.exit(main())
