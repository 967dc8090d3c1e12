"""Where a fit or an update writes its bundle: checks on ``--out``, the staging folder, and the final swap.

Nothing here deletes a folder jewelrec did not write. A staging folder is made by :func:`make_staging` and carries
a marker file from its first moment; :func:`clean_stale_staging` removes only marked folders of processes that are
gone. The previous bundle is moved aside into a folder this process has just created (never a fixed name someone
else may own), and a finished bundle whose swap fails is kept, and its place named, instead of being thrown away.
"""

from __future__ import annotations

import fcntl
import glob
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath

from jewelrec.serving.bundle_files import REQUIRED, list_files

log = logging.getLogger("jewelrec.fit")

# written into every staging folder when it is created: only folders holding it are ever cleaned up
STAGING_MARKER = ".jewelrec-staging"


def _bundle_config(path: Path) -> dict | None:
    """The ``config.json`` of the jewelrec bundle in ``path`` (a format version and a manifest listing a bundle's
    required arrays: another tool's config.json with a ``files`` key is not one), or None."""
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or "format_version" not in config or not isinstance(config.get("files"), dict):
        return None
    return config if set(REQUIRED) <= set(config["files"]) else None


def enclosing_bundle(path: Path, *, itself: bool = True) -> Path | None:
    """The jewelrec bundle folder that ``path`` is (when ``itself``) or lies inside, else None. Writing a file
    there leaves the bundle holding one its manifest does not list, which :meth:`Bundle.load` then refuses."""
    path = path.resolve()
    candidates = [path, *path.parents] if itself else list(path.parents)
    return next((p for p in candidates if _bundle_config(p) is not None), None)


def _is_bundle_dir(path: Path) -> tuple[bool, list[str]]:
    """(whether ``path`` holds a jewelrec bundle, the files in it the bundle's manifest does not list)."""
    config = _bundle_config(path)
    if config is None:
        return False, []
    listed = set(config["files"]) | {"config.json", "README.md"}  # the model card is written after the manifest
    present = set(list_files(path))  # huggingface_hub's own metadata of a --local-dir download is not a file of yours
    return True, sorted(present - listed)


def check_parent(out: Path, where: str) -> None:
    """Refuse a folder ``out`` that cannot be made or written next to: a dangling link, a file on the way, or a
    first existing folder on the way up this user cannot write in (where ``out``, its staging copy and its lock
    go). ``where``: how the messages name it (``--out DIR``)."""
    if out.is_symlink() and not out.exists():
        raise ValueError(f"{where} is a link to {os.readlink(out)!r}, which does not exist; give a folder (it is "
                         "made) or point the link at one")
    parent = next(p for p in out.absolute().parents if p.exists())  # the folder it (or its parents) go in
    if not parent.is_dir():
        raise ValueError(f"{where} lies under {parent}, which is a file, not a folder; give another folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{where}: cannot write in {parent}; give a folder in one you can write to")


def check_out_dir(out: Path, dataset: str | None) -> None:
    """Refuse an ``--out`` whose replacement would delete something jewelrec did not write: a file, a non-empty
    directory that is not a bundle, a bundle holding extra files, the dataset itself (or a folder inside it;
    ``dataset`` None: no dataset is read), or a folder inside a bundle; and one whose parent is a file or cannot be
    written to."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a directory for the bundle")
    check_parent(out, f"--out {out}")
    inside = enclosing_bundle(out, itself=False)
    if inside is not None:  # the bundle would then hold files its manifest does not list, and no longer load
        raise ValueError(f"--out {out} lies inside the bundle {inside}, which would then hold files it did not write "
                         f"and no longer load; pick an --out beside it (e.g. {inside.parent / (inside.name + '-v2')})")
    resolved = out.resolve()
    for root, whole in _dataset_folders(dataset):
        # a folder dataset is read whole (a bundle inside it joins the next fit's catalog); a parquet file or glob
        # reads only its files, so a new folder beside them is fine — the folder itself, or one above it, is not
        if resolved == root or root.is_relative_to(resolved) or (whole and resolved.is_relative_to(root)):
            raise ValueError(f"--out {out} overlaps the dataset {dataset}; writing the bundle there would replace "
                             "the source pictures (or join the catalog the next fit reads) — pick an --out outside "
                             "the dataset folder")
    if dataset not in (None, "sample") and glob.has_magic(dataset) and \
            PurePath(resolved / "items.parquet").match(os.path.abspath(os.path.expanduser(dataset))):
        raise ValueError(f"--out {out} would be read by --dataset {dataset!r} (its items.parquet matches the "
                         "pattern), joining the catalog the next fit reads — pick an --out the pattern does not match")
    if out.is_dir() and any(out.iterdir()):
        is_bundle, extra = _is_bundle_dir(out)
        if not is_bundle:
            shown = sorted(p.name for p in out.iterdir())[:5]
            raise ValueError(f"--out {out} is not empty and not a jewelrec bundle (it holds {shown}); a fit replaces "
                             "only a bundle it wrote or an empty directory — pick another --out")
        if extra:
            raise ValueError(f"--out {out} is a bundle but also holds files it did not write ({extra[:5]}); move "
                             "them out of the way or pick another --out — replacing the bundle would delete them")


def _dataset_folders(dataset: str | None) -> set[tuple[Path, bool]]:
    """The folders ``--dataset`` reads from, each with whether it is read whole: the folder itself (whole), a
    file's folder, or every folder a glob's files lie in (``catalog/*.parquet``); none for the sample, a Hub id or
    no dataset."""
    if dataset in (None, "sample"):
        return set()
    source = Path(dataset).expanduser()
    if source.exists():
        return {(source.resolve(), True) if source.is_dir() else (source.parent.resolve(), False)}
    return {(Path(m).resolve().parent, False) for m in glob.glob(str(source))}


LOCK_SUFFIX = ".lock"  # `.NAME.lock` beside a bundle folder: what a fit, update or compare of it holds


@contextmanager
def exclusive(out: Path, doing: str) -> Iterator[None]:
    """Hold the bundle folder ``out`` for this process from its load to the end of the run (the swap and a push
    included): an ``flock`` on ``.NAME.lock`` beside it, a path that stays put while the folder itself is swapped
    for a new one. A second fit, update or compare of the same folder meanwhile is refused at once — two nightly
    updates of one bundle each loaded it, and the later swap silently dropped the other's pieces. The lock is
    released when the process ends however it ends, and the file is removed by its holder at the end (a run that
    locks a file removed meanwhile sees that it is no longer the one at that path, and counts the folder as busy).
    Call it after :func:`check_out_dir`: the lock goes beside ``out``. A file system that cannot lock (some network
    mounts) runs unlocked, with a warning."""
    busy = (f"{out} is being written by another jewelrec process (a fit, update or compare of it still running); "
            f"wait for that to finish and {doing} again, or write to another --out — nothing was written")
    lock = out.parent / f".{out.name}{LOCK_SUFFIX}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        log.warning("cannot make the lock %s (%s); running without one: do not start another fit or update of %s "
                    "until this one ends", lock, err.strerror or err, out)
        yield
        return
    held = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = True
        except BlockingIOError:
            raise ValueError(busy) from None
        except OSError as err:  # e.g. an NFS mount without lock support
            log.warning("cannot lock %s (%s); running without a lock: do not start another fit or update of %s "
                        "until this one ends", lock, err.strerror or err, out)
        if held:
            try:
                current = os.stat(lock).st_ino
            except FileNotFoundError:
                current = None
            if current != os.fstat(fd).st_ino:  # its holder finished and removed it between our open and lock
                held = False
                raise ValueError(busy)
        yield
    finally:
        if held:
            lock.unlink(missing_ok=True)  # still ours: removed before the lock is let go
        os.close(fd)


def make_staging(out: Path, kind: str = "") -> Path:
    """A new, marked work folder beside ``out`` (``.NAME.staging-PID-KIND…``), for this process only."""
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-{os.getpid()}-{kind}", dir=out.parent))
    (work / STAGING_MARKER).write_text(f"work folder of jewelrec process {os.getpid()} for {out.name}; removed by "
                                       "the next fit or update once that process has ended\n")
    return work


@contextmanager
def staged_bundle(out: Path) -> Iterator[Path]:
    """Yield an empty folder to write a bundle into; once the block ends without error it replaces ``out``.

    An error inside the block removes the work folder (all of it written here). An error in the swap itself keeps
    the finished bundle (unmarked, so no later run cleans it up) and raises a ``ValueError`` saying where it is.
    """
    work = make_staging(out)
    bundle_dir = work / "bundle"  # the marker stays beside the bundle, never in it (a bundle holds only its files)
    bundle_dir.mkdir()
    try:
        yield bundle_dir
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    try:
        replace_dir(bundle_dir, out)
    except (OSError, ValueError) as err:
        (work / STAGING_MARKER).unlink(missing_ok=True)
        raise ValueError(f"the finished bundle could not be moved to {out} ({err}); it is kept at {bundle_dir} — "
                         f"move it into place yourself, or clear {out} and run again") from None
    shutil.rmtree(work, ignore_errors=True)


def clean_stale_staging(out: Path) -> None:
    """Remove staging folders a killed fit left beside ``out``: ``.NAME.staging-PID-*`` folders that hold the
    :data:`STAGING_MARKER` written when they were made, and whose process is gone. Anything else is left alone."""
    if not out.parent.is_dir():
        return
    for path in out.parent.glob(f".{out.name}.staging-*-*"):
        try:
            pid = int(path.name.split("staging-", 1)[1].split("-", 1)[0])
        except ValueError:
            continue
        marker = path / STAGING_MARKER
        if pid == os.getpid() or path.is_symlink() or marker.is_symlink() or not marker.is_file():
            continue  # not a folder jewelrec made (or made by this very process)
        try:
            os.kill(pid, 0)
            continue  # that fit is still running
        except ProcessLookupError:
            log.info("removing %s, left by an interrupted fit", path)
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            continue


def _cwd_within(target: Path) -> str | None:
    """``"at"`` when the working directory is ``target``, ``"inside"`` when it lies within it, else None."""
    try:
        cwd = Path.cwd().resolve()
    except OSError:  # the working directory was deleted
        return None
    resolved = target.resolve()
    return "at" if cwd == resolved else "inside" if resolved in cwd.parents else None


def replace_dir(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``; an existing ``target`` is swapped out only once ``new`` is complete.

    ``target`` is checked again first (files put in it during a long fit are not deleted), then moved aside into a
    folder this process creates for it; if ``new`` cannot take its place, it is moved back."""
    if not target.exists():
        new.rename(target)
        return
    check_out_dir(target, None)
    cwd = _cwd_within(target)
    if cwd and target.is_dir() and not any(target.iterdir()):
        # `--out .` in an empty folder: filled in place, so the shell that ran the fit still sees it (a swapped
        # folder leaves it in a deleted one); config.json last — without it the folder is not a bundle yet
        for child in sorted(new.iterdir(), key=lambda p: p.name == "config.json"):
            child.rename(target / child.name)
        new.rmdir()
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    old = aside / target.name
    target.rename(old)
    try:
        new.rename(target)
    except OSError:
        old.rename(target)
        shutil.rmtree(aside, ignore_errors=True)  # empty again: this process made it
        raise
    if cwd:
        if cwd == "at":
            os.chdir(target)  # this process follows; a shell sitting in the old folder needs `cd .`
        log.warning("%s, the folder this ran in, now holds the new bundle; run `cd .` in a shell that sits in it "
                    "to see it", target)
    shutil.rmtree(aside, ignore_errors=True)
