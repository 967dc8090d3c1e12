"""``python -m training.update`` / ``jewelrec-update``: new items into a bundle's styles, listed items out, no refit.

    python -m training.update --bundle artifacts --dataset new_items.parquet --out artifacts-v2
    python -m training.update --bundle artifacts --remove jw-0007 jw-0113 --out artifacts-v2 --push --repo-id me/jewelrec

Every item already in the bundle keeps its embedding, style and map position; new items are embedded with the
bundle's own encoder and styled by its stored clustering. The result is an ordinary bundle, written only once
complete. When the catalog has drifted too far from the one the styles were fitted on it says a refit is due.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from jewelrec.cli.arguments import check_push_flags, command_name, configure_logging, whole_number
from jewelrec.defaults import MAX_SEED
from jewelrec.extras import reported
from jewelrec.pipeline.config import UpdateConfig

REFIT_DUE = 3  # exit status with --fail-if-refit-due


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=command_name("update"), description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = UpdateConfig()
    p.add_argument("--bundle", required=True, help="the bundle to update (a directory written by training.fit)")
    p.add_argument("--dataset", default=d.dataset,
                   help="the new items: an image folder, parquet file(s), a Hub dataset id or 'sample' (ids the "
                        "bundle already holds are skipped); omit to only --remove")
    p.add_argument("--remove", nargs="+", default=d.remove, metavar="ID", help="item ids to take out of the bundle")
    p.add_argument("--out", required=True, help="directory for the updated bundle (may be --bundle itself)")
    p.add_argument("--revision", default=d.revision, help="Hub dataset revision (branch, tag or commit)")
    p.add_argument("--split", default=d.split, help="dataset split to load")
    p.add_argument("--image-column", default=d.image_column, help="image column (detected when omitted)")
    p.add_argument("--id-column", default=d.id_column, help="item id column (detected or hashed when omitted)")
    p.add_argument("--allow-external-paths", action="store_true",
                   help="read images a catalog reaches by paths or symlinks leading out of its folder (skipped otherwise)")
    p.add_argument("--limit", type=whole_number(1), default=d.limit, help="use only the first N rows of --dataset")
    p.add_argument("--sample-items", type=whole_number(1), default=d.sample_items, help="size of the sample catalog")
    p.add_argument("--seed", type=whole_number(0, MAX_SEED), default=d.seed, help="seed for the drift baseline's sample")
    p.add_argument("--device", default=d.device, help="torch device for the encoder (default: cuda when present)")
    p.add_argument("--max-churn", type=float, default=d.max_churn,
                   help="a refit is due once this share of the fitted catalog has been added or removed")
    p.add_argument("--max-far-share", type=float, default=d.max_far_share,
                   help="a refit is due when more than this share of the new items look like nothing in the catalog")
    p.add_argument("--fail-if-refit-due", action="store_true",
                   help=f"exit with status {REFIT_DUE} (after writing the bundle) when a refit is due")
    p.add_argument("--push", action="store_true", help="push the updated bundle to the Hub as the next revision")
    p.add_argument("--repo-id", default=d.repo_id, help="Hub model repo for --push, e.g. user/jewelrec")
    p.add_argument("--private", action="store_true", help="create the Hub repo private")
    p.add_argument("--branch", default=d.branch, help="Hub branch to push to (default: main)")
    return p


def parse_config(argv: list[str] | None) -> UpdateConfig:
    parser = build_parser()
    config = UpdateConfig(**vars(parser.parse_args(argv)))
    for name in ("max_churn", "max_far_share"):
        if not 0 <= getattr(config, name) <= 1:
            parser.error(f"--{name.replace('_', '-')} is a share between 0 and 1, got {getattr(config, name)}")
    check_push_flags(parser, config)
    return config


def print_summary(summary: dict[str, Any], file=None) -> None:
    from jewelrec.catalog.loading import skip_hints
    entry = summary["entry"]
    if entry is None:  # nothing new: no revision written or pushed
        unchanged = summary["unchanged"]
        skipped = ", ".join(f"{k}: {v}" for k, v in sorted(unchanged["skipped"].items())) or "none"
        written = "" if summary["out"].resolve() == summary["bundle"].resolve() else f"; {summary['out']} not written"
        pushed = ("nothing pushed" if summary["push_url"] is None else
                  f"pushed as it stands, which the Hub did not hold (a failed push before?): {summary['push_url']}")
        due = ("; refit DUE (since the last update): " + "; ".join(unchanged["reasons"])) if unchanged["refit_due"] else ""
        print(f"\njewelrec update — nothing to do: {unchanged['rows_read']} rows read, none new (skipped {skipped}); "
              f"{summary['bundle']} keeps its {unchanged['items']} items{written}, "
              f"{pushed}{due}",
              file=file or sys.stdout)
        return
    drift = entry["drift"]
    skipped = ", ".join(f"{k}: {v}" for k, v in sorted(((entry["dataset"] or {}).get("skipped") or {}).items()))
    lines = [
        "",
        "jewelrec update — summary",
        f"  from         {summary['bundle']}: {entry['items_before']} items",
        f"  added        {entry['added']} (replacing {entry['replaced']})" + (f"; skipped {skipped}" if skipped else ""),
        f"  removed      {entry['removed']}",
        f"  styles       new items by style: {entry['styles_of_new_items'] or 'none'}"
        + "".join(f"; {old!r} renamed {new!r}" for old, new in (entry.get("renamed") or {}).items()),
        f"  drift        {drift['churn']:.0%} of the fitted catalog changed since the fit; "
        f"{drift['far_items']} new items unlike any in the catalog",
        "  refit        " + ("DUE: " + "; ".join(entry["reasons"]) if entry["refit_due"] else "not due"),
        "  time         " + ", ".join(f"{k} {v:.1f}s" for k, v in summary["timings"].items()),
        f"  bundle       {summary['out']}: {entry['items_after']} items",
    ]
    lines += [f"  note         {hint}" for hint in skip_hints((entry["dataset"] or {}).get("skipped") or {})]
    if summary["push_url"]:
        lines.append(f"  pushed       {summary['push_url']}")
    print("\n".join(lines), file=file or sys.stdout)


@reported
def main(argv: list[str] | None = None) -> int:
    configure_logging()
    config = parse_config(argv)
    from jewelrec.pipeline.update import run_update  # heavy (torch, faiss): only once there is work to do

    try:
        summary = run_update(config)
    except ValueError as err:  # bad input (BundleError included): say what to fix, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    print_summary(summary)
    due = (summary["entry"] or summary.get("unchanged") or {}).get("refit_due")  # a quiet night keeps the verdict
    return REFIT_DUE if config.fail_if_refit_due and due else 0


if __name__ == "__main__":
    sys.exit(main())
