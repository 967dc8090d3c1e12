"""Stable import path ``jewelrec.sample`` (a ★ contract): the module itself lives at ``jewelrec.catalog.sample``.

The alias is the very same module object, so attributes read or patched through either name agree.
"""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("jewelrec.catalog.sample")
