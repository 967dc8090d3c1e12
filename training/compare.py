"""``python -m training.compare`` (★ family): the door kept for the documented command; see :mod:`jewelrec.cli.compare`."""

import sys

from jewelrec.cli.compare import build_parser, main, parse_config  # noqa: F401  (re-exported for callers)

if __name__ == "__main__":
    sys.exit(main())
