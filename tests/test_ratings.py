"""RatingStore: validation, upsert + history, concurrency without lost writes, kill -9, network-mount backups."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from conftest import wait_for

from jewelrec.space.rating_backups import is_network_mount, mount_type
from jewelrec.space.rating_checks import FIX
from jewelrec.space.ratings import MAX_ID_LEN, RatingError, RatingStore, RatingStoreError, data_dir


def test_rate_upserts_latest_and_keeps_history(tmp_path):
    store = RatingStore(tmp_path / "r.db")
    # each write answers the user's count from its own transaction: a re-rating replaces, it does not add
    assert [store.rate("alice", "a", 2, at=1.0), store.rate("alice", "b", 5, at=2.0),
            store.rate("alice", "a", 4, at=3.0), store.rate("bob", "a", 1, at=4.0)] == [1, 2, 2, 1]
    assert store.ratings("alice") == {"b": 5, "a": 4}
    assert store.ratings("bob") == {"a": 1}
    assert store.history("alice") == [("a", 2, 1.0), ("b", 5, 2.0), ("a", 4, 3.0)]
    assert store.count() == 3 and store.n_users() == 2
    # the contract table, readable by plain sqlite3 (the offline evaluator)
    rows = sqlite3.connect(tmp_path / "r.db").execute(
        "SELECT user_id, item_id, stars, updated_at FROM ratings ORDER BY user_id, item_id").fetchall()
    assert rows == [("alice", "a", 4, 3.0), ("alice", "b", 5, 2.0), ("bob", "a", 1, 4.0)]
    assert sqlite3.connect(tmp_path / "r.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.clear("alice") == 2 and store.ratings("alice") == {} and len(store.history("alice")) == 3


@pytest.mark.parametrize("user, item, stars, match", [
    ("u", "a", 0, "1 to 5"), ("u", "a", 6, "1 to 5"), ("u", "a", 2.5, "whole number"), ("u", "a", True, "whole"),
    ("u", "a", "5", "whole number"), ("", "a", 3, "user id"), ("u", "", 3, "item id"),
    ("u" * (MAX_ID_LEN + 1), "a", 3, "at most"), ("u", "zzz", 3, "unknown item"),
    ("u", "a", float("nan"), "whole number"), ("u", "a", float("inf"), "whole number"),
    ("u", "a", -float("inf"), "whole number"), ("u", "a", 10**400, "1 to 5"),
])
def test_bad_ratings_are_refused_and_nothing_is_lost(tmp_path, user, item, stars, match):
    store = RatingStore(tmp_path / "r.db", known_items={"a", "b"})
    store.rate("u", "a", 3)
    with pytest.raises(RatingError, match=match):
        store.rate(user, item, stars)
    assert store.ratings("u") == {"a": 3} and len(store.history("u")) == 1


def _foreign_db(path, *statements):
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
    db.close()
    return path


@pytest.mark.parametrize("make, match", [
    (lambda p: p.write_text("my notes\n") and p, "is not an SQLite database"),
    (lambda p: _foreign_db(p, "CREATE TABLE foo (a)", "INSERT INTO foo VALUES (1)"), r"did not create \(\['foo'\]\)"),
    (lambda p: _foreign_db(p, "CREATE TABLE ratings (a, b)", "INSERT INTO ratings VALUES (1, 2)"),
     "not jewelrec's"),
    (lambda p: _foreign_db(p, "CREATE TABLE ratings (user_id, item_id, stars, updated_at)",
                           "CREATE TABLE rating_history (a)"), "'rating_history' with columns"),
    # another app's table of the same columns without the key: every write failed on ON CONFLICT, reads on NULLs
    (lambda p: _foreign_db(p, "CREATE TABLE ratings (user_id TEXT, item_id TEXT, stars INTEGER, updated_at REAL)",
                           "INSERT INTO ratings VALUES ('u', 'a', 5, 1), ('u', 'a', NULL, 2)"),
     r"'ratings' whose primary key is none, not jewelrec's \['user_id', 'item_id'\], so no rating could be saved"),
    (lambda p: _foreign_db(p, "CREATE TABLE rating_history (id INTEGER, user_id, item_id, stars, rated_at, "
                              "PRIMARY KEY (user_id, id))"), r"'rating_history' whose primary key is \['user_id', 'id'\], not jewelrec's \['id'\]"),
])
def test_a_file_that_is_not_a_jewelrec_ratings_database_is_refused_and_left_as_it_is(tmp_path, make, match):
    path = make(tmp_path / "r.db")
    before = path.read_bytes()
    with pytest.raises(RatingStoreError, match=match) as info:
        RatingStore(path)
    assert str(path) in str(info.value) and FIX in str(info.value)
    assert path.read_bytes() == before  # not a byte changed (no WAL switch, no tables added)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.db"]


def test_a_path_that_cannot_hold_the_database_names_it_and_the_fix(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    for path, match in ((tmp_path / "file" / "sub" / "r.db", "cannot make the folder"),
                        (tmp_path / "folder", "is a folder"), ("", "path is empty")):
        with pytest.raises(RatingStoreError, match=match) as info:
            RatingStore(path)
        assert FIX in str(info.value)
    with pytest.raises(RatingStoreError, match="cannot make the folder"):
        RatingStore.open(tmp_path / "file" / "data")
    assert (tmp_path / "file").read_text() == "x"


def _without_file_permission_override() -> list[str]:
    """A command prefix under which file permissions hold (root ignores them unless its capabilities drop)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file permissions cannot be enforced")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]


def test_a_read_only_database_or_folder_is_a_clear_error_and_loses_nothing(tmp_path):
    store = RatingStore(tmp_path / "ro" / "r.db")
    store.rate("u", "a", 4)
    locked = tmp_path / "ro"
    (tmp_path / "ro" / "r.db").chmod(0o444)
    locked.chmod(0o555)
    script = textwrap.dedent(f"""
        from jewelrec.space.ratings import RatingStore, RatingStoreError
        for path in ("r.db", "new.db", "sub/new.db"):
            try:
                RatingStore({str(locked)!r} + "/" + path)
            except RatingStoreError as err:
                print(type(err).__name__, err)
    """)
    try:
        proc = subprocess.run([*_without_file_permission_override(), sys.executable, "-c", script],
                              capture_output=True, text=True, timeout=120)
    finally:
        locked.chmod(0o755)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and len(lines) == 3, proc.stdout + proc.stderr
    assert all(line.startswith("RatingStoreError") and FIX in line for line in lines)
    assert "read-only" in lines[0] and "cannot open" in lines[1] and "Permission denied" in lines[2]
    (tmp_path / "ro" / "r.db").chmod(0o644)
    assert RatingStore(tmp_path / "ro" / "r.db").ratings("u") == {"a": 4}


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "r.db"
    RatingStore(path)
    errors: list[BaseException] = []

    def writer(u: int) -> None:
        store = RatingStore(path)
        try:
            for i in range(40):
                store.rate(f"user{u}", f"item{i}", 1 + (u + i) % 5)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(u,)) for u in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store = RatingStore(path)
    assert store.count() == 8 * 40
    assert all(store.ratings(f"user{u}")[f"item{i}"] == 1 + (u + i) % 5 for u in range(8) for i in range(40))


def test_ratings_survive_kill_9(tmp_path):
    path = tmp_path / "r.db"
    script = textwrap.dedent(f"""
        import sys, time
        from jewelrec.space.ratings import RatingStore
        store = RatingStore({str(path)!r})
        for i in range(20):
            store.rate("u", f"item{{i}}", 4)
        print("written", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert RatingStore(path).ratings("u") == {f"item{i}": 4 for i in range(20)}


def test_mount_detection_uses_longest_prefix(tmp_path):
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\nserver:/x {tmp_path}/nfs nfs4 rw 0 0\n"
                      f"bucket {tmp_path}/fuse fuse.gcsfuse rw 0 0\n")
    assert mount_type(tmp_path / "nfs" / "deep", mounts) == "nfs4"
    assert is_network_mount(tmp_path / "nfs", mounts) and is_network_mount(tmp_path / "fuse" / "d", mounts)
    assert not is_network_mount(tmp_path / "local", mounts) and mount_type(tmp_path / "nf", mounts) == "ext4"
    assert mount_type(tmp_path, tmp_path / "missing") == "unknown"


def _backup_rows(directory) -> dict[str, int]:
    db = sqlite3.connect(f"file:{directory / 'ratings.backup.db'}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT item_id, stars FROM ratings WHERE user_id = 'u'").fetchall())
    finally:
        db.close()


def test_network_mount_keeps_live_db_local_and_restores_backup(tmp_path, monkeypatch):
    monkeypatch.setenv("JEWELREC_HOME", str(tmp_path / "home"))
    persistent = tmp_path / "data"
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\nbucket {persistent} fuse.hf-mount rw 0 0\n")
    store = RatingStore.open(persistent, mounts_file=mounts)
    assert store.path.parent.parent == tmp_path / "home" / "live-ratings" and store.path.name == "ratings.db"
    assert not (persistent / "ratings.db").exists()
    store.rate("u", "a", 5)
    store.close()  # final backup at shutdown
    assert (persistent / "ratings.backup.db").exists()

    store.path.unlink()  # a fresh container: local disk is empty, only the persistent backup remains
    for extra in ("-wal", "-shm"):
        store.path.with_name(store.path.name + extra).unlink(missing_ok=True)
    again = RatingStore.open(persistent, mounts_file=mounts)
    assert again.ratings("u") == {"a": 5}
    again.rate("u", "b", 2)
    thread = again.start_backups(interval_s=0.05)
    deadline = time.time() + 5
    while time.time() < deadline:
        if _backup_rows(persistent) == {"a": 5, "b": 2}:
            break
        time.sleep(0.05)
    again._stop.set()
    thread.join(2)
    assert _backup_rows(persistent) == {"a": 5, "b": 2}


def test_local_data_dir_and_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("JEWELREC_DATA_DIR", str(tmp_path / "d"))
    assert data_dir() == tmp_path / "d"
    store = RatingStore.open()
    assert store.path == tmp_path / "d" / "ratings.db" and store.backup_path is None
    assert store.start_backups() is None


def test_clears_are_logged_on_the_history_counter_and_replay(tmp_path):
    """A clear takes the next id of the history's counter (ratings and clears interleave in write order), so
    replaying a shopper's log to any write gives their ratings as they stood then."""
    from jewelrec.space.ratings import replay

    store = RatingStore(tmp_path / "r.db")
    store.rate("u", "a", 5), store.rate("u", "b", 3), store.rate("v", "a", 1)
    assert store.clear("u") == 2 and store.writes() == 4
    store.rate("u", "b", 4)
    db = sqlite3.connect(tmp_path / "r.db")
    rows = db.execute("SELECT id, item_id, stars FROM rating_history WHERE user_id = 'u' ORDER BY id").fetchall()
    clears = db.execute("SELECT id, upto FROM rating_clears WHERE user_id = 'u'").fetchall()
    db.close()
    assert [r[0] for r in rows] == [1, 2, 5] and clears == [(4, 4)]
    assert replay(rows, clears, 2) == {"a": 5, "b": 3} and replay(rows, clears, 4) == {}
    for bad in ("", None, 123, "u" * 1000):  # checked as rate() checks ids; nothing cleared, nothing logged
        with pytest.raises(RatingError, match="user id"):
            store.clear(bad)
    assert store.writes() == 5 and store.ratings("u") == {"b": 4}
    assert replay(rows, clears, 5) == store.ratings("u") == {"b": 4}
    codes = store.rating_codes(["a", "b", "c"])
    assert codes.high_water == 5 and sorted(zip(codes.rows.tolist(), codes.stars.tolist())) == [(0, 1), (1, 4)]
    assert len(set(codes.shoppers.tolist())) == 2


def test_changes_since_reads_one_snapshot_and_refuses_another_log(tmp_path):
    from jewelrec.space.ratings import RatingLogRewound

    store = RatingStore(tmp_path / "r.db")
    store.rate("u", "a", 5)
    first = store.rating_codes(["a"])
    store.rate("v", "a", 4), store.rate("u", "a", 2)
    store.clear("w")  # nothing to clear: not a change
    changes = store.changes_since(first.high_water, first.mark)
    assert changes.high_water == 3 and sorted(changes.users) == ["u", "v"]
    assert sorted(changes.current) == [("u", "a", 2), ("v", "a", 4)]
    assert [row[1] for row in changes.history] == [1, 2, 3]  # u's whole log (for the state before) and v's
    with pytest.raises(RatingLogRewound, match="refit in full"):
        store.changes_since(first.high_water, ("another", "row"))
    with pytest.raises(RatingLogRewound, match="refit in full"):
        store.changes_since(99, changes.mark)


def test_a_backup_that_is_not_sqlite_is_named_and_the_live_ratings_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("JEWELREC_HOME", str(tmp_path / "home"))
    persistent = tmp_path / "data"
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\nbucket {persistent} fuse.hf-mount rw 0 0\n")
    live = RatingStore.open(persistent, mounts_file=mounts)
    live.rate("u", "a", 5)
    (persistent / "ratings.backup.db").write_text("not a database")  # newer than the live file: restored at start
    with pytest.raises(RatingStoreError, match="ratings.backup.db' is not an SQLite database"):
        RatingStore.open(persistent, mounts_file=mounts)
    assert (persistent / "ratings.backup.db").read_text() == "not a database"
    assert RatingStore(live.path).ratings("u") == {"a": 5}


def network_mount(tmp_path, *folders):
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/sda1 / ext4 rw 0 0\n" + "".join(f"bucket{n} {f} nfs4 rw 0 0\n"
                                                           for n, f in enumerate(folders)))
    return mounts


def test_two_data_dirs_on_network_mounts_keep_their_own_ratings(tmp_path, monkeypatch):
    # every network-mounted data dir shared one live copy: shop B started with shop A's ratings and backed them up
    monkeypatch.setenv("JEWELREC_HOME", str(tmp_path / "home"))
    shop_a, shop_b = tmp_path / "a", tmp_path / "b"
    mounts = network_mount(tmp_path, shop_a, shop_b)
    a = RatingStore.open(shop_a, mounts_file=mounts)
    a.rate("alice", "x", 5)
    a.close()
    b = RatingStore.open(shop_b, mounts_file=mounts)
    assert b.ratings("alice") == {} and b.path != a.path
    b.rate("bob", "y", 4)
    b.close()
    assert RatingStore(shop_b / "ratings.backup.db").ratings("alice") == {}
    assert RatingStore.open(shop_a, mounts_file=mounts).ratings("alice") == {"x": 5}


def test_the_live_copy_from_before_each_data_dir_had_its_own_is_taken_over_once(tmp_path, monkeypatch):
    # upgrading moved the live copy to live-ratings/<data dir>/: the first start restored the older backup and
    # lost what only the old live copy held (the SIGTERM before it had skipped the final backup)
    monkeypatch.setenv("JEWELREC_HOME", str(tmp_path / "home"))
    data, other = tmp_path / "data", tmp_path / "other"
    mounts = network_mount(tmp_path, data, other)
    backup = RatingStore(data / "ratings.backup.db")
    backup.rate("u", "a", 5)
    legacy = tmp_path / "home" / "live-ratings" / "ratings.db"
    old = RatingStore(legacy)
    old.rate("u", "a", 5)
    old.rate("u", "b", 4)  # after the last backup
    os.utime(data / "ratings.backup.db", (time.time() - 60, time.time() - 60))
    assert RatingStore.open(data, mounts_file=mounts).ratings("u") == {"a": 5, "b": 4}
    assert not legacy.exists() and legacy.with_name("ratings.db.restored").is_file()
    assert RatingStore.open(other, mounts_file=mounts).ratings("u") == {}  # taken once: not another shop's too


def test_a_ratings_db_in_a_network_mounted_data_dir_starts_the_live_copy(tmp_path, monkeypatch):
    # a ratings.db where the README says ratings live (copied in) was passed over for an empty live copy
    monkeypatch.setenv("JEWELREC_HOME", str(tmp_path / "home"))
    data = tmp_path / "data"
    RatingStore(data / "ratings.db").rate("u", "a", 3)
    store = RatingStore.open(data, mounts_file=network_mount(tmp_path, data))
    assert store.ratings("u") == {"a": 3} and store.backup_path == data / "ratings.backup.db"
    store.rate("u", "b", 5)
    store.close()
    assert RatingStore(data / "ratings.backup.db").ratings("u") == {"a": 3, "b": 5}
    assert RatingStore(data / "ratings.db").ratings("u") == {"a": 3}  # left as it was


def test_a_failed_periodic_backup_is_logged_and_the_next_one_goes_through(tmp_path, monkeypatch, caplog):
    # one failure (a mount hiccup) killed the backup thread: no backup was written again until exit
    monkeypatch.setenv("JEWELREC_HOME", str(tmp_path / "home"))
    data = tmp_path / "data"
    store = RatingStore.open(data, mounts_file=network_mount(tmp_path, data))
    store.rate("u", "a", 5)
    blocker = data / "ratings.backup.db.tmp"
    blocker.mkdir()  # the backup's temporary file cannot be written
    thread = store.start_backups(interval_s=0.05)
    assert wait_for(lambda: "ratings backup to" in caplog.text, 10)
    blocker.rmdir()
    assert wait_for(lambda: (data / "ratings.backup.db").exists(), 10) and thread.is_alive()
    store.close()
    assert RatingStore(data / "ratings.backup.db").ratings("u") == {"a": 5}


def test_a_damaged_database_is_named_with_the_fix(tmp_path):
    # 'database disk image is malformed' was a traceback at start, or every rating failing with no path in the log
    path = tmp_path / "ratings.db"
    store = RatingStore(path)
    for n in range(300):
        store.rate(f"u{n}", "a", 5)
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = bytearray(path.read_bytes())
    data[100:600] = b"\xff" * 500  # the header's tail and the schema page
    path.write_bytes(bytes(data))
    with pytest.raises(RatingStoreError, match=r"ratings.db' is damaged \(.*malformed.*left as it is\): restore it"):
        RatingStore(path).ratings("u1")


def test_a_write_locked_out_past_the_timeout_says_nothing_was_saved_and_the_space_says_so_plainly(tmp_path, caplog):
    """A rating met by another process's lock raised sqlite3's bare 'database is locked', which the Space showed
    as an empty error while the star looked saved. The shopper now reads that it was not saved; the operator's log
    gets the path."""
    import gradio as gr

    from jewelrec.space.rating_checks import RatingStoreBusy
    from jewelrec.space.ui import _guard

    path = tmp_path / "ratings.db"
    store = RatingStore(path, busy_timeout_ms=100)
    store.rate("u1", "it-1", 4)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(RatingStoreBusy, match=r"is locked by another process .* nothing was saved — try again"):
            store.rate("u1", "it-2", 5)
        with pytest.raises(gr.Error, match="Ratings are busy right now: this one was not saved"):
            _guard(store.rate, writes=True)("u1", "it-2", 5)
        assert store.ratings("u1") == {"it-1": 4}  # reads are not blocked by a writer's lock
        assert str(path) in caplog.text
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.ratings("u1") == {"it-1": 4}  # nothing half-written
    store.rate("u1", "it-2", 5)  # and the next try works
    path.unlink()  # deleted under a running Space: SQLite makes an empty file, and every table is gone
    for name in ("ratings.db-wal", "ratings.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    with pytest.raises(RatingStoreError, match="has lost its tables .* restart the Space"):
        store.ratings("u1")
    with pytest.raises(gr.Error, match="Ratings are unavailable right now: nothing was saved"):
        _guard(store.rate, writes=True)("u1", "it-3", 5)
    with pytest.raises(gr.Error) as read:
        _guard(store.ratings)("u1")
    assert read.value.message == "Ratings are unavailable right now. Please try again later."  # a read: no "saved"


def test_a_full_disk_says_so_and_keeps_what_was_saved(tmp_path, monkeypatch):
    """SQLite's "database or disk is full" and "disk I/O error" (a WAL index that cannot grow) reached the log
    bare — no path, no fix — and the shopper as a generic error."""
    import gradio as gr

    from jewelrec.space.rating_checks import store_error
    from jewelrec.space.ui import _guard

    store = RatingStore(tmp_path / "r.db")
    store.rate("u", "a", 4)
    connect = store._connect

    def full_disk():  # SQLite's own SQLITE_FULL: the file may not grow past its current pages
        db = connect()
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        db.execute(f"PRAGMA max_page_count = {pages}")
        return db

    monkeypatch.setattr(store, "_connect", full_disk)
    with pytest.raises(RatingStoreError, match=r"the disk holding the ratings database '.*r\.db' is full; nothing "
                                               r"was saved .* free some space"):
        for n in range(2000):  # until a new page is needed
            store.rate("u", f"item-{n:04d}-" + "x" * 100, 5)
    with pytest.raises(gr.Error, match="Ratings are unavailable right now: nothing was saved"):
        _guard(store.rate, writes=True)("u", "b" * 120, 5)
    monkeypatch.undo()
    assert store.ratings("u")["a"] == 4
    io = sqlite3.OperationalError("disk I/O error")
    io.sqlite_errorname = "SQLITE_IOERR_SHMSIZE"
    assert "is its disk full, or its volume unmounted or failing?" in str(store_error(store.path, io))
