"""What :class:`~jewelrec.space.ratings.RatingStore` refuses, and how it says so: a bad rating
(:class:`RatingError`) and a database it cannot or must not use (:class:`RatingStoreError`: a path it cannot open or
write, a file that is not SQLite, a database of someone else's tables). Every message names the path and the fix;
a refused database is read, never written."""

from __future__ import annotations

import math
import numbers
import reprlib
import sqlite3
from collections.abc import Collection
from pathlib import Path

MAX_ID_LEN = 128  # ids are short keys; a longer one is a bug or an attack, not a real item
DATA_DIR_ENV = "JEWELREC_DATA_DIR"  # where the Space keeps ratings.db (jewelrec.space.ratings.data_dir)

# the tables RatingStore creates and the columns it reads and writes in each (SCHEMA in jewelrec.space.ratings)
TABLE_COLUMNS = {
    "ratings": ("user_id", "item_id", "stars", "updated_at"),
    "rating_history": ("id", "user_id", "item_id", "stars", "rated_at"),
    "rating_clears": ("id", "user_id", "upto", "cleared_at"),
}
TABLE_KEYS = {"ratings": ("user_id", "item_id"), "rating_history": ("id",), "rating_clears": ("id",)}  # primary keys
FIX = (f"set {DATA_DIR_ENV} to a folder this user can write (the Space keeps ratings.db there), or pass "
       "RatingStore another path")


class RatingError(ValueError):
    """A rating the store refuses; the message says what a valid one looks like."""


class RatingStoreError(RatingError):
    """The ratings database cannot be used (cannot be opened or written, not SQLite, not jewelrec's): the message
    names the path and the fix. Nothing in the file was changed."""


class RatingStoreBusy(RatingStoreError):
    """Another process held the database's write lock past the busy timeout: nothing was written; retrying can
    work."""


def check_id(what: str, value: object, known: Collection[str] | None = None) -> None:
    """:class:`RatingError` unless ``value`` (a user or item id) is a non-empty str of at most MAX_ID_LEN chars
    — or, however long, one of ``known`` (a catalog's own ids: a URL id of 150 characters is a real piece)."""
    if not isinstance(value, str) or not value.strip():
        raise RatingError(f"{what} must be a non-empty string, got {reprlib.repr(value)}")
    if len(value) > MAX_ID_LEN and not (known is not None and value in known):
        raise RatingError(f"{what} is {len(value)} characters; at most {MAX_ID_LEN} are allowed")


def validate_rating(user_id: str, item_id: str, stars: object, known_items: Collection[str] | None) -> int:
    """The stars as an int 1–5, or :class:`RatingError` saying what is wrong with the rating."""
    check_id("user id", user_id)
    check_id("item id", item_id, known_items)
    whole = f"stars must be a whole number from 1 to 5, got {reprlib.repr(stars)}"
    if isinstance(stars, bool) or not isinstance(stars, numbers.Real):
        raise RatingError(whole)
    if isinstance(stars, numbers.Integral):  # compared as an int: float(10**400) would overflow
        value = int(stars)
    elif math.isfinite(float(stars)) and float(stars).is_integer():
        value = int(float(stars))
    else:  # 2.5, nan, inf
        raise RatingError(whole)
    if not 1 <= value <= 5:
        raise RatingError(f"stars must be from 1 to 5, got {reprlib.repr(stars)}")
    if known_items is not None and item_id not in known_items:
        raise RatingError(f"unknown item {item_id!r}: it is not in this catalog")
    return value


def check_path(path: Path, raw: object) -> None:
    """Refuse a database path that can only be a mistake (empty, a folder) and make its folder, with the fix."""
    if str(raw).strip() == "":
        raise RatingStoreError(f"the ratings database path is empty; give a file such as 'ratings.db', or {FIX}")
    if path.is_dir():
        raise RatingStoreError(f"the ratings database {str(path)!r} is a folder; give a file inside it such as "
                               f"{str(path / 'ratings.db')!r}, or {FIX}")
    make_folder(path.parent, path)


def make_folder(folder: Path, path: Path) -> None:
    """``mkdir -p folder`` for the ratings database ``path``; :class:`RatingStoreError` with the fix if it fails."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RatingStoreError(f"cannot make the folder {str(folder)!r} for the ratings database "
                               f"{str(path)!r}: {err.strerror or err}; {FIX}") from None


def check_tables(db: sqlite3.Connection, path: Path) -> None:
    """Read-only: refuse a database that holds tables jewelrec did not create, or ours with other columns."""
    rows = db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                      "AND name NOT LIKE 'sqlite!_%' ESCAPE '!'").fetchall()
    names = sorted(name for (name,) in rows)
    foreign = [name for name in names if name not in TABLE_COLUMNS]
    if foreign:
        raise RatingStoreError(f"{str(path)!r} holds tables jewelrec did not create ({foreign}); it was left as it "
                               f"is; give the ratings a database of their own: {FIX}")
    for name in names:
        info = db.execute(f'PRAGMA table_info("{name}")').fetchall()  # (cid, name, type, notnull, default, pk)
        have = [row[1] for row in info]
        missing = [c for c in TABLE_COLUMNS[name] if c not in have]
        if missing:
            raise RatingStoreError(f"{str(path)!r} has a table {name!r} with columns {have}, not jewelrec's (it "
                                   f"needs {list(TABLE_COLUMNS[name])}); it was left as it is; {FIX}")
        key = [row[1] for row in sorted(info, key=lambda row: row[5]) if row[5]]
        if key != list(TABLE_KEYS[name]):  # every write's ON CONFLICT (and the history's counter) needs this key
            raise RatingStoreError(f"{str(path)!r} has a table {name!r} whose primary key is {key or 'none'}, not "
                                   f"jewelrec's {list(TABLE_KEYS[name])}, so no rating could be saved in it; it was "
                                   f"left as it is; {FIX}")


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def store_error(path: Path, err: sqlite3.Error) -> RatingStoreError | None:
    """The clear error for an SQLite failure that means the database cannot be used at all (None for others,
    e.g. a busy lock, which the caller re-raises as it is)."""
    code = getattr(err, "sqlite_errorname", "") or ""
    where = str(path)
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in str(err):
        return RatingStoreBusy(f"the ratings database {where!r} is locked by another process (a backup, a second "
                               "Space?) past the busy timeout; nothing was saved — try again")
    if "no such table" in str(err):  # deleted or replaced while the Space ran: SQLite made an empty file there
        return RatingStoreError(f"the ratings database {where!r} has lost its tables (was it deleted or replaced "
                                "while the Space ran?); restart the Space to recreate it, or restore the file")
    if code.startswith("SQLITE_CORRUPT") or "malformed" in str(err):
        return RatingStoreError(f"the ratings database {where!r} is damaged ({err}; it was left as it is): "
                                "restore it from a copy (a Space on a network mount keeps ratings.backup.db "
                                "beside it), or move it away and start with an empty one; `sqlite3 <file> "
                                "'.recover'` may save what is readable")
    if code == "SQLITE_NOTADB" or "not a database" in str(err):
        return RatingStoreError(f"{where!r} is not an SQLite database (it was left as it is); move it away or "
                                f"{FIX}")
    if code.startswith("SQLITE_READONLY") or code == "SQLITE_PERM":
        return RatingStoreError(f"the ratings database {where!r} (or its folder, or its {where}-wal / -shm files) "
                                f"is read-only for this user: {err}; make them all writable, or {FIX}")
    if code == "SQLITE_FULL" or "database or disk is full" in str(err):
        return RatingStoreError(f"the disk holding the ratings database {where!r} is full; nothing was saved and "
                                "the ratings already there are kept — free some space (or move the data dir: "
                                f"{DATA_DIR_ENV}) and try again")
    if code.startswith("SQLITE_IOERR") or "disk I/O error" in str(err):  # a full /dev/shm-backed WAL index too
        return RatingStoreError(f"the ratings database {where!r} (or its -wal / -shm files) cannot be read or "
                                f"written: {err} — is its disk full, or its volume unmounted or failing? Free some "
                                "space or check the volume, then try again; the ratings already saved are kept")
    if code.startswith("SQLITE_CANTOPEN"):
        return RatingStoreError(f"cannot open the ratings database {where!r}: the file or its folder is not "
                                f"readable and writable by this user; {FIX}")
    return None
