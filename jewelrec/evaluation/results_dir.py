"""Where an offline evaluation writes (``--results-dir``): checked before any work, and never a file jewelrec did
not write overwritten.

A results dir is jewelrec's when it holds :data:`MARKER` (written before the first output) or, from before the
marker existed, a ``run.json`` jewelrec wrote. Into such a dir a new run overwrites the earlier run's outputs (and,
once its own are written, removes the earlier ones it did not rewrite, so no stale sweep.csv sits beside them); into
any other folder it writes only when none of its output names is taken, so ``results.csv`` of your own is never
replaced. Files with other names are left alone either way.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from pathlib import Path

MARKER = ".jewelrec-results"  # JSON {"written_by": ..., "outputs": [...]}: this folder's outputs are jewelrec's
# every file a run may write at the top of the results dir (trackers write their own sub-folders, adding files)
OUTPUTS = ("results.json", "results.csv", "data_report.json", "run.json", "metrics.png", "lift.png", "sweep.csv",
           "sweep.png", "best_params.json")  # fmt: skip


def _is_ours(out: Path) -> bool:
    """Whether ``out`` carries the marker, or a ``run.json`` an earlier jewelrec evaluation wrote."""
    if (out / MARKER).is_file():
        return True
    try:
        record = json.loads((out / "run.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and "jewelrec" in (record.get("versions") or {}) and "config" in record


def check_results_dir(results_dir: str | Path) -> Path:
    """The results dir, made if missing; a ValueError naming the path and the fix when it is a file, cannot be
    made, or holds files named like the outputs that jewelrec did not write."""
    if not str(results_dir).strip():
        raise ValueError("--results-dir is empty; give the folder the results go in (it is made)")
    out = Path(results_dir)
    where = f"--results-dir {str(out)!r}"
    from jewelrec.pipeline.out_dir import enclosing_bundle

    bundle = enclosing_bundle(out)
    if bundle is not None:  # its manifest would not list the results, and the bundle would no longer load
        raise ValueError(f"{where} is in the jewelrec bundle {str(bundle)!r}, which would then hold files it did not "
                         f"write and no longer load; give a folder beside it (e.g. {str(bundle.parent / 'eval')!r})")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{where} is a file, not a folder; give a new folder (it is made) or one an earlier "
                         "evaluation wrote")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{where} cannot be made: {err.strerror or err}; give a folder this user can write") from None
    try:  # a read-only folder (or file system) must stop the run now, not after every model has trained
        tempfile.TemporaryFile(dir=out).close()
    except OSError as err:
        raise ValueError(f"{where} cannot be written to: {err.strerror or err}; give a folder this user can "
                         "write") from None
    links = sorted(name for name in (*OUTPUTS, MARKER) if (out / name).is_symlink())
    if links:  # writing results.csv would write into whatever file the link names, outside the folder
        raise ValueError(f"{where} holds {links} as symbolic links, so the outputs would be written into the files "
                         "they point to; remove the links (the files they name are left as they are) or give a new "
                         "folder")
    if _is_ours(out):
        return out
    taken = sorted(name for name in (*OUTPUTS, MARKER) if (out / name).exists())
    if taken:
        raise ValueError(f"{where} holds {taken}, which this evaluation would overwrite and jewelrec did not write; "
                         "give a new folder (or move those files away)")
    return out


def mark_results_dir(out: Path) -> None:
    """Claim ``out`` before the first output is written, so a run killed half-way can be re-run into it."""
    (out / MARKER).write_text(json.dumps({"written_by": "jewelrec offline evaluation", "outputs": list(OUTPUTS)},
                                         indent=2))


def remove_stale_outputs(out: Path, written: Iterable[str]) -> list[str]:
    """Delete the outputs of an earlier run that this run did not write (a sweep's ``sweep.csv`` beside a later
    single run's ``results.json`` would read as this run's), once this run's outputs are in place. Only in a folder
    that is jewelrec's and only names in :data:`OUTPUTS`; returns the names removed."""
    if not _is_ours(out):
        return []
    keep = set(written)
    stale = [name for name in OUTPUTS if name not in keep and (out / name).is_file()]
    for name in stale:
        (out / name).unlink()
    return stale
