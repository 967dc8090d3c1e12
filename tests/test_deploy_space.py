"""`python -m training.deploy_space` end to end against the local Hub-protocol server."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

SPACE_YAML = """\
title: jewelrec
emoji: "\U0001F48D"
sdk: gradio
sdk_version: 6.0.0  # a comment safe_load drops
app_file: app.py
hf_oauth: true
variables:
  JEWELREC_REPO: ""
  JEWELREC_REVISION: ""
  JEWELREC_DATA_DIR: /data
"""


@pytest.fixture
def space_yaml(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(SPACE_YAML)
    return path


def test_deploy_uploads_app_and_sets_variables_then_the_space_pulls_the_pinned_bundle(
        hub, sample_bundle_dir, space_yaml, tmp_path, capsys):
    from jewelrec.serving.hub import pull, push
    from training.deploy_space import main

    bundle_dir = shutil.copytree(sample_bundle_dir, tmp_path / "bundle")
    sha = push(bundle_dir, "alice/jewelrec").rsplit("/", 1)[1]
    args = ["--space-id", "alice/jewelrec-space", "--repo", "alice/jewelrec", "--revision", sha,
            "--space-yaml", str(space_yaml)]
    assert main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == f"{hub.url}/spaces/alice/jewelrec-space"

    space = hub.repos[("space", "alice/jewelrec-space")]
    assert space.sdk == "gradio"
    files = hub.head_files("space", "alice/jewelrec-space")
    assert {"app.py", "requirements.txt", "README.md", "jewelrec/__init__.py", "jewelrec/hub.py",
            "jewelrec/evaluation/models/__init__.py", "jewelrec/pipeline/fit.py"} <= set(files)
    assert not [f for f in files if f.startswith("training/")]  # the package is the product; no CLI copies
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    from jewelrec.space.deploy import ROOT

    # exactly the package pip installs: every module of the checkout, byte for byte
    package = {p.relative_to(ROOT).as_posix() for p in (ROOT / "jewelrec").rglob("*.py")}
    assert package <= set(files)
    assert files["jewelrec/hub.py"] == (ROOT / "jewelrec" / "hub.py").read_bytes()
    assert f"[alice/jewelrec]({hub.url}/alice/jewelrec)" in files["README.md"].decode()  # the Hub deployed to
    # the serving extra only, pinned like the checkout's lock file
    requirements = files["requirements.txt"].decode()
    assert "gradio[oauth]==6.31.0" in requirements and "torch==2.13.0" in requirements
    for training_only in ("umap-learn", "implicit", "wandb", "trackio", "ray"):
        assert training_only not in requirements
    front = yaml.safe_load(files["README.md"].decode().split("---\n")[1])
    assert front == {"title": "jewelrec", "emoji": "\U0001F48D", "sdk": "gradio", "sdk_version": "6.0.0",
                     "app_file": "app.py", "hf_oauth": True}
    assert {k: v["value"] for k, v in space.variables.items()} == {
        "JEWELREC_REPO": "alice/jewelrec", "JEWELREC_REVISION": sha, "JEWELREC_DATA_DIR": "/data"}

    # what the Space does with those variables: the pinned commit is served exactly, even after a new push
    from jewelrec.serving.bundle import Bundle

    newer = Bundle.load(bundle_dir)
    newer.config["clustering"] = {**newer.config.get("clustering", {}), "method": "newer"}
    newer.save(bundle_dir)
    push(bundle_dir, "alice/jewelrec", commit_message="newer bundle")
    variables = {k: v["value"] for k, v in space.variables.items()}
    _, origin = pull(variables["JEWELREC_REPO"], variables["JEWELREC_REVISION"], cache_dir=tmp_path / "cache")
    assert origin["commit"] == sha

    # and what the Space's own start-up does with them (jewelrec.space.resolve_bundle -> hub.pull)
    from huggingface_hub import constants

    from jewelrec.space import origin_text, resolve_bundle

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "space-cache"))
        mp.delenv("JEWELREC_BUNDLE", raising=False)
        for key, value in variables.items():
            mp.setenv(key, value)
        served, origin = resolve_bundle()
        assert origin["commit"] == sha and not origin["offline"]
        assert sha[:12] in origin_text(origin, served)
        mp.setenv("JEWELREC_REVISION", "main")  # a branch resolves to its current (newer) commit
        _, origin = resolve_bundle()
        assert origin["commit"] == hub.repos[("model", "alice/jewelrec")].branches["main"] != sha

    # a second deploy updates the same Space in a new commit
    n_commits = len(space.commits)
    assert main(["--space-id", "alice/jewelrec-space", "--space-yaml", str(space_yaml)]) == 0
    assert len(space.commits) == n_commits + 1
    # without a bundle repo the Space builds the sample itself, so it also gets the training extra
    requirements = hub.head_files("space", "alice/jewelrec-space")["requirements.txt"].decode()
    assert "umap-learn==" in requirements and "ray" not in requirements  # but not Ray: a Space never runs --engine ray


def test_deploy_refuses_unknown_bundle_revision_and_missing_token(hub, space_yaml, monkeypatch, capsys):
    from training.deploy_space import main

    hub.create_repo("model", "alice/empty-bundle")
    assert main(["--space-id", "alice/s2", "--repo", "alice/empty-bundle", "--revision", "nope",
                 "--space-yaml", str(space_yaml)]) == 2
    assert "alice/empty-bundle@nope not found" in capsys.readouterr().err
    monkeypatch.delenv("HF_TOKEN")
    assert main(["--space-id", "alice/s2", "--space-yaml", str(space_yaml)]) == 2
    assert "no Hugging Face token" in capsys.readouterr().err
    assert ("space", "alice/s2") not in hub.repos
    with pytest.raises(SystemExit):
        main(["--space-id", "alice/s2", "--revision", "abc"])  # --revision without --repo is a usage error


def test_a_source_that_is_no_checkout_is_named_before_the_hub(hub, tmp_path, space_yaml, monkeypatch, capsys):
    """Installed from a wheel, the default --source was site-packages' parent: the error said space.yaml was not
    found and to "run from the repository root", which changed nothing. The default is now the folder the command
    runs in when the package has no checkout around it, and a --source that is no checkout is named at once."""
    from jewelrec.space import deploy as deploy_module
    from training.deploy_space import main

    assert main(["--space-id", "alice/s3", "--source", str(tmp_path), "--space-yaml", str(space_yaml)]) == 2
    err = capsys.readouterr().err
    assert "--source " + str(tmp_path) + " is not a jewelrec checkout (no app.py, pyproject.toml" in err
    assert "pass --source <repository root>" in err and ("space", "alice/s3") not in hub.repos
    monkeypatch.setattr(deploy_module, "ROOT", tmp_path / "site-packages")  # an installed package
    monkeypatch.chdir(deploy_module.Path(__file__).resolve().parents[1])
    assert deploy_module.DeployConfig(space_id="alice/s3").source == str(deploy_module.Path.cwd())
    monkeypatch.chdir(tmp_path)
    assert deploy_module.DeployConfig(space_id="alice/s3").source == str(tmp_path)


def test_space_yaml_must_exist_and_be_gradio(tmp_path):
    from jewelrec.space.deploy import read_space_settings

    with pytest.raises(ValueError, match="space.yaml not found"):
        read_space_settings(tmp_path / "space.yaml")
    (tmp_path / "space.yaml").write_text("sdk: docker\n")
    with pytest.raises(ValueError, match="Gradio Space"):
        read_space_settings(tmp_path / "space.yaml")


def test_a_redeploy_does_not_leave_an_earlier_bundle_setting_behind(hub, sample_bundle_dir, space_yaml, tmp_path,
                                                                    capsys):
    """A pinned JEWELREC_REVISION from an earlier deploy would keep serving the old commit after `--repo R` (main),
    and a JEWELREC_REPO the old bundle after a deploy without --repo (the sample): both are removed."""
    from jewelrec.serving.hub import push
    from training.deploy_space import main

    bundle_dir = shutil.copytree(sample_bundle_dir, tmp_path / "bundle")
    sha = push(bundle_dir, "alice/jewelrec").rsplit("/", 1)[1]
    common = ["--space-id", "alice/redeploy", "--space-yaml", str(space_yaml)]
    assert main([*common, "--repo", "alice/jewelrec", "--revision", sha]) == 0
    space = hub.repos[("space", "alice/redeploy")]
    assert space.variables["JEWELREC_REVISION"]["value"] == sha
    capsys.readouterr()

    assert main([*common, "--repo", "alice/jewelrec"]) == 0  # now: follow main
    assert {k: v["value"] for k, v in space.variables.items()} == {"JEWELREC_REPO": "alice/jewelrec",
                                                                    "JEWELREC_DATA_DIR": "/data"}
    assert "variable JEWELREC_REVISION removed" in capsys.readouterr().out

    assert main(common) == 0  # now: the built-in sample
    assert set(space.variables) == {"JEWELREC_DATA_DIR"}
    assert "variable JEWELREC_REPO removed" in capsys.readouterr().out
    assert main(common) == 0  # nothing left to remove: no DELETE sent
    assert [path for method, path in hub.requests if method == "DELETE" and "redeploy" in path] == [
        "/api/spaces/alice/redeploy/variables"] * 2


def test_a_space_told_a_revision_of_no_repo_or_a_bad_repo_id_says_so(hub, monkeypatch):
    """JEWELREC_REVISION without JEWELREC_REPO (a misspelt JEWELROC_REPO, say) would quietly serve the sample."""
    from jewelrec.space import resolve_bundle, sample_needs_build

    monkeypatch.delenv("JEWELREC_BUNDLE", raising=False)
    monkeypatch.delenv("JEWELREC_REPO", raising=False)
    monkeypatch.setenv("JEWELROC_REPO", "alice/jewelrec")
    monkeypatch.setenv("JEWELREC_REVISION", "0123abc")
    assert not sample_needs_build()  # nothing is built for a start that is refused
    with pytest.raises(ValueError, match="JEWELREC_REVISION='0123abc' is set but JEWELREC_REPO is not"):
        resolve_bundle()
    monkeypatch.setenv("JEWELREC_REPO", " alice/jewelrec")  # pasted with a space
    with pytest.raises(ValueError, match="JEWELREC_REPO=' alice/jewelrec' is not a Hub repo id"):
        resolve_bundle()



def test_a_hub_that_fails_mid_deploy_or_a_bad_bundle_repo_id_is_one_line(hub, space_yaml, monkeypatch, capsys):
    import jewelrec.serving.hub as hub_module
    from training.deploy_space import main

    real_check = hub_module.check_write_access

    def check_then_go_down(*args, **kwargs):  # the token is fine; the Hub goes away right after the check
        name = real_check(*args, **kwargs)
        hub.outage_status = 503
        return name

    monkeypatch.setattr(hub_module, "check_write_access", check_then_go_down)
    try:
        assert main(["--space-id", "alice/s-down", "--space-yaml", str(space_yaml)]) == 2
    finally:
        hub.outage_status = None
    assert "deploying alice/s-down failed (the Hub answered 503)" in capsys.readouterr().err
    monkeypatch.setattr(hub_module, "check_write_access", real_check)
    assert main(["--space-id", "alice/s3", "--repo", "alice/my bundle", "--space-yaml", str(space_yaml)]) == 2
    assert "repo id 'alice/my bundle' is not one the Hub accepts" in capsys.readouterr().err
    assert ("space", "alice/s3") not in hub.repos


@pytest.mark.parametrize(("text", "message"), [
    ("title: x\nsdk: gradio\n  bad: [\n", r"is not valid YAML at line 3, column 6 \(mapping values are not allowed"),
    ("sdk: gradio\nvariables: [a, b]\n", r"variables must be a mapping of Space variables \(NAME: value\), got list"),
])  # fmt: skip
def test_a_space_yaml_that_cannot_be_read_is_one_line_naming_where(tmp_path, capsys, text, message):
    """A ScannerError / AttributeError traceback (status 1) before; now one error line, status 2."""
    from training.deploy_space import main

    (tmp_path / "space.yaml").write_text(text)
    assert main(["--space-id", "alice/s-yaml", "--space-yaml", str(tmp_path / "space.yaml")]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_the_bundle_a_space_is_pointed_at_is_checked_however_it_is_given(hub, sample_bundle_dir, space_yaml, capsys):
    """A --repo that exists but holds no bundle (or another project's files), and a JEWELREC_REPO set in
    space.yaml's variables (unchecked, the README saying the Space served the sample), deployed a Space that
    failed at its start."""
    from huggingface_hub import HfApi

    from jewelrec.serving.hub import push
    from training.deploy_space import main

    api = HfApi(endpoint=hub.url)
    api.create_repo("alice/notes")
    api.upload_file(path_or_fileobj=b"x", path_in_repo="notes.txt", repo_id="alice/notes")
    hub.create_repo("model", "alice/empty")
    for repo, message in (("alice/notes", r"alice/notes@\w{12} holds files a jewelrec bundle may not hold: "
                                          r"\['notes.txt'\]"),
                          ("alice/empty", r"alice/empty@\w{12} is not a complete jewelrec bundle: it lacks")):
        assert main(["--space-id", "alice/s-check", "--repo", repo, "--space-yaml", str(space_yaml)]) == 2
        assert re.search(message, capsys.readouterr().err)
    assert ("space", "alice/s-check") not in hub.repos
    settings = yaml.safe_load(space_yaml.read_text())
    settings["variables"]["JEWELREC_REPO"] = "bob/missing"
    space_yaml.write_text(yaml.safe_dump(settings))
    assert main(["--space-id", "alice/s-check", "--space-yaml", str(space_yaml)]) == 2
    assert "bundle bob/missing@main not found" in capsys.readouterr().err
    assert main(["--space-id", "alice/s-check", "--repo", "alice/other", "--space-yaml", str(space_yaml)]) == 2
    assert "sets JEWELREC_REPO: 'bob/missing' but --repo is 'alice/other'" in capsys.readouterr().err
    push(sample_bundle_dir, "alice/yaml-bundle")
    settings["variables"]["JEWELREC_REPO"] = "alice/yaml-bundle"
    space_yaml.write_text(yaml.safe_dump(settings))
    assert main(["--space-id", "alice/s-check", "--space-yaml", str(space_yaml)]) == 0
    assert "variable JEWELREC_REPO='alice/yaml-bundle'" in capsys.readouterr().out
    readme = hub.head_files("space", "alice/s-check")["README.md"].decode()
    assert "serves the bundle [alice/yaml-bundle]" in readme and "built-in sample" not in readme
    requirements = hub.head_files("space", "alice/s-check")["requirements.txt"].decode()
    assert "umap" not in requirements  # a Space with a bundle repo does not build the sample: no [train] extra


def test_private_on_an_existing_public_space_is_refused(hub, space_yaml, capsys):
    from huggingface_hub import HfApi

    from training.deploy_space import main

    HfApi(endpoint=hub.url).create_repo("alice/s-public", repo_type="space", space_sdk="gradio")
    assert main(["--space-id", "alice/s-public", "--private", "--space-yaml", str(space_yaml)]) == 2
    assert "Space 'alice/s-public' already exists and is public; --private does not change" in capsys.readouterr().err


def test_a_deploy_removes_only_what_a_deploy_wrote_and_warns_of_a_private_bundle(hub, sample_bundle_dir, space_yaml,
                                                                                  tmp_path, capsys):
    # every file under training/ and jewelrec/ was deleted — the Space owner's notes too — without a word; a
    # private bundle repo deployed "fine", and the Space could not start without a token
    from jewelrec.serving.hub import push
    from jewelrec.space.deploy import DEPLOY_MANIFEST
    from training.deploy_space import main

    bundle_dir = shutil.copytree(sample_bundle_dir, tmp_path / "bundle")
    push(bundle_dir, "alice/secret-bundle", private=True)
    space = hub.create_repo("space", "alice/owned", sdk="gradio")  # deployed before there was a manifest
    hub.new_commit(space, space.branches["main"], {"training/notes.md": b"mine", "custom.css": b"mine",
                                                   "training/old_cli.py": b"# old layout", "jewelrec/gone.py": b"#"},
                   "main")
    common = ["--space-id", "alice/owned", "--space-yaml", str(space_yaml), "--repo", "alice/secret-bundle"]
    assert main(common) == 0
    out, err = capsys.readouterr()
    files = hub.head_files("space", "alice/owned")
    assert {"training/notes.md", "custom.css", DEPLOY_MANIFEST} <= set(files)
    assert "training/old_cli.py" not in files and "jewelrec/gone.py" not in files
    assert "removed jewelrec/gone.py (an earlier deploy wrote it" in out and "removed training/notes.md" not in out
    assert "alice/secret-bundle is private" in err and "secret HF_TOKEN" in err

    owned = hub.repos[("space", "alice/owned")]  # the owner adds a module of their own; the next deploy keeps it
    hub.new_commit(owned, owned.branches["main"], {**files, "jewelrec/theme_by_owner.py": b"mine"}, "main")
    assert main(common) == 0
    assert "jewelrec/theme_by_owner.py" in hub.head_files("space", "alice/owned")
