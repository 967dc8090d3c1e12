"""`python app.py` killed with SIGKILL mid-write loses no acknowledged rating; the restarted app serves them all.

The real entry point runs as a subprocess (the synthetic bundle saved to disk, ratings under tmp_path), is
written to through gradio_client, and is killed with no chance to clean up: no atexit, no checkpoint, the WAL
left as it was. Every rating the app acknowledged must be in the DB, which must pass ``PRAGMA integrity_check``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from test_app import free_port

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90  # normally ~6 s; generous for a loaded 2-core CI box


class App:
    """``python app.py`` in a subprocess, its output in a log file."""

    def __init__(self, env: dict[str, str], log: Path, command: list[str] | None = None):
        self.env, self.log, self.command = env, log, command or [sys.executable, "app.py"]
        self.url = f"http://127.0.0.1:{env['GRADIO_SERVER_PORT']}/"
        self.proc: subprocess.Popen | None = None

    def start(self) -> App:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"app.py exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url, timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.kill()
        pytest.fail(f"app.py did not answer within {START_TIMEOUT_S} s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        assert self.proc is None or self.proc.returncode == -signal.SIGKILL


def read_db(path: Path) -> tuple[str, dict[tuple[str, str], int], int]:
    """(integrity_check result, {(user, item): stars}, history rows) — read as a fresh process would."""
    db = sqlite3.connect(path)
    try:
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        latest = {(u, i): s for u, i, s in db.execute("SELECT user_id, item_id, stars FROM ratings")}
        history = db.execute("SELECT COUNT(*) FROM rating_history").fetchone()[0]
        return check, latest, history
    finally:
        db.close()


@pytest.fixture
def app(synthetic_bundle, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OAUTH_", "JEWELREC_", "SPACE_"))}
    env.update(JEWELREC_BUNDLE=str(synthetic_bundle.save(tmp_path / "bundle")),
               JEWELREC_DATA_DIR=str(tmp_path / "data"), JEWELREC_HOME=str(tmp_path / "home"),
               GRADIO_SERVER_PORT=str(free_port()), GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1",
               PYTHONUNBUFFERED="1")
    app = App(env, tmp_path / "app.log")
    yield app
    app.kill()


def test_kill_9_loses_no_acknowledged_rating(app, synthetic_bundle):
    ids, db_path = synthetic_bundle.item_ids, Path(app.env["JEWELREC_DATA_DIR"]) / "ratings.db"
    app.start()
    shoppers = [Client(app.url, verbose=False) for _ in range(3)]
    users = [f"session:{shopper.session_hash}" for shopper in shoppers]  # how the app keys API clients
    expected = {(users[n], ids[10 * n + j]): 1 + (n + j) % 5 for n in range(3) for j in range(5)}
    jobs = [shoppers[users.index(user)].submit(item, stars, api_name="/rate")  # concurrent writers
            for (user, item), stars in expected.items()]
    assert all("Saved" in job.result(timeout=60) for job in jobs)
    for n, shopper in enumerate(shoppers):  # a re-rating replaces the stars
        shopper.predict(ids[10 * n], 5 - n, api_name="/rate")
        expected[(users[n], ids[10 * n])] = 5 - n
        assert shopper.predict(api_name="/my_ratings") == {i: s for (u, i), s in expected.items() if u == users[n]}

    # a writer still busy when the kill lands: what it was told is saved must be saved
    burst = Client(app.url, verbose=False)
    acknowledged: dict[str, int] = {}

    def keep_rating() -> None:
        try:
            for j in range(200):
                item, stars = ids[100 + j % 50], 1 + j % 5
                if "Saved" in burst.predict(item, stars, api_name="/rate"):
                    acknowledged[item] = stars
        except Exception:  # the server died under it: expected
            pass

    writer = threading.Thread(target=keep_rating, daemon=True)
    writer.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 8 and time.monotonic() < deadline:
        time.sleep(0.02)
    app.kill()
    writer.join(timeout=30)
    assert len(acknowledged) >= 8, "the burst writer never got going"
    expected.update({(f"session:{burst.session_hash}", i): s for i, s in acknowledged.items()})

    check, latest, history = read_db(db_path)
    assert check == "ok"
    assert {key: latest.get(key) for key in expected} == expected  # every acknowledged rating, latest stars
    assert history >= 3 * 6 + len(acknowledged)  # every write kept in the history too

    app.start()  # the same data dir: the restarted app serves what was stored, to the same sessions
    for shopper in [*shoppers, burst]:
        again = Client(app.url, verbose=False)
        again.session_hash = shopper.session_hash  # reconnect as that session
        mine = {i: s for (u, i), s in latest.items() if u == f"session:{shopper.session_hash}"}
        assert again.predict(api_name="/my_ratings") == mine and mine
    assert "Saved 4★" in again.predict(ids[7], 4, api_name="/rate")  # and it still takes writes
    app.kill()
    check, after, _ = read_db(db_path)
    assert check == "ok" and after == latest | {(f"session:{burst.session_hash}", ids[7]): 4}


# app.py with the data dir taken for a network mount (where the live copy sits on local disk and only the backups
# reach the data dir): /proc/mounts cannot be faked for a subprocess, so the check is patched before start
ON_A_NETWORK_MOUNT = """
import runpy
import jewelrec.space.ratings as ratings
ratings.is_network_mount = lambda path, mounts_file='/proc/mounts': True
runpy.run_path('app.py', run_name='__main__')
"""


def test_sigterm_writes_the_final_backup_of_a_space_on_a_network_mount(app, synthetic_bundle):
    # SIGTERM (how Spaces, Docker and systemd stop a process) skipped atexit: no backup, the ratings since the
    # last periodic one (up to 5 minutes) lost at every restart
    app.command = [sys.executable, "-c", ON_A_NETWORK_MOUNT]
    data = Path(app.env["JEWELREC_DATA_DIR"])
    app.start()
    shopper = Client(app.url, verbose=False)
    ids = synthetic_bundle.item_ids
    for n in range(3):
        assert "Saved" in shopper.predict(ids[n], 5 - n, api_name="/rate")
    assert not (data / "ratings.db").exists() and not (data / "ratings.backup.db").exists()  # live copy elsewhere
    app.proc.send_signal(signal.SIGTERM)
    status, app.proc = app.proc.wait(timeout=60), None  # stopped here: nothing left for the fixture to kill
    assert status == 128 + signal.SIGTERM
    check, latest, _ = read_db(data / "ratings.backup.db")
    assert check == "ok" and latest == {(f"session:{shopper.session_hash}", ids[n]): 5 - n for n in range(3)}
