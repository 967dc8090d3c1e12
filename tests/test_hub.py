"""Hub round trip against a local Hub-protocol server (tests/hub_server.py): push, pull, pinning, failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.hub_server import HubServer

WRITE, READ = "hf_test_write", "hf_test_read"


@pytest.fixture(scope="module")
def hub_server():
    server = HubServer(tokens={WRITE: ("alice", "write"), READ: ("alice", "read")}).start()
    yield server
    server.stop()


@pytest.fixture
def hub(hub_server, monkeypatch, tmp_path):
    """The server as the Hub: HF_ENDPOINT points at it, HF_TOKEN is alice's write token, no stored token."""
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HF_TOKEN", WRITE)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no developer token file is ever read
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return hub_server


@pytest.fixture
def bundle_copy(sample_bundle_dir, tmp_path) -> Path:
    return Path(shutil.copytree(sample_bundle_dir, tmp_path / "bundle"))


def recommendations(bundle):
    from jewelrec.recommender import Recommender

    rec = Recommender(bundle)
    ids = bundle.item_ids
    return rec.recommend({ids[0]: 5, ids[7]: 4, ids[11]: 1}, k=10), rec.similar(ids[3], k=5)


def test_push_pull_round_trip_gives_identical_recommendations(hub, bundle_copy, tmp_path):
    from jewelrec.bundle import Bundle, list_files
    from jewelrec.hub import pull, push_bundle

    info = push_bundle(bundle_copy, "alice/jewelrec-rt")
    assert info.commit_url.endswith(info.oid) and len(info.oid) == 40
    # one commit on top of the repo's initial commit, holding every bundle file plus the model card
    stored = hub.head_files("model", "alice/jewelrec-rt")
    assert set(list_files(bundle_copy)) | {".gitattributes"} == set(stored)
    assert stored["README.md"].startswith(b"---\nlibrary_name: jewelrec")
    assert ("POST", "/api/models/alice/jewelrec-rt/commit/main") in hub.requests

    pulled, origin = pull("alice/jewelrec-rt", cache_dir=tmp_path / "cache")
    assert origin == {"repo_id": "alice/jewelrec-rt", "revision": "main", "commit": info.oid,
                      "offline": False, "notice": None}
    local = Bundle.load(bundle_copy)
    assert recommendations(pulled) == recommendations(local)
    assert pulled.config["files"] == local.config["files"]


def test_pinned_revision_stays_served_after_a_second_push(hub, bundle_copy, tmp_path):
    from jewelrec.bundle import Bundle
    from jewelrec.hub import pull, push

    first_url = push(bundle_copy, "alice/jewelrec-pin")
    first = first_url.rsplit("/", 1)[1]
    # second bundle: same items, different clustering metadata -> different config.json
    b = Bundle.load(bundle_copy)
    b.config["clustering"] = {**b.config.get("clustering", {}), "method": "second-push"}
    b.save(bundle_copy)
    second = push(bundle_copy, "alice/jewelrec-pin", commit_message="second").rsplit("/", 1)[1]
    assert second != first

    cache = tmp_path / "cache"
    pinned, origin = pull("alice/jewelrec-pin", revision=first, cache_dir=cache)
    assert origin["commit"] == first and origin["revision"] == first
    assert pinned.config["clustering"]["method"] != "second-push"
    latest, origin = pull("alice/jewelrec-pin", cache_dir=cache)
    assert origin["commit"] == second and latest.config["clustering"]["method"] == "second-push"


def test_branch_push_and_branch_resolves_to_its_commit(hub, bundle_copy, tmp_path):
    from jewelrec.hub import pull, push

    sha = push(bundle_copy, "alice/jewelrec-branch", branch="staging").rsplit("/", 1)[1]
    _, origin = pull("alice/jewelrec-branch", revision="staging", cache_dir=tmp_path / "cache")
    assert origin["commit"] == sha and origin["revision"] == "staging"
    assert ".gitattributes" in hub.head_files("model", "alice/jewelrec-branch", "main")
    assert "config.json" not in hub.head_files("model", "alice/jewelrec-branch", "main")  # main untouched
