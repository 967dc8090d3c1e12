"""``python -m training.evaluate`` / ``jewelrec-evaluate``: interaction logs → split → models → metrics.

    python -m training.evaluate --config training/configs/compare.yaml --results-dir results/

Writes ``results.json`` ({model: {metric: value}}) and the rest described in :mod:`jewelrec.evaluation.experiment`
and README "Offline evaluation".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jewelrec.cli.arguments import command_name
from jewelrec.defaults import TRACKERS
from jewelrec.extras import reported


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=command_name("evaluate"), description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--config", required=True, help="evaluation YAML (see training/configs/)")
    parser.add_argument("--results-dir", default="results", help="where results.json, CSV, plots and run.json go")
    parser.add_argument("--run-mode", choices=["single", "sweep"], default=None, help="override run_mode")
    parser.add_argument("--tracker", choices=list(TRACKERS), default=None, help="override tracker")
    return parser


@reported
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from jewelrec.evaluation.experiment import EvalConfig, run, summary_table

    try:
        config = EvalConfig.from_yaml(args.config, run_mode=args.run_mode, tracker=args.tracker)  # flags win
        results = run(config, args.results_dir)
    except (OSError, ValueError) as exc:  # a bad config, log, bundle or results dir: the fix, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary_table(results, config.k))
    print(f"results: {Path(args.results_dir) / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
