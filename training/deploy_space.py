"""``python -m training.deploy_space``: the door kept for the documented command; see :mod:`jewelrec.cli.deploy_space`."""

import sys

from jewelrec.cli.deploy_space import main

if __name__ == "__main__":
    sys.exit(main())
