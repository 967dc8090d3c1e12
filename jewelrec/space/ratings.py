"""RatingStore: the Space's star ratings in SQLite (WAL, busy timeout, ``BEGIN IMMEDIATE`` writes).

Contract (the offline evaluator reads it):
``ratings(user_id TEXT, item_id TEXT, stars INTEGER, updated_at REAL, PRIMARY KEY(user_id, item_id))`` holds the
latest stars per (user, item); ``rating_history`` keeps every write, append-only.

SQLite WAL needs working file locks and shared memory, which network/FUSE mounts (NFS, CIFS, a Space's
persistent ``/data`` bucket) may not give. :meth:`RatingStore.open` checks the data dir's mount type: on such a
mount the live database stays on local disk and is copied to the data dir with the SQLite backup API
(periodically and at shutdown), and the newest copy is restored at start.
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import threading
import time
from collections.abc import Collection
from pathlib import Path

from jewelrec.paths import cache_dir, home

MAX_ID_LEN = 128  # ids are short keys; a longer one is a bug or an attack, not a real item
NETWORK_FS = ("nfs", "nfs4", "cifs", "smb", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre",
              "gcsfuse", "s3fs", "sshfs", "davfs", "virtiofs")
BACKUP_NAME = "ratings.backup.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS ratings (
    user_id TEXT NOT NULL, item_id TEXT NOT NULL, stars INTEGER NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (user_id, item_id));
CREATE TABLE IF NOT EXISTS rating_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, item_id TEXT NOT NULL,
    stars INTEGER NOT NULL, rated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS rating_history_user ON rating_history (user_id, rated_at);
"""


class RatingError(ValueError):
    """A rating the store refuses; the message says what a valid one looks like."""


def data_dir() -> Path:
    """Where ratings live: ``$JEWELREC_DATA_DIR``, else ``jewelrec.paths.home()/data``."""
    return Path(os.environ.get("JEWELREC_DATA_DIR") or home() / "data")


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


def _validate(user_id: str, item_id: str, stars: object, known_items: Collection[str] | None) -> int:
    for what, value in (("user id", user_id), ("item id", item_id)):
        if not isinstance(value, str) or not value.strip():
            raise RatingError(f"{what} must be a non-empty string, got {value!r}")
        if len(value) > MAX_ID_LEN:
            raise RatingError(f"{what} is {len(value)} characters; at most {MAX_ID_LEN} are allowed")
    if isinstance(stars, bool) or not isinstance(stars, (int, float)) or float(stars) != int(stars):
        raise RatingError(f"stars must be a whole number from 1 to 5, got {stars!r}")
    if not 1 <= int(stars) <= 5:
        raise RatingError(f"stars must be from 1 to 5, got {stars!r}")
    if known_items is not None and item_id not in known_items:
        raise RatingError(f"unknown item {item_id!r}: it is not in this catalog")
    return int(stars)


class RatingStore:
    """Latest stars per (user, item) plus full history, safe for many threads and processes.

    Each call opens its own short-lived connection, so handlers on gradio's worker threads never share one.
    ``backup_path`` (set by :meth:`open` on network mounts) receives :meth:`backup` copies.
    """

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 10_000,
                 known_items: Collection[str] | None = None, backup_path: str | Path | None = None):
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms  # writers queue behind each other instead of failing at once
        self.known_items = known_items
        self.backup_path = Path(backup_path) if backup_path else None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._stop = threading.Event()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @classmethod
    def open(cls, directory: str | Path | None = None, *, known_items: Collection[str] | None = None,
             mounts_file: str | Path = "/proc/mounts") -> RatingStore:
        """The store for a data dir (default :func:`data_dir`): live there on local disk; on a network mount,
        live under ``cache_dir('live-ratings')`` restored from the newest backup in the data dir."""
        directory = Path(directory) if directory else data_dir()
        directory.mkdir(parents=True, exist_ok=True)
        if not is_network_mount(directory, mounts_file):
            return cls(directory / "ratings.db", known_items=known_items)
        live = cache_dir("live-ratings") / "ratings.db"
        backup = directory / BACKUP_NAME
        if backup.exists() and (not live.exists() or backup.stat().st_mtime >= live.stat().st_mtime):
            restore(backup, live)
        return cls(live, known_items=known_items, backup_path=backup)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None)
        db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives an app kill -9; only an OS crash loses
        return db

    # -- writes --------------------------------------------------------------------------------------
    def rate(self, user_id: str, item_id: str, stars: int, *, at: float | None = None) -> int:
        """Store ``stars`` (1–5) for (user, item), replacing the previous value; raises :class:`RatingError`.
        Returns how many pieces the user has rated now (counted in the same transaction: no second connection)."""
        stars = _validate(user_id, item_id, stars, self.known_items)
        now = time.time() if at is None else float(at)
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")  # take the write lock up front: no read-then-upgrade deadlocks
            db.execute("INSERT INTO ratings (user_id, item_id, stars, updated_at) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT(user_id, item_id) DO UPDATE SET stars=excluded.stars, "
                       "updated_at=excluded.updated_at", (user_id, item_id, stars, now))
            db.execute("INSERT INTO rating_history (user_id, item_id, stars, rated_at) VALUES (?, ?, ?, ?)",
                       (user_id, item_id, stars, now))
            (count,) = db.execute("SELECT COUNT(*) FROM ratings WHERE user_id = ?", (user_id,)).fetchone()
            db.execute("COMMIT")
            return int(count)
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def clear(self, user_id: str) -> int:
        """Forget a user's current ratings (history is kept). Returns how many were removed."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            n = db.execute("DELETE FROM ratings WHERE user_id = ?", (user_id,)).rowcount
            db.execute("COMMIT")
            return n
        finally:
            db.close()

    # -- reads ---------------------------------------------------------------------------------------
    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        db = self._connect()
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def ratings(self, user_id: str) -> dict[str, int]:
        """``{item_id: stars}`` for one user, oldest first."""
        rows = self._query("SELECT item_id, stars FROM ratings WHERE user_id = ? ORDER BY updated_at", (user_id,))
        return {item: int(stars) for item, stars in rows}

    def history(self, user_id: str) -> list[tuple[str, int, float]]:
        """Every write by one user as ``(item_id, stars, rated_at)``, in order."""
        return [(i, int(s), float(t)) for i, s, t in self._query(
            "SELECT item_id, stars, rated_at FROM rating_history WHERE user_id = ? ORDER BY id", (user_id,))]

    def count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM ratings")[0][0])

    def n_users(self) -> int:
        return int(self._query("SELECT COUNT(DISTINCT user_id) FROM ratings")[0][0])

    def writes(self) -> int:
        """How many ratings were ever written (history rows): a cheap counter to notice new ratings."""
        return int(self._query("SELECT COALESCE(MAX(id), 0) FROM rating_history")[0][0])

    def all_ratings(self) -> tuple[list[str], list[str], list[int]]:
        """Every current rating as three columns ``(user_ids, item_ids, stars)``, for the crowd model."""
        rows = self._query("SELECT user_id, item_id, stars FROM ratings")
        if not rows:
            return [], [], []
        users, items, stars = zip(*rows)
        return list(users), list(items), [int(s) for s in stars]

    # -- backups -------------------------------------------------------------------------------------
    def backup(self, dest: str | Path | None = None) -> Path:
        """Checkpoint the WAL and copy the live DB to ``dest`` (default ``backup_path``) atomically."""
        dest = Path(dest) if dest else self.backup_path
        if dest is None:
            raise ValueError("no backup destination: pass dest= or open the store with RatingStore.open on a "
                             "network mount")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        src = self._connect()
        try:
            src.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            _copy_database(src, tmp)
        finally:
            src.close()
        os.replace(tmp, dest)  # a reader of the backup never sees a half-written file
        return dest

    def start_backups(self, interval_s: float = 300.0) -> threading.Thread | None:
        """When the store has a ``backup_path``: back up every ``interval_s`` and once more at exit."""
        if self.backup_path is None:
            return None

        def loop() -> None:
            while not self._stop.wait(interval_s):
                self.backup()

        atexit.register(self.close)
        thread = threading.Thread(target=loop, name="ratings-backup", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """Stop periodic backups and write a final one (when backing up)."""
        self._stop.set()
        if self.backup_path is not None:
            self.backup()


def restore(backup: str | Path, live: str | Path) -> None:
    """Copy a backup DB into ``live`` with the SQLite backup API (the live file's WAL is replaced too)."""
    live = Path(live)
    live.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{Path(backup).resolve()}?mode=ro", uri=True)
    try:
        _copy_database(src, live)
    finally:
        src.close()


def _copy_database(src: sqlite3.Connection, dest: Path) -> None:
    """Copy the open database ``src`` into the file ``dest`` with the SQLite backup API."""
    out = sqlite3.connect(dest)
    try:
        src.backup(out)
    finally:
        out.close()
