"""Hub round trip against a local Hub-protocol server (tests/hub_server.py): push, pull, pinning, failures."""

from __future__ import annotations

import hashlib
import shlex
import shutil
from pathlib import Path

import pytest

from tests.conftest import HUB_READ as READ
from tests.conftest import HUB_WRITE as WRITE


@pytest.fixture
def bundle_copy(sample_bundle_dir, tmp_path) -> Path:
    return Path(shutil.copytree(sample_bundle_dir, tmp_path / "bundle"))


def recommendations(bundle):
    from jewelrec.serving.recommender import Recommender

    rec = Recommender(bundle)
    ids = bundle.item_ids
    return rec.recommend({ids[0]: 5, ids[7]: 4, ids[11]: 1}, k=10), rec.similar(ids[3], k=5)


def test_push_pull_round_trip_gives_identical_recommendations(hub, bundle_copy, tmp_path):
    from jewelrec.serving.bundle import Bundle, list_files
    from jewelrec.serving.hub import pull, push_bundle

    info = push_bundle(bundle_copy, "alice/jewelrec-rt")
    assert info.commit_url.endswith(info.oid) and len(info.oid) == 40
    # one commit on top of the repo's initial commit, holding every bundle file plus the model card
    stored = hub.head_files("model", "alice/jewelrec-rt")
    assert set(list_files(bundle_copy)) | {".gitattributes"} == set(stored)
    assert stored["README.md"].startswith(b"---\nlibrary_name: jewelrec")
    assert ("POST", "/api/models/alice/jewelrec-rt/commit/main") in hub.requests
    # binaries took the LFS route real pushes take: batch API, a PUT per object, lfsFile entries in the commit
    assert ("POST", "/alice/jewelrec-rt.git/info/lfs/objects/batch") in hub.requests
    uploads = [path for method, path in hub.requests if method == "PUT" and path.startswith("/lfs-upload/")]
    binaries = [f for f in stored if f.endswith((".safetensors", ".parquet", ".png"))]
    assert binaries and len(uploads) >= len({hashlib.sha256(stored[f]).hexdigest() for f in binaries})

    pulled, origin = pull("alice/jewelrec-rt", cache_dir=tmp_path / "cache")
    assert origin == {"repo_id": "alice/jewelrec-rt", "revision": "main", "commit": info.oid,
                      "offline": False, "notice": None}
    local = Bundle.load(bundle_copy)
    assert recommendations(pulled) == recommendations(local)
    assert pulled.config["files"] == local.config["files"]


def test_pinned_revision_stays_served_after_a_second_push(hub, bundle_copy, tmp_path):
    from jewelrec.serving.bundle import Bundle
    from jewelrec.serving.hub import pull, push

    first_url = push(bundle_copy, "alice/jewelrec-pin")
    first = first_url.rsplit("/", 1)[1]
    # second bundle: same items, different clustering metadata -> different config.json
    b = Bundle.load(bundle_copy)
    b.config["clustering"] = {**b.config.get("clustering", {}), "method": "second-push"}
    b.save(bundle_copy)
    second = push(bundle_copy, "alice/jewelrec-pin", commit_message="second").rsplit("/", 1)[1]
    assert second != first
    # pushing the same bundle again makes no empty commit: only changed files travel, here none
    assert push(bundle_copy, "alice/jewelrec-pin").rsplit("/", 1)[1] == second
    assert hub.repos[("model", "alice/jewelrec-pin")].branches["main"] == second

    cache = tmp_path / "cache"
    pinned, origin = pull("alice/jewelrec-pin", revision=first, cache_dir=cache)
    assert origin["commit"] == first and origin["revision"] == first
    assert pinned.config["clustering"]["method"] != "second-push"
    latest, origin = pull("alice/jewelrec-pin", cache_dir=cache)
    assert origin["commit"] == second and latest.config["clustering"]["method"] == "second-push"


def test_branch_push_and_branch_resolves_to_its_commit(hub, bundle_copy, tmp_path):
    from jewelrec.serving.hub import pull, push

    sha = push(bundle_copy, "alice/jewelrec-branch", branch="staging").rsplit("/", 1)[1]
    _, origin = pull("alice/jewelrec-branch", revision="staging", cache_dir=tmp_path / "cache")
    assert origin["commit"] == sha and origin["revision"] == "staging"
    assert ".gitattributes" in hub.head_files("model", "alice/jewelrec-branch", "main")
    assert "config.json" not in hub.head_files("model", "alice/jewelrec-branch", "main")  # main untouched


# -- failure modes ---------------------------------------------------------------------------------------
def closed_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


def test_unreachable_hub_serves_cached_revision_with_notice(hub, bundle_copy, tmp_path, monkeypatch):
    from jewelrec.serving.hub import HubError, pull, push

    sha = push(bundle_copy, "alice/jewelrec-offline").rsplit("/", 1)[1]
    cache = tmp_path / "cache"
    online, _ = pull("alice/jewelrec-offline", cache_dir=cache)

    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    for revision in ("main", sha):
        cached, origin = pull("alice/jewelrec-offline", revision=revision, cache_dir=cache)
        assert origin["offline"] is True and origin["commit"] == sha
        assert "unreachable" in origin["notice"] and sha[:12] in origin["notice"]
        assert cached.item_ids == online.item_ids
    with pytest.raises(HubError, match="no copy of that revision is cached"):
        pull("alice/jewelrec-offline", cache_dir=tmp_path / "empty-cache")

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    hub.outage_status = 503  # the Hub is up but failing: same fallback, the notice says what happened
    try:
        _, origin = pull("alice/jewelrec-offline", cache_dir=cache)
    finally:
        hub.outage_status = None
    assert origin["offline"] is True and origin["commit"] == sha and "answered 503" in origin["notice"]

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    n_requests = len(hub.requests)
    _, origin = pull("alice/jewelrec-offline", cache_dir=cache)
    assert origin["offline"] is True and "HF_HUB_OFFLINE" in origin["notice"]
    assert len(hub.requests) == n_requests  # offline mode asks the Hub nothing


def test_missing_or_read_only_token_fails_before_any_upload(hub, bundle_copy, monkeypatch):
    from jewelrec.serving.bundle import list_files
    from jewelrec.serving.hub import HubError, push

    before = {f: (bundle_copy / f).read_bytes() for f in list_files(bundle_copy) if f != "README.md"}
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(HubError, match="no Hugging Face token found.*HF_TOKEN"):
        push(bundle_copy, "alice/jewelrec-denied")
    monkeypatch.setenv("HF_TOKEN", READ)
    with pytest.raises(HubError, match="read-only"):
        push(bundle_copy, "alice/jewelrec-denied")
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_token")
    with pytest.raises(HubError, match="rejected the token"):
        push(bundle_copy, "alice/jewelrec-denied")
    monkeypatch.setenv("HF_TOKEN", WRITE)
    with pytest.raises(HubError, match="cannot write to namespace 'bob'"):
        push(bundle_copy, "bob/jewelrec-denied")
    from jewelrec.serving.hub import check_write_access

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # fit/update --push checked access with a raw OfflineModeIsEnabled
    with pytest.raises(HubError, match="HF_HUB_OFFLINE is set, so nothing can be pushed to 'alice/jewelrec-denied'"):
        check_write_access("alice/jewelrec-denied")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert ("model", "alice/jewelrec-denied") not in hub.repos and ("model", "bob/jewelrec-denied") not in hub.repos
    assert not any(method == "POST" and "denied" in path for method, path in hub.requests)
    assert {f: (bundle_copy / f).read_bytes() for f in before} == before  # the local bundle is untouched


def test_repo_with_unknown_file_is_refused_and_never_downloaded(hub, bundle_copy, tmp_path):
    from huggingface_hub import HfApi

    from jewelrec.serving.bundle import BundleError
    from jewelrec.serving.hub import pull, push

    push(bundle_copy, "alice/jewelrec-pkl")
    HfApi(endpoint=hub.url).upload_file(path_or_fileobj=b"\x80\x04not really a pickle", path_in_repo="model.pkl",
                                        repo_id="alice/jewelrec-pkl")
    cache = tmp_path / "cache"
    with pytest.raises(BundleError, match=r"may not hold: \['model.pkl'\]"):
        pull("alice/jewelrec-pkl", cache_dir=cache)
    assert not any(path.endswith("model.pkl") for _, path in hub.requests if "/resolve/" in path)
    assert not list(cache.rglob("*.pkl"))


def test_flipped_byte_in_cache_is_refused_offline_and_fetched_again_online(hub, bundle_copy, tmp_path, monkeypatch,
                                                                           caplog):
    from jewelrec.serving.bundle import BundleError
    from jewelrec.serving.hub import pull, push

    sha = push(bundle_copy, "alice/jewelrec-flip").rsplit("/", 1)[1]
    cache = tmp_path / "cache"
    bundle, _ = pull("alice/jewelrec-flip", revision=sha, cache_dir=cache)
    blob = (bundle.path / "embeddings.safetensors").resolve()  # the snapshot entry links to the cached blob
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0x01
    blob.write_bytes(bytes(data))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # offline the damage is refused, naming what to delete
    with pytest.raises(BundleError, match=r"the cached copy of alice/jewelrec-flip@\w+ is damaged "
                                          r"\(\['embeddings.safetensors'\] differ .* delete .*models--alice--"
                                          r"jewelrec-flip \(deleting the snapshot alone is not enough"):
        pull("alice/jewelrec-flip", revision=sha, cache_dir=cache)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    # online it is fetched again (the fix named before — delete the snapshot — relinked the same damaged blob)
    repaired, origin = pull("alice/jewelrec-flip", revision=sha, cache_dir=cache)
    assert origin["commit"] == sha and blob.read_bytes() == (bundle_copy / "embeddings.safetensors").read_bytes()
    assert "did not match its manifest" in caplog.text and repaired.n_items == bundle.n_items


def test_training_fit_push_end_to_end(hub, tmp_path, monkeypatch, capsys):
    from training.fit import main

    monkeypatch.setenv("JEWELREC_HOME", str(tmp_path / "home"))
    args = ["--dataset", "sample", "--sample-items", "40", "--encoder", "cnn", "--cnn-epochs", "2",
            "--method", "kmeans", "--clusters", "4", "--push", "--repo-id", "alice/jewelrec-fit"]
    monkeypatch.delenv("HF_TOKEN")
    assert main([*args, "--out", str(tmp_path / "denied")]) == 2  # refused before the fit starts
    assert "no Hugging Face token" in capsys.readouterr().err and not (tmp_path / "denied").exists()

    monkeypatch.setenv("HF_TOKEN", WRITE)
    assert main([*args, "--out", str(tmp_path / "bundle")]) == 0
    sha = hub.repos[("model", "alice/jewelrec-fit")].branches["main"]
    assert f"{hub.url}/alice/jewelrec-fit/commit/{sha}" in capsys.readouterr().out
    assert b"library_name: jewelrec" in hub.head_files("model", "alice/jewelrec-fit")["README.md"]


def test_depict_weights_travel_and_load_with_strict_keys(hub, bundle_copy, tmp_path):
    """A bundle with depict/ (model.safetensors + config.json) comes back byte-identical and loads strictly."""
    import numpy as np

    from jewelrec.clustering.depict import Depict
    from jewelrec.serving.bundle import Bundle
    from jewelrec.serving.hub import pull, push

    bundle = Bundle.load(bundle_copy)
    depict = Depict(n_clusters=bundle.n_clusters, seed=0, pretrain_epochs=2, cluster_epochs=2).fit(bundle.embeddings)
    depict.save_pretrained(bundle_copy / "depict")
    bundle.save(bundle_copy)  # re-seal: the manifest now covers depict/
    assert "depict/model.safetensors" in bundle.config["files"]

    sha = push(bundle_copy, "alice/jewelrec-depict").rsplit("/", 1)[1]
    pulled, origin = pull("alice/jewelrec-depict", revision=sha, cache_dir=tmp_path / "cache")
    assert (pulled.path / "depict" / "model.safetensors").read_bytes() == \
        (bundle_copy / "depict" / "model.safetensors").read_bytes()
    loaded = Depict.from_pretrained(pulled.path / "depict", input_dim=pulled.embeddings.shape[1])
    np.testing.assert_allclose(loaded.predict_proba(pulled.embeddings), depict.predict_proba(bundle.embeddings),
                               rtol=0, atol=1e-6)
    card = hub.head_files("model", "alice/jewelrec-depict")["README.md"].decode()
    assert "depict/model.safetensors" in card and 'hub.pull("alice/jewelrec-depict")' in card


def test_the_prebuilt_search_index_travels_with_the_bundle_and_is_loaded_not_trained(hub, tmp_path, monkeypatch):
    import faiss

    from jewelrec.serving.bundle import INDEX_NAME, BundleError
    from jewelrec.serving.hub import pull, push_bundle
    from jewelrec.serving.index import VectorIndex
    from jewelrec.serving.recommender import Recommender
    from tests.conftest import make_synthetic_bundle

    bundle = make_synthetic_bundle(n_items=3000, dim=16, n_clusters=6)  # above FLAT_LIMIT: an IVF is stored
    local = bundle.save(tmp_path / "indexed", index=VectorIndex(bundle.embeddings, exact_limit=0))
    info = push_bundle(local, "alice/jewelrec-index")
    stored = hub.head_files("model", "alice/jewelrec-index")
    assert stored[INDEX_NAME] == (local / INDEX_NAME).read_bytes()
    assert hashlib.sha256(stored[INDEX_NAME]).hexdigest() in hub.lfs_objects  # a binary: the LFS route
    assert b"`index.faiss` is the search index trained at fit" in stored["README.md"]  # the card says so

    cache = tmp_path / "cache"
    pulled, _ = pull("alice/jewelrec-index", revision=info.oid, cache_dir=cache)
    assert (pulled.path / INDEX_NAME).is_symlink()  # a cache snapshot: the file links to its blob

    def refuse(*args, **kwargs):
        raise AssertionError("the pulled bundle's index was trained again")

    with monkeypatch.context() as patch:
        patch.setattr(faiss.IndexIVFScalarQuantizer, "train", refuse)
        served = Recommender(pulled)
    assert served.index.origin == "stored"
    ids = pulled.item_ids
    assert [served.similar(i, k=5) for i in ids[::500]] == [Recommender(_in_memory(bundle)).similar(i, k=5)
                                                            for i in ids[::500]]
    blob = (pulled.path / INDEX_NAME).resolve()
    data = bytearray(blob.read_bytes())
    data[-9] ^= 0x01
    blob.write_bytes(bytes(data))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BundleError, match=r"\['index.faiss'\] differ from the bundle's SHA-256"):
        pull("alice/jewelrec-index", revision=info.oid, cache_dir=cache)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    pull("alice/jewelrec-index", revision=info.oid, cache_dir=cache)  # online: fetched again
    assert blob.read_bytes() == (local / INDEX_NAME).read_bytes()


def _in_memory(bundle):
    """The same arrays as an in-memory bundle (no path, so no stored index): what every start trained before."""
    from jewelrec.serving.bundle import Bundle

    return Bundle(items=bundle.items, embeddings=bundle.embeddings, labels=bundle.labels, probs=bundle.probs,
                  centroids=bundle.centroids, coords2d=bundle.coords2d)


def test_private_repo_needs_a_token_to_pull(hub, bundle_copy, tmp_path, monkeypatch):
    from jewelrec.serving.hub import HubError, pull, push

    push(bundle_copy, "alice/jewelrec-private", private=True)
    assert hub.repos[("model", "alice/jewelrec-private")].private
    _, origin = pull("alice/jewelrec-private", cache_dir=tmp_path / "cache")
    assert origin["offline"] is False
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(HubError, match="not found.*private.*HF_TOKEN"):
        pull("alice/jewelrec-private", cache_dir=tmp_path / "other-cache")


def test_a_hub_that_dies_mid_download_or_never_answers_falls_back_to_the_cache(hub, bundle_copy, tmp_path,
                                                                               monkeypatch):
    """#14 items 8 and 9: a new revision whose download breaks off, or a Hub that accepts the connection and says
    nothing, must not stop the Space: pull serves the revision cached before, with a notice, within a bound."""
    import time

    from jewelrec.serving import hub as hub_module
    from jewelrec.serving.bundle import Bundle
    from jewelrec.serving.hub import pull, push

    old_sha = push(bundle_copy, "alice/flaky").rsplit("/", 1)[1]
    cache = tmp_path / "cache"
    pull("alice/flaky", cache_dir=cache)  # the Space saw main at old_sha once
    newer = Bundle.load(bundle_copy)
    newer.config["clustering"] = {**newer.config.get("clustering", {}), "method": "newer"}
    newer.save(bundle_copy)
    push(bundle_copy, "alice/flaky", commit_message="newer")
    hub.drop_downloads = True
    try:
        _, origin = pull("alice/flaky", cache_dir=cache)
    finally:
        hub.drop_downloads = False
    assert origin["offline"] is True and origin["commit"] == old_sha and "broke off" in origin["notice"]

    monkeypatch.setattr(hub_module, "READ_TIMEOUT_S", 1.0)
    monkeypatch.setattr(hub_module, "_timeouts_installed", False)  # re-install with the short read timeout
    hub.hang_seconds = 3.0
    started = time.perf_counter()
    try:
        _, origin = pull("alice/flaky", cache_dir=cache)
    finally:
        hub.hang_seconds = 0.0
        monkeypatch.setattr(hub_module, "_timeouts_installed", False)
    assert time.perf_counter() - started < 10
    assert origin["offline"] is True and origin["commit"] == old_sha and "unreachable" in origin["notice"]


@pytest.mark.parametrize("repo_id", ["alice/my repo", "alice/x--y", "alice/name.git", "alice/" + "a" * 100, "alice/ü"])
def test_a_repo_id_the_hub_would_refuse_is_refused_before_any_work(hub, sample_bundle_dir, tmp_path, capsys,
                                                                     repo_id):
    from jewelrec.serving.hub import HubError, check_write_access
    from training.update import main as update

    with pytest.raises(HubError, match="not one the Hub accepts.*--repo-id user/name"):
        check_write_access(repo_id)
    removed = "jw-0001"
    assert update(["--bundle", str(sample_bundle_dir), "--remove", removed, "--out", str(tmp_path / "v2"), "--push",
                   "--repo-id", repo_id]) == 2
    assert "--repo-id user/name" in capsys.readouterr().err
    assert not (tmp_path / "v2").exists()  # refused before the update, not after it was written
    from jewelrec.cli.push import main as push_cli

    assert push_cli(["--bundle", str(sample_bundle_dir), "--repo-id", repo_id]) == 2
    assert "push it again" not in capsys.readouterr().err  # an id to fix is not a push to retry


@pytest.mark.parametrize("branch", ["my branch", "a..b", "-x", "x.lock", "x/", "/x", "a//b", ".hidden", "x.",
                                    "a@{1}", "@", "what?", "refs/pr/1", "", "HEAD"])
def test_a_branch_git_would_refuse_is_refused_before_any_work(hub, sample_bundle_dir, tmp_path, capsys, branch):
    from jewelrec.cli.push import main as push_cli
    from jewelrec.serving.hub import HubError, check_branch
    from training.update import main as update

    with pytest.raises(HubError, match="--branch with a plain name"):
        check_branch(branch)
    assert update(["--bundle", str(sample_bundle_dir), "--remove", "jw-0001", "--out", str(tmp_path / "v2"), "--push",
                   "--repo-id", "alice/jewelrec-branches", f"--branch={branch}"]) == 2
    assert "--branch with a plain name" in capsys.readouterr().err
    assert not (tmp_path / "v2").exists()  # refused before the update was written
    assert push_cli(["--bundle", str(sample_bundle_dir), "--repo-id", "alice/jewelrec-branches",
                     f"--branch={branch}"]) == 2
    assert "push it again" not in capsys.readouterr().err  # a name to fix is not a push to retry
    assert ("model", "alice/jewelrec-branches") not in hub.repos  # nothing was created on the Hub


def test_a_fit_with_a_bad_branch_stops_before_any_work(hub, tmp_path, capsys):
    from training.fit import main as fit

    out = tmp_path / "bundle"
    assert fit(["--dataset", "sample", "--sample-items", "60", "--out", str(out), "--push", "--repo-id",
                "alice/jewelrec-fit-branch", "--branch", "my branch"]) == 2
    assert "branch 'my branch' is not a name git accepts" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("branch", [None, "main", "staging", "v2.1", "release/2026-12", "alice_test-3"])
def test_ordinary_branch_names_pass(branch):
    from jewelrec.serving.hub import check_branch

    check_branch(branch)


def test_a_push_that_fails_after_the_bundle_is_written_keeps_it_and_says_how_to_push_again(
        hub, sample_bundle_dir, tmp_path, monkeypatch, capsys):
    """A Hub that goes down between training.update's early check and the push: no traceback, the written bundle
    is named, with the line that pushes it; a Hub answering 5xx to whoami is down, not a rejected token."""
    from jewelrec.serving import hub as hub_module
    from jewelrec.serving.bundle import Bundle
    from jewelrec.serving.hub import HubError, check_write_access, pull
    from training.update import main as update

    hub.outage_status = 503
    try:
        with pytest.raises(HubError, match="answered 503.*try again later") as caught:
            check_write_access("alice/jewelrec-down")
    finally:
        hub.outage_status = None
    assert "rejected the token" not in str(caught.value)

    checked = []

    def check_then_go_down(*args, **kwargs):
        name = check_write_access(*args, **kwargs)
        checked.append(name)
        if len(checked) == 2:  # push's own check passes, then the Hub goes away before the upload
            hub.outage_status = 503
        return name

    monkeypatch.setattr(hub_module, "check_write_access", check_then_go_down)
    out = tmp_path / "v2"
    try:
        code = update(["--bundle", str(sample_bundle_dir), "--remove", "jw-0001", "--out", str(out), "--push",
                       "--repo-id", "alice/jewelrec-late"])
    finally:
        hub.outage_status = None
    err = capsys.readouterr().err
    assert code == 2 and "failed (the Hub answered 503)" in err and f"the bundle at {out} is complete and kept" in err
    again = err.split("push it again once that is fixed: ", 1)[1].strip()
    message = f"jewelrec update: +0 / -1 items ({len(Bundle.load(out).item_ids)} in all)"  # update's own, kept
    assert shlex.split(again) == ["jewelrec-push", "--bundle", str(out), "--repo-id", "alice/jewelrec-late",
                                  "--message", message]
    monkeypatch.setattr(hub_module, "check_write_access", check_write_access)
    from jewelrec.cli.push import main as push_cli

    assert push_cli(shlex.split(again)[1:]) == 0  # what that line runs
    assert "pushed  " in capsys.readouterr().out
    pulled, _ = pull("alice/jewelrec-late", cache_dir=tmp_path / "cache")
    assert pulled.item_ids == Bundle.load(out).item_ids and not pulled.has_item("jw-0001")


def test_the_push_command_publishes_a_bundle_on_disk_and_names_what_is_wrong(hub, bundle_copy, tmp_path, capsys):
    from jewelrec.cli.push import main as push_cli
    from jewelrec.serving.bundle import Bundle
    from jewelrec.serving.hub import pull

    assert push_cli(["--bundle", str(tmp_path / "nothing"), "--repo-id", "alice/jewelrec-cli"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert push_cli(["--bundle", str(bundle_copy), "--repo-id", "alice/bad name"]) == 2
    assert "is not one the Hub accepts" in capsys.readouterr().err
    assert push_cli(["--bundle", str(bundle_copy), "--repo-id", "alice/jewelrec-cli", "--branch", "staging"]) == 0
    url = capsys.readouterr().out.split("pushed  ", 1)[1].strip()
    pulled, origin = pull("alice/jewelrec-cli", "staging", cache_dir=tmp_path / "cache")
    assert url.endswith(origin["commit"]) and pulled.item_ids == Bundle.load(bundle_copy).item_ids


def test_a_repo_that_is_not_a_complete_bundle_is_named_and_not_downloaded(hub, bundle_copy, tmp_path):
    from huggingface_hub import HfApi

    from jewelrec.serving.bundle import BundleError
    from jewelrec.serving.hub import pull, push

    hub.create_repo("model", "alice/not-a-bundle")
    with pytest.raises(BundleError, match=r"alice/not-a-bundle@\w{12} is not a complete jewelrec bundle: it lacks "
                                          r"\['config.json', 'items.parquet'.*--push --repo-id alice/not-a-bundle"):
        pull("alice/not-a-bundle", cache_dir=tmp_path / "cache")
    push(bundle_copy, "alice/half-bundle")
    HfApi(endpoint=hub.url).delete_file("items.parquet", repo_id="alice/half-bundle")
    with pytest.raises(BundleError, match=r"alice/half-bundle@\w{12} is not a complete .* lacks \['items.parquet'\]"):
        pull("alice/half-bundle", cache_dir=tmp_path / "cache")
    assert not any("/resolve/" in path for _, path in hub.requests if "half-bundle" in path or "not-a-bundle" in path)


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (links followed) and its bytes: what a push must leave as it was."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_push_only_reads_the_bundle_folder(hub, bundle_copy, tmp_path):
    """The card was written into the folder first: pushing a bundle pulled into the Hub cache wrote the new card
    through the snapshot's link into the shared blob (another repo's cached card now named this repo), a
    read-only bundle could not be pushed at all, and a README the user kept there was replaced."""
    from jewelrec.serving.hub import pull, push_bundle

    push_bundle(bundle_copy, "alice/jewelrec-src")
    cache = tmp_path / "cache"
    pulled, origin = pull("alice/jewelrec-src", cache_dir=cache)
    before = _tree_bytes(cache)
    info = push_bundle(pulled.path, "alice/jewelrec-copy")  # a snapshot folder: links into blobs/
    assert _tree_bytes(cache) == before
    assert b'hub.pull("alice/jewelrec-copy")' in hub.head_files("model", "alice/jewelrec-copy")["README.md"]
    assert b'hub.pull("alice/jewelrec-src")' in hub.head_files("model", "alice/jewelrec-src")["README.md"]
    assert info.oid != origin["commit"]
    (bundle_copy / "README.md").write_text("MY OWN NOTES\n")
    push_bundle(bundle_copy, "alice/jewelrec-src")
    assert (bundle_copy / "README.md").read_text() == "MY OWN NOTES\n"  # the Hub gets the card; the file stays


def test_a_repo_holding_other_files_is_not_emptied_by_a_push(hub, bundle_copy):
    """The push deleted everything the bundle lacks — a repo of another project's files lost them all, in a
    commit that said "pushed"."""
    from huggingface_hub import HfApi

    from jewelrec.serving.hub import HubError, push_bundle

    api = HfApi(endpoint=hub.url, token=WRITE)
    api.create_repo("alice/other-project")
    api.upload_file(path_or_fileobj=b"keep me", path_in_repo="notes.txt", repo_id="alice/other-project")
    with pytest.raises(HubError, match=r"alice/other-project holds files that are not a jewelrec bundle's "
                                       r"\(\['notes.txt'\]\), which this push would delete; push to a repo of its "
                                       r"own .* push it again once that is fixed"):
        push_bundle(bundle_copy, "alice/other-project")
    assert hub.head_files("model", "alice/other-project")["notes.txt"] == b"keep me"
    push_bundle(bundle_copy, "alice/jewelrec-twice")  # an earlier bundle's files are replaced, as before
    assert "items.parquet" in hub.head_files("model", "alice/jewelrec-twice")


def test_private_on_an_existing_public_repo_is_refused(hub, bundle_copy):
    """create_repo(exist_ok=True) never changes visibility: --private "pushed" to a public repo without a word."""
    from huggingface_hub import HfApi

    from jewelrec.serving.hub import HubError, push_bundle

    HfApi(endpoint=hub.url, token=WRITE).create_repo("alice/public-one")
    with pytest.raises(HubError, match=r"'alice/public-one' already exists and is public; --private does not "
                                       r"change an existing repo: make it private in its settings"):
        push_bundle(bundle_copy, "alice/public-one", private=True)
    assert "config.json" not in hub.head_files("model", "alice/public-one")
    push_bundle(bundle_copy, "alice/private-one", private=True)  # a new repo is made private
    assert HfApi(endpoint=hub.url, token=WRITE).repo_info("alice/private-one").private


def test_a_failed_file_upload_keeps_the_bundle_and_says_push_it_again(hub, bundle_copy):
    # huggingface_hub wraps an upload's failure in RuntimeError: the push (and fit --push) ended in a traceback
    from jewelrec.serving.bundle import Bundle
    from jewelrec.serving.hub import HubError, push

    hub.upload_status = 403  # the storage refuses the file (a 5xx is retried with back-off for half a minute first)
    stored = dict(hub.lfs_objects)
    hub.lfs_objects.clear()  # an earlier test's push of the same files would make this one upload nothing
    try:
        with pytest.raises(HubError, match=r"pushing .* to alice/jewelrec-upload failed \(Error while uploading "
                                           r".* the Hub answered 403\); the bundle at .* is complete and kept — "
                                           r"push it again once that is fixed: jewelrec-push --bundle"):
            push(bundle_copy, "alice/jewelrec-upload")
    finally:
        hub.upload_status = None
        hub.lfs_objects.update(stored)
    assert Bundle.load(bundle_copy).n_items and push(bundle_copy, "alice/jewelrec-upload")  # the retry goes through


def test_a_dropped_connection_a_429_or_a_web_page_serves_the_cached_copy(hub, bundle_copy, tmp_path):
    # only refused connections, timeouts and 5xx fell back to the cache: a connection closed without an answer
    # (RemoteProtocolError), 429 Too Many Requests and a proxy's HTML page stopped the Space though a copy was cached
    from jewelrec.serving.hub import HubError, check_write_access, pull, push

    sha = push(bundle_copy, "alice/jewelrec-drop").rsplit("/", 1)[1]
    cache = tmp_path / "cache"
    pull("alice/jewelrec-drop", cache_dir=cache)
    for setting, value, said in (("drop_all", True, "unreachable (RemoteProtocolError)"),
                                 ("outage_status", 429, "the Hub answered 429"),
                                 ("html_status", 200, "did not answer as the Hub's API does")):
        default = getattr(hub, setting)
        setattr(hub, setting, value)
        try:
            _, origin = pull("alice/jewelrec-drop", cache_dir=cache)
            with pytest.raises(HubError, match=r"(cannot reach the Hub|answered 429|did not answer as the Hub's "
                                               r"API does).*nothing was sent"):
                check_write_access("alice/jewelrec-drop")
        finally:
            setattr(hub, setting, default)
        assert origin["offline"] is True and origin["commit"] == sha and said in origin["notice"], origin


def test_a_bad_copy_on_the_hub_is_named_as_the_hubs_not_the_caches(hub, bundle_copy, tmp_path):
    # a flipped byte, a missing or an extra file in the repo were reported as a damaged cache to delete and fetch
    # again, which fetched the same files
    from jewelrec.serving.bundle import BundleChanged, BundleError
    from jewelrec.serving.hub import pull, push

    push(bundle_copy, "alice/jewelrec-bad")
    repo = hub.repos[("model", "alice/jewelrec-bad")]
    good = dict(hub.head_files("model", "alice/jewelrec-bad"))
    flipped = bytearray(good["embeddings.safetensors"])
    flipped[-1] ^= 0x01
    report = next(path for path in good if path.startswith("report/"))
    for n, (files, error) in enumerate((({**good, "embeddings.safetensors": bytes(flipped)}, BundleChanged),
                                        ({p: v for p, v in good.items() if p != report}, BundleError),
                                        ({**good, "report/extra.png": good[report]}, BundleError))):
        hub.new_commit(repo, repo.branches["main"], files, "main")
        with pytest.raises(error, match=r"alice/jewelrec-bad@\w{12} on the Hub is not the bundle its own "
                                        r"config.json describes .* push the bundle again"):
            pull("alice/jewelrec-bad", cache_dir=tmp_path / f"cache-{n}")
