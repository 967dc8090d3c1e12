"""Stable import path ``jewelrec.hub`` (a ★ contract): the module itself lives at ``jewelrec.serving.hub``.

The alias is the very same module object, so attributes read or patched through either name agree.
"""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("jewelrec.serving.hub")
