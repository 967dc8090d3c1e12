"""``python -m training.evaluate`` (★): the door kept for the documented command; see :mod:`jewelrec.cli.evaluate`."""

import sys

from jewelrec.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
