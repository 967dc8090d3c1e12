"""Command-line doors into the library: argparse → a config dataclass → one library call.

Each module has ``main(argv=None) -> int``; ``python -m training.<name>`` and the ``jewelrec-<name>`` console
scripts both call it. Parsers import nothing heavy, so ``--help`` answers at once.
"""
