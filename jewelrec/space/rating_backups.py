"""Keeping the rating database safe where SQLite WAL is not: whether a data dir sits on a network/FUSE mount
(:func:`is_network_mount`), and copying a database with the SQLite backup API — the copies
:meth:`~jewelrec.space.ratings.RatingStore.backup` writes into the data dir, and :func:`restore` of the newest one
at start."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from jewelrec.space.rating_checks import store_error

NETWORK_FS = ("nfs", "nfs4", "cifs", "smb", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre",
              "gcsfuse", "s3fs", "sshfs", "davfs", "virtiofs")
BACKUP_NAME = "ratings.backup.db"


def mount_type(path: str | Path, mounts_file: str | Path = "/proc/mounts") -> str:
    """File-system type of the mount holding ``path`` (longest mount-point prefix), ``"unknown"`` if unreadable."""
    target = Path(path).resolve()
    best, fstype = -1, "unknown"
    try:
        lines = Path(mounts_file).read_text().splitlines()
    except OSError:
        return fstype
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = Path(parts[1].replace("\\040", " "))
        if (target == point or point in target.parents) and len(str(point)) > best:
            best, fstype = len(str(point)), parts[2]
    return fstype


def is_network_mount(path: str | Path, mounts_file: str | Path = "/proc/mounts") -> bool:
    """True when ``path`` sits on NFS/SMB/FUSE-like storage where SQLite WAL locking is unsafe."""
    fstype = mount_type(path, mounts_file).lower()
    return fstype.startswith("fuse") or fstype in NETWORK_FS


def restore(backup: str | Path, live: str | Path) -> None:
    """Copy a backup DB into ``live`` with the SQLite backup API (the live file's WAL is replaced too)."""
    live = Path(live)
    live.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{Path(backup).resolve()}?mode=ro", uri=True)
    try:
        _copy_database(src, live)
    except sqlite3.Error as err:  # a backup that is not SQLite: its path and the fix, the live file unchanged
        raise store_error(Path(backup), err) or err from None
    finally:
        src.close()


def retire(path: Path) -> None:
    """Move a database that has been restored elsewhere aside (``NAME.restored``), its WAL folded in first."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    path.rename(path.with_name(path.name + ".restored"))
    for extra in ("-wal", "-shm"):
        path.with_name(path.name + extra).unlink(missing_ok=True)


def _copy_database(src: sqlite3.Connection, dest: Path) -> None:
    """Copy the open database ``src`` into the file ``dest`` with the SQLite backup API."""
    out = sqlite3.connect(dest)
    try:
        src.backup(out)
    finally:
        out.close()
