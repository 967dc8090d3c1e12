"""Stable import path ``jewelrec.ratings`` (a ★ contract): the module itself lives at ``jewelrec.space.ratings``.

The alias is the very same module object, so attributes read or patched through either name agree.
"""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("jewelrec.space.ratings")
