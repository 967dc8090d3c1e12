"""``python -m training.update`` (★): the door kept for the documented command; see :mod:`jewelrec.cli.update`."""

import sys

from jewelrec.cli.update import build_parser, main, parse_config  # noqa: F401  (re-exported for callers)

if __name__ == "__main__":
    sys.exit(main())
