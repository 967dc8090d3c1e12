"""RatingStore: the Space's star ratings in SQLite (WAL, busy timeout, ``BEGIN IMMEDIATE`` writes).

Contract (the offline evaluator reads it):
``ratings(user_id TEXT, item_id TEXT, stars INTEGER, updated_at REAL, PRIMARY KEY(user_id, item_id))`` holds the
latest stars per (user, item); ``rating_history`` keeps every write, append-only.
``rating_clears(id, user_id, upto, cleared_at)`` records every :meth:`RatingStore.clear` (append-only too): at
``id`` the user's history rows with id ≤ ``upto`` stopped counting. Its ids come from the same counter as
``rating_history``'s, so the two tables interleave into one replayable log — :func:`replay` of a user's rows up to
any id gives their ratings as they stood then (the crowd refresher's incremental updates rely on it).

SQLite WAL needs working file locks and shared memory, which network/FUSE mounts (NFS, CIFS, a Space's
persistent ``/data`` bucket) may not give. :meth:`RatingStore.open` checks the data dir's mount type: on such a
mount the live database stays on local disk and is copied to the data dir with the SQLite backup API
(periodically and at shutdown), and the newest copy is restored at start.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jewelrec.paths import cache_dir, home
from jewelrec.space.rating_backups import (  # noqa: F401  (mount_type, NETWORK_FS: importable here as before)
    BACKUP_NAME,
    NETWORK_FS,
    _copy_database,
    is_network_mount,
    mount_type,
    restore,
    retire,
)
from jewelrec.space.rating_checks import (  # noqa: F401  (MAX_ID_LEN, RatingError, RatingStoreError: as before)
    DATA_DIR_ENV,
    MAX_ID_LEN,
    RatingError,
    RatingStoreError,
    _has_table,
    check_id,
    check_path,
    check_tables,
    make_folder,
    store_error,
)
from jewelrec.space.rating_checks import validate_rating as _validate

SCHEMA = """
CREATE TABLE IF NOT EXISTS ratings (
    user_id TEXT NOT NULL, item_id TEXT NOT NULL, stars INTEGER NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (user_id, item_id));
CREATE TABLE IF NOT EXISTS rating_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, item_id TEXT NOT NULL,
    stars INTEGER NOT NULL, rated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS rating_history_user ON rating_history (user_id, rated_at);
CREATE TABLE IF NOT EXISTS rating_clears (
    id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, upto INTEGER NOT NULL, cleared_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS rating_clears_user ON rating_clears (user_id, id);
"""


log = logging.getLogger(__name__)

# A row this store could have written: whole stars 1–5. The schema cannot stop another writer (a hand edit, an older
# tool) storing 'five', 4.5, 0 or 300 — SQLite keeps any type under INTEGER affinity —, so every read keeps only such
# rows and leaves the rest in the file: one bad row must not cost a shopper their ratings or everyone the crowd model.
VALID_STARS = "typeof(stars) = 'integer' AND stars BETWEEN 1 AND 5"

_PACKED = np.dtype([("shopper", ">u4"), ("row", ">u4"), ("stars", "u1")])  # rating_codes' hex, decoded


class RatingLogRewound(RuntimeError):
    """The log is not the one an earlier read saw (a backup was restored, the file replaced): refit in full."""


class RatingCodes(NamedTuple):
    """Every current rating on a catalog item, as integer columns (see :meth:`RatingStore.rating_codes`)."""
    high_water: int  # the write counter these ratings include
    mark: tuple | None  # what the log holds at ``high_water``: pass it back to changes_since
    shoppers: np.ndarray  # (m,) int64, 0..n_shoppers-1 (numbers for this read only, not ids)
    rows: np.ndarray  # (m,) int64 catalog rows
    stars: np.ndarray  # (m,) int64 1–5


class RatingChanges(NamedTuple):
    """The shoppers who rated or cleared since a write counter, as :meth:`RatingStore.changes_since` read them."""
    high_water: int
    mark: tuple | None
    users: list[str]  # every shopper with a rating or a clear after ``since``
    history: list[tuple[str, int, str, int]]  # their (user_id, id, item_id, stars) rows up to high_water, by id
    clears: list[tuple[str, int, int]]  # their (user_id, id, upto) clear markers up to high_water, by id
    current: list[tuple[str, str, int]]  # their (user_id, item_id, stars) rows in ``ratings`` now


def replay(history: Sequence[tuple[int, str, int]], clears: Sequence[tuple[int, int]], upto_id: int) -> dict[str, int]:
    """One shopper's ratings as they stood at write ``upto_id``: the latest stars per item among their history rows
    ``(id, item_id, stars)`` with id ≤ ``upto_id``, minus those that a clear ``(id, upto)`` logged by then removed."""
    cut = max((upto for marker, upto in clears if marker <= upto_id), default=0)
    state: dict[str, int] = {}
    for row_id, item, stars in sorted(history):
        if cut < row_id <= upto_id:
            state[item] = int(stars)
    return state


def data_dir() -> Path:
    """Where ratings live: ``$JEWELREC_DATA_DIR``, else ``jewelrec.paths.home()/data``."""
    return Path(os.environ.get(DATA_DIR_ENV) or home() / "data")


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
        self._stop = threading.Event()
        self._told_bad: set[str] = set()  # users whose unreadable rows were already logged (once each)
        check_path(self.path, path)  # RatingStoreError: empty, a folder, a folder that cannot be made
        db = self._connect()
        try:
            check_tables(db, self.path)  # read-only: someone else's database is refused before anything is written
            db.execute("PRAGMA journal_mode=WAL")  # kept in the file; outside a transaction, as SQLite requires
        except sqlite3.Error as err:
            raise store_error(self.path, err) or err from None
        finally:
            db.close()
        with self._write() as db:  # one process creates (and, for an old database, back-fills) the tables
            legacy = _has_table(db, "rating_history") and not _has_table(db, "rating_clears")
            for statement in filter(str.strip, SCHEMA.split(";")):
                db.execute(statement)
            if legacy:
                _mark_untracked_clears(db)

    @classmethod
    def open(cls, directory: str | Path | None = None, *, known_items: Collection[str] | None = None,
             mounts_file: str | Path = "/proc/mounts") -> RatingStore:
        """The store for a data dir (default :func:`data_dir`): live there on local disk; on a network mount,
        live under ``cache_dir('live-ratings')`` restored from the newest backup in the data dir."""
        directory = Path(directory) if directory else data_dir()
        make_folder(directory, directory / "ratings.db")  # RatingStoreError naming the folder and the fix
        if not is_network_mount(directory, mounts_file):
            return cls(directory / "ratings.db", known_items=known_items)
        # one live copy per data dir: two Spaces (two shops) on network mounts shared one, each other's ratings
        key = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:16]
        live = cache_dir("live-ratings") / key / "ratings.db"
        backup = directory / BACKUP_NAME
        source = backup  # what the live copy starts from
        if not backup.exists() and (directory / "ratings.db").exists():
            # a database put where the README says ratings live (copied in, or from before the mount): its ratings
            # start the live copy instead of being passed over for an empty one
            log.info("ratings: %s is on a network mount; starting the live copy from %s (backups go to %s)",
                     directory, directory / "ratings.db", backup)
            source = directory / "ratings.db"
        legacy = cache_dir("live-ratings") / "ratings.db"  # the one live copy every data dir shared before
        if not live.exists() and legacy.exists() and (not source.exists()
                                                      or legacy.stat().st_mtime > source.stat().st_mtime):
            # the first start after the upgrade: that copy holds ratings the last backup may not (a SIGTERM
            # skipped it); taken once, then moved aside so no other data dir takes the same ratings
            log.info("ratings: starting the live copy of %s from %s, the live copy before each data dir had "
                     "its own; it is kept as %s", directory, legacy, legacy.name + ".restored")
            source = legacy
        if source.exists() and (not live.exists() or source.stat().st_mtime >= live.stat().st_mtime):
            restore(source, live)
            if source == legacy:
                retire(legacy)
        return cls(live, known_items=known_items, backup_path=backup)

    def _connect(self) -> sqlite3.Connection:
        """A new connection; :class:`RatingStoreError` (path and fix) when the file cannot be opened."""
        db = None
        try:
            db = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None)
            db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives an app kill -9; only an OS crash loses
        except sqlite3.Error as err:
            if db is not None:
                db.close()
            raise store_error(self.path, err) or err from None
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One connection holding the write lock from the start (``BEGIN IMMEDIATE``: no read-then-upgrade
        deadlocks): committed when the block ends, rolled back if it raises."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException as err:
            if db.in_transaction:
                db.execute("ROLLBACK")
            unusable = store_error(self.path, err) if isinstance(err, sqlite3.Error) else None
            if unusable:  # read-only, or replaced by a file that is not SQLite: the path and the fix
                raise unusable from None
            raise
        finally:
            db.close()

    # -- writes --------------------------------------------------------------------------------------
    def rate(self, user_id: str, item_id: str, stars: int, *, at: float | None = None) -> int:
        """Store ``stars`` (1–5) for (user, item), replacing the previous value; raises :class:`RatingError`.
        Returns how many pieces the user has rated now — of ``known_items`` when the store has them, so ratings of
        pieces a refit dropped are not counted, as For you does not count them (counted in the same transaction:
        no second connection)."""
        stars = _validate(user_id, item_id, stars, self.known_items)
        now = time.time() if at is None else float(at)
        with self._write() as db:
            db.execute("INSERT INTO ratings (user_id, item_id, stars, updated_at) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT(user_id, item_id) DO UPDATE SET stars=excluded.stars, "
                       "updated_at=excluded.updated_at", (user_id, item_id, stars, now))
            db.execute("INSERT INTO rating_history (user_id, item_id, stars, rated_at) VALUES (?, ?, ?, ?)",
                       (user_id, item_id, stars, now))
            if self.known_items is None:
                (count,) = db.execute(f"SELECT COUNT(*) FROM ratings WHERE user_id = ? AND {VALID_STARS}",
                                      (user_id,)).fetchone()
            else:
                count = sum(item in self.known_items for (item,) in db.execute(
                    f"SELECT item_id FROM ratings WHERE user_id = ? AND {VALID_STARS}", (user_id,)))
        return int(count)

    def clear(self, user_id: str, *, at: float | None = None) -> int:
        """Forget a user's current ratings (history is kept, and the clear is logged in ``rating_clears`` so the
        history stays replayable and :meth:`writes` moves). Returns how many were removed."""
        check_id("user id", user_id)
        now = time.time() if at is None else float(at)
        with self._write() as db:
            n = db.execute("DELETE FROM ratings WHERE user_id = ?", (user_id,)).rowcount
            if n:  # clearing nothing changes nothing: no marker, no refresh
                marker = _next_id(db)
                db.execute("INSERT INTO rating_clears (id, user_id, upto, cleared_at) VALUES (?, ?, ?, ?)",
                           (marker, user_id, marker, now))
        return n

    # -- reads ---------------------------------------------------------------------------------------
    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        db = self._connect()
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.Error as err:  # locked past the timeout, tables gone: the path and the fix
            raise store_error(self.path, err) or err from None
        finally:
            db.close()

    def ratings(self, user_id: str) -> dict[str, int]:
        """``{item_id: stars}`` for one user, oldest first; rows with stars this store could not have written
        (:data:`VALID_STARS`) are skipped — logged once per user, left in the file."""
        rows = self._query("SELECT item_id, stars FROM ratings WHERE user_id = ? ORDER BY updated_at", (user_id,))
        kept = {item: stars for item, stars in rows if _whole_stars(stars)}
        if len(kept) < len(rows) and user_id not in self._told_bad:
            self._told_bad.add(user_id)
            bad = [(item, stars) for item, stars in rows if not _whole_stars(stars)]
            log.warning("%s: %d rating row(s) of %r have stars that are not a whole number from 1 to 5 (e.g. %r); "
                        "skipped, left in the file", self.path, len(bad), user_id, bad[:3])
        return kept

    def history(self, user_id: str) -> list[tuple[str, int, float]]:
        """Every write by one user as ``(item_id, stars, rated_at)``, in order (unreadable rows skipped)."""
        return [(i, int(s), float(t)) for i, s, t in self._query(
            f"SELECT item_id, stars, rated_at FROM rating_history WHERE user_id = ? AND {VALID_STARS} ORDER BY id",
            (user_id,))]

    def count(self) -> int:
        return int(self._query(f"SELECT COUNT(*) FROM ratings WHERE {VALID_STARS}")[0][0])

    def n_users(self) -> int:
        return int(self._query(f"SELECT COUNT(DISTINCT user_id) FROM ratings WHERE {VALID_STARS}")[0][0])

    def writes(self) -> int:
        """The write counter: the highest id in ``rating_history`` or ``rating_clears`` (one counter for both), so
        every rating and every clear moves it — a cheap way to notice that anything changed."""
        db = self._connect()
        try:
            return _high_water(db)
        finally:
            db.close()

    def all_ratings(self) -> tuple[list[str], list[str], list[int]]:
        """Every current rating as three columns ``(user_ids, item_ids, stars)``, for the crowd model."""
        rows = self._query(f"SELECT user_id, item_id, stars FROM ratings WHERE {VALID_STARS}")
        if not rows:
            return [], [], []
        users, items, stars = zip(*rows)
        return list(users), list(items), [int(s) for s in stars]

    # -- the crowd model's reads -----------------------------------------------------------------------
    def rating_codes(self, item_ids: Sequence[str]) -> RatingCodes:
        """Every current rating on a catalog item as integer columns, in one read transaction with the write
        counter it matches. SQLite numbers the shoppers and looks up catalog rows and hands back one hex string,
        so no Python object is made per rating (and sqlite3 releases the GIL while SQLite works: requests on
        other threads keep running). Ratings of items outside ``item_ids`` are left out."""
        db = self._connect()
        try:
            db.execute("CREATE TEMP TABLE catalog_rows (item_id TEXT PRIMARY KEY, row INTEGER NOT NULL)")
            db.executemany("INSERT OR REPLACE INTO catalog_rows VALUES (?, ?)",  # a repeated id: the last row wins
                           ((str(item), row) for row, item in enumerate(item_ids)))
            db.execute("BEGIN")  # one snapshot for the rows and the counter
            high_water = _high_water(db)
            mark = _mark(db, high_water)
            (hexed,) = db.execute(
                "SELECT group_concat(printf('%08x%08x%02x', shopper, row, stars), '') FROM ("
                " SELECT DENSE_RANK() OVER (ORDER BY r.user_id) - 1 AS shopper, c.row AS row, r.stars AS stars"
                f" FROM ratings r JOIN catalog_rows c ON c.item_id = r.item_id WHERE {VALID_STARS})").fetchone()
            db.execute("COMMIT")
        finally:
            db.close()
        packed = np.frombuffer(bytes.fromhex(hexed or ""), dtype=_PACKED)  # (m,) shopper, row, stars
        return RatingCodes(high_water, mark, packed["shopper"].astype(np.int64), packed["row"].astype(np.int64),
                           packed["stars"].astype(np.int64))

    def changes_since(self, since: int, mark: tuple | None) -> RatingChanges:
        """What changed after write ``since`` (the counter of an earlier :meth:`rating_codes` or
        :meth:`changes_since`, whose ``mark`` is passed back): the shoppers who rated or cleared since, with their
        whole log up to now and their current ratings, all read in ONE read transaction (one consistent snapshot,
        the counter included). Raises :class:`RatingLogRewound` when the log is not the one ``since`` refers to
        (a restored backup: the counter went down, or the row at ``since`` is another row)."""
        db = self._connect()
        try:
            db.execute("BEGIN")
            high_water = _high_water(db)
            if high_water < since or _mark(db, since) != mark:
                raise RatingLogRewound(f"the rating log changed under the crowd model (write counter {since} → "
                                       f"{high_water}, or another row at {since}): refit in full")
            clears = _has_table(db, "rating_clears")
            changed = ("SELECT user_id FROM rating_history WHERE id > :since AND id <= :hw"
                       + (" UNION SELECT user_id FROM rating_clears WHERE id > :since AND id <= :hw" if clears else ""))
            args = {"since": since, "hw": high_water}
            users = [u for (u,) in db.execute(changed, args)]
            history = db.execute(f"SELECT user_id, id, item_id, stars FROM rating_history WHERE id <= :hw AND "
                                 f"{VALID_STARS} AND user_id IN ({changed}) ORDER BY id", args).fetchall()
            markers = db.execute(f"SELECT user_id, id, upto FROM rating_clears WHERE id <= :hw AND "
                                 f"user_id IN ({changed}) ORDER BY id", args).fetchall() if clears else []
            current = db.execute(f"SELECT user_id, item_id, stars FROM ratings WHERE {VALID_STARS} AND "
                                 f"user_id IN ({changed})", args).fetchall()
            now_mark = _mark(db, high_water)
            db.execute("COMMIT")
        finally:
            db.close()
        return RatingChanges(high_water, now_mark, users, history, markers, current)

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
                try:
                    self.backup()
                except Exception as err:  # noqa: BLE001  a mount hiccup: the next interval tries again
                    log.warning("ratings backup to %s failed (%s); trying again in %.0f s", self.backup_path, err,
                                interval_s)

        atexit.register(self.close)
        thread = threading.Thread(target=loop, name="ratings-backup", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """Stop periodic backups and write a final one (when backing up)."""
        self._stop.set()
        if self.backup_path is not None:
            self.backup()


def _whole_stars(value: object) -> bool:
    """What :data:`VALID_STARS` keeps, for rows already read: an int 1–5 (sqlite3 gives INTEGER values as int)."""
    return type(value) is int and 1 <= value <= 5


def _high_water(db: sqlite3.Connection) -> int:
    """The write counter: max id over ``rating_history`` and ``rating_clears`` (a database from before clears
    were logged has no ``rating_clears``: its clears count as none)."""
    (top,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM rating_history").fetchone()
    if _has_table(db, "rating_clears"):
        top = max(top, db.execute("SELECT COALESCE(MAX(id), 0) FROM rating_clears").fetchone()[0])
    return int(top)


def _mark(db: sqlite3.Connection, row_id: int) -> tuple | None:
    """What the log holds at ``row_id`` (and whether clears are logged): a later read compares it to notice a
    database that is no longer the same log (restored from a backup, replaced) even when its counter grew."""
    clears = _has_table(db, "rating_clears")
    if row_id <= 0:
        return (clears,)
    row = db.execute("SELECT 'rate', user_id, item_id, stars, rated_at FROM rating_history WHERE id = ?",
                     (row_id,)).fetchone()
    if row is None and clears:
        row = db.execute("SELECT 'clear', user_id, upto, 0, cleared_at FROM rating_clears WHERE id = ?",
                         (row_id,)).fetchone()
    return (clears, *row) if row else (clears,)


def _next_id(db: sqlite3.Connection) -> int:
    """Take the next id of ``rating_history``'s AUTOINCREMENT counter for a clear marker (inside the caller's
    write transaction), so ratings and clears share one counter and interleave in write order."""
    seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'rating_history'").fetchone()
    top = _high_water(db)
    marker = max(top, seq[0] if seq else 0) + 1
    if seq:
        db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'rating_history'", (marker,))
    else:
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('rating_history', ?)", (marker,))
    return marker


def _mark_untracked_clears(db: sqlite3.Connection) -> None:
    """A database written before clears were logged: for each shopper whose current ratings are not what their
    history replays to (they cleared), log a clear at the earliest point of their history from which the replay is
    right, so replays from now on are exact. Where no point is (rows written outside this store), the marker
    removes their whole history; the crowd refresher then sees the mismatch and refits in full."""
    valid = f"FROM rating_history WHERE {VALID_STARS}"  # the rows every read keeps
    latest = f"SELECT user_id, item_id, stars, MAX(id) {valid} GROUP BY user_id, item_id"
    current = f"FROM ratings WHERE {VALID_STARS}"
    dirty = [u for (u,) in db.execute(
        f"SELECT user_id FROM (SELECT user_id, item_id, stars FROM ({latest}) EXCEPT "
        f"SELECT user_id, item_id, stars {current}) UNION SELECT user_id FROM (SELECT user_id, item_id, stars "
        f"{current} EXCEPT SELECT user_id, item_id, stars FROM ({latest}))")]
    for user in dirty:
        rows = db.execute(f"SELECT id, item_id, stars {valid} AND user_id = ? ORDER BY id", (user,)).fetchall()
        now = {i: int(s) for i, s in db.execute(f"SELECT item_id, stars {current} AND user_id = ?", (user,))}
        marker = _next_id(db)
        upto = _replay_start(rows, now, marker)
        db.execute("INSERT INTO rating_clears (id, user_id, upto, cleared_at) VALUES (?, ?, ?, ?)",
                   (marker, user, upto, time.time()))


def _replay_start(rows: Sequence[tuple[int, str, int]], now: dict[str, int], marker: int) -> int:
    """The clear point for one shopper's history ``rows`` (id, item, stars; by id): the id of the row just before
    the longest suffix whose replay is ``now`` — ``marker`` (all history cleared) when none is. One pass from the
    end: a suffix's replay only gains items as it grows (each item's latest row is met first), so once it holds an
    item ``now`` does not (or other stars), every longer one does too."""
    state: dict[str, int] = {}
    matched, best = 0, (rows[-1][0] if rows and not now else marker)  # the empty suffix replays to {}
    for j in range(len(rows) - 1, 0, -1):  # the suffix rows[j:], j ≥ 1: a clear at rows[j - 1]'s id
        _, item, stars = rows[j]
        if item not in state:  # its latest row: what this suffix's replay holds for it
            state[item] = int(stars)
            if now.get(item) != int(stars):
                break
            matched += 1
        if matched == len(now):
            best = rows[j - 1][0]
    return best
