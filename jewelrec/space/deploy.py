"""Create or update the jewelrec Gradio Space in one commit, pointed at a bundle repo and revision.

What the Space gets is what ``pip install`` gives: the ``jewelrec`` package exactly as its wheel (built from
``--source`` with the pyproject's own rules) holds it, ``app.py``, and a ``requirements.txt`` naming only the
serving extra (``jewelrec[space]``: no umap, implicit or trackers) at the versions pinned in the checkout's
``requirements.txt``; a Space without a bundle repo builds the built-in sample itself, so it also gets the
``train`` extra. The package files are uploaded beside ``app.py`` rather than installed from requirements.txt
because a Space installs its requirements before the repository's files are copied in. The README's front
matter is space.yaml (minus its ``variables`` block); then the Space variables are set: space.yaml's
``variables``, with ``JEWELREC_REPO`` / ``JEWELREC_REVISION`` from ``repo`` / ``revision``. The bundle revision is
checked on the Hub first, so a typo fails here and not in the running Space.
"""

from __future__ import annotations

import glob
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path
from typing import Any

import httpx2
import yaml

ROOT = Path(__file__).resolve().parents[2]  # the checkout this module sits in (when it does)
CHECKOUT_FILES = ("app.py", "pyproject.toml", "requirements.txt", "jewelrec/__init__.py")  # what a deploy uploads from


def is_checkout(path: Path) -> bool:
    return all((path / name).is_file() for name in CHECKOUT_FILES)


def default_source() -> str:
    """The checkout this jewelrec was imported from; installed from a wheel (site-packages holds no app.py), the
    folder the command runs in."""
    return str(ROOT if is_checkout(ROOT) else Path.cwd())


def check_source(source: Path) -> None:
    """Refuse a ``--source`` that is not a jewelrec checkout, before any Hub call."""
    missing = [name for name in CHECKOUT_FILES if not (source / name).is_file()]
    if missing:
        raise ValueError(f"--source {source} is not a jewelrec checkout (no {', '.join(missing)}): a deploy uploads "
                         "the checkout's app.py, its package as a wheel and its pinned requirements.txt — pass "
                         "--source <repository root> (a git clone of jewelrec), or run from there")
# Space front matter keys the Hub knows (https://huggingface.co/docs/hub/spaces-config-reference); others are
# dropped with a warning rather than sent.
SPACE_KEYS = {
    "title", "emoji", "colorFrom", "colorTo", "sdk", "sdk_version", "python_version", "app_file", "app_port",
    "base_path", "fullWidth", "header", "short_description", "models", "datasets", "tags", "thumbnail",
    "pinned", "hf_oauth", "hf_oauth_scopes", "hf_oauth_expiration_minutes", "hf_oauth_authorized_org",
    "disable_embedding", "startup_duration_timeout", "custom_headers", "preload_from_hub", "license",
    "suggested_hardware", "suggested_storage",
}


@dataclass
class DeployConfig:
    space_id: str
    repo: str | None = None  # bundle model repo; None keeps the Space on its built-in sample
    revision: str | None = None  # commit sha (pinned) or branch/tag; None = main
    space_yaml: str | None = None  # None = <source>/space.yaml
    source: str = field(default_factory=default_source)  # checkout holding app.py, jewelrec/, requirements.txt
    private: bool = False
    token: str | None = None  # None = HF_TOKEN / `hf auth login`


def read_space_settings(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """space.yaml → (README front matter, Space variables)."""
    if not path.is_file():
        raise ValueError(f"{path} not found; it holds the Space settings (title, sdk, sdk_version, app_file, "
                         "...); pass --space-yaml FILE, or --source <repository root> (it holds space.yaml)")
    try:
        settings = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:  # one line: where, what, the fix
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"{path} is not valid YAML{where} ({problem}); fix that line (indentation, an unclosed "
                         "[ or quote) — it holds the Space settings: title, sdk, sdk_version, app_file …") from None
    if not isinstance(settings, dict):
        raise ValueError(f"{path} must be a YAML mapping of Space settings, got {type(settings).__name__}")
    raw_variables = settings.pop("variables", None) or {}
    if not isinstance(raw_variables, dict):
        raise ValueError(f"{path}: variables must be a mapping of Space variables (NAME: value), got "
                         f"{type(raw_variables).__name__} {raw_variables!r}")
    variables = {str(k): "" if v is None else str(v) for k, v in raw_variables.items()}
    unknown = sorted(set(settings) - SPACE_KEYS)
    if unknown:
        print(f"warning: {path} keys the Hub does not know, left out of the README: {unknown}", file=sys.stderr)
    front = {k: v for k, v in settings.items() if k in SPACE_KEYS}
    if front.get("sdk") != "gradio":
        raise ValueError(f"{path}: sdk is {front.get('sdk')!r}; this app is a Gradio Space (sdk: gradio)")
    return front, variables


def space_readme(front: dict[str, Any], repo: str | None, revision: str | None, commit: str | None) -> str:
    from jewelrec.serving.hub import hub_endpoint  # the Hub deployed to (HF_ENDPOINT), not always huggingface.co

    serves = (f"the bundle [{repo}]({hub_endpoint()}/{repo}) at revision `{revision or 'main'}`"
              + (f" (commit `{commit}`)" if commit else "")) if repo else "the built-in sample catalog"
    return (f"---\n{yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip()}\n---\n\n"
            f"# {front.get('title', 'jewelrec')}\n\n{front.get('short_description', '')}\n\n"
            f"This Space serves {serves}. Rate a few pieces of jewelry and it recommends more by visual style.\n"
            "Deployed with `python -m training.deploy_space`; change the bundle by setting the Space variables "
            "`JEWELREC_REPO` and `JEWELREC_REVISION`.\n")


def build_wheel(source: Path, out_dir: Path) -> Path:
    """``pip wheel`` the checkout at ``source`` (no dependencies, no network: the running setuptools).

    Built from a copy of what the wheel is made of (pyproject.toml, README.md, jewelrec/), so the build leaves
    nothing (``build/``, ``*.egg-info``) in the user's checkout."""
    if not (source / "pyproject.toml").is_file() or not (source / "jewelrec" / "__init__.py").is_file():
        raise ValueError(f"{source} is not a jewelrec checkout (no pyproject.toml / jewelrec/__init__.py); "
                         "pass --source <repository root>")
    tree = out_dir / "src"
    shutil.copytree(source / "jewelrec", tree / "jewelrec", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(source / name, tree / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out_dir), str(tree)], capture_output=True, text=True)
    wheels = sorted(out_dir.glob("jewelrec-*.whl"))
    if done.returncode != 0 or not wheels:
        raise ValueError(f"building the jewelrec wheel from {source} failed: {done.stderr.strip()[-500:]}")
    return wheels[-1]


DEPLOY_MANIFEST = ".jewelrec-deploy.json"  # in the Space: the files this deploy wrote, the only ones a later one removes
BUNDLE_VARIABLES = ("JEWELREC_REPO", "JEWELREC_REVISION")  # the Space variables a deploy sets from --repo/--revision
NOT_ON_A_SPACE = {"ray"}  # the [train] extra's Ray is for `training.fit --engine ray`, which a Space never runs


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def space_requirements(wheel: Path, lock: Path, extras: tuple[str, ...]) -> list[str]:
    """The wheel's core requirements plus ``extras``, at the versions ``lock`` (requirements.txt) pins."""
    with zipfile.ZipFile(wheel) as archive:
        meta_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(meta_name).decode())
    wanted = []
    for requirement in metadata.get_all("Requires-Dist") or []:
        spec, _, marker = requirement.partition(";")
        extra = re.search(r"extra\s*==\s*[\"']([^\"']+)", marker)
        if extra is None or extra.group(1) in extras:
            wanted.append(spec.strip())
    pins = {}
    for line in lock.read_text().splitlines() if lock.is_file() else []:
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            pins[_name(line)] = line
    lines, seen = [], set(NOT_ON_A_SPACE)
    for spec in wanted:
        name = _name(spec)
        if name not in seen:
            seen.add(name)
            lines.append(pins.get(name, spec))
    return lines


def stage_files(source: Path, staging: Path, *, with_training: bool) -> list[str]:
    """Lay out the Space in ``staging``: app.py, the wheel's package files, requirements.txt; returns paths."""
    if not (source / "app.py").is_file():
        raise ValueError(f"{source} is not a jewelrec checkout (missing app.py); pass --source <repository root>")
    with tempfile.TemporaryDirectory(prefix="jewelrec-wheel-") as tmp:
        wheel = build_wheel(source, Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            package = [n for n in archive.namelist() if n.startswith("jewelrec/") and not n.endswith("/")]
            archive.extractall(staging, members=package)
        extras = ("space", "train") if with_training else ("space",)
        requirements = space_requirements(wheel, source / "requirements.txt", extras)
    shutil.copy2(source / "app.py", staging / "app.py")
    (staging / "requirements.txt").write_text(
        f"# generated by jewelrec.space.deploy: jewelrec's core + [{','.join(extras)}] requirements, pinned as in "
        "the checkout's requirements.txt\n" + "\n".join(requirements) + "\n")
    return ["app.py", "requirements.txt", *sorted(package)]


def deploy(config: DeployConfig) -> dict[str, Any]:
    """Do the deploy; returns {"space_url", "commit_url", "files", "variables", "removed_variables",
    "bundle_commit", "removed_files", "private_bundle"} (``removed_variables``: bundle settings an earlier deploy
    left that this one does not make; ``removed_files``: files an earlier deploy wrote that this one does not;
    ``private_bundle``: the bundle repo is private, so the Space needs an ``HF_TOKEN`` secret to read it)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from jewelrec.serving.hub import check_repo_id, check_write_access, hub_endpoint, hub_failure

    source = Path(config.source).expanduser()
    check_source(source)
    yaml_path = Path(config.space_yaml) if config.space_yaml else source / "space.yaml"
    front, variables = read_space_settings(yaml_path)
    config = _bundle_from_variables(config, variables, yaml_path)
    if config.repo:
        check_repo_id(config.repo, flag="--repo")
    check_write_access(config.space_id, token=config.token, flag="--space-id")
    api = HfApi(endpoint=hub_endpoint(), token=config.token)
    try:
        bundle_commit, info, files, variables, removed, stale, private_bundle = _publish(
            api, config, source, front, variables)
    except (HfHubHTTPError, httpx2.HTTPError) as err:  # the Hub went away or refused after the checks
        raise ValueError(f"deploying {config.space_id} failed ({hub_failure(err)}); nothing local was changed — run "
                         "the same command again once the Hub answers") from None
    return {"space_url": f"{hub_endpoint()}/spaces/{config.space_id}", "commit_url": info.commit_url,
            "files": files, "variables": variables, "removed_variables": removed, "bundle_commit": bundle_commit,
            "removed_files": stale, "private_bundle": private_bundle, "bundle_repo": config.repo}


def _bundle_from_variables(config: DeployConfig, variables: dict[str, str], path: Path) -> DeployConfig:
    """space.yaml's ``JEWELREC_REPO`` / ``JEWELREC_REVISION`` are the bundle settings ``--repo`` / ``--revision``
    make: taken as those (so they get the same checks, and the README says what the Space serves) unless the
    command line gives them; set both ways to different values is refused."""
    from dataclasses import replace

    chosen = {}
    for key, name in (("JEWELREC_REPO", "repo"), ("JEWELREC_REVISION", "revision")):
        value, flag = variables.pop(key, "").strip(), f"--{name}"
        given = getattr(config, name)
        if value and given and value != given:
            raise ValueError(f"{path} sets {key}: {value!r} but {flag} is {given!r}; give the bundle one way — "
                             f"drop {key} from the variables, or {flag}")
        chosen[name] = given or value or None
    if chosen["revision"] and not chosen["repo"]:
        raise ValueError(f"a bundle revision ({chosen['revision']!r}) needs its repo: set --repo user/name or "
                         f"JEWELREC_REPO in {path}")
    return replace(config, **chosen)


def deployed_files(api: Any, space_id: str, remote: set[str]) -> set[str]:
    """The Space's files an earlier deploy wrote: those its :data:`DEPLOY_MANIFEST` lists; a Space deployed before
    there was one gets the modules a deploy ever wrote (``*.py`` under ``jewelrec/`` and ``training/``, and
    ``training/configs/*.yaml``) — never a file of the Space owner's own (notes, assets) beside them."""
    if DEPLOY_MANIFEST in remote:
        try:
            listed = json.loads(Path(api.hf_hub_download(space_id, DEPLOY_MANIFEST, repo_type="space")).read_text())
            return {str(f) for f in listed["files"]}
        except (OSError, ValueError, KeyError, TypeError):  # unreadable: judged as an older Space is
            pass
    return {f for f in remote if (f.startswith(("jewelrec/", "training/")) and f.endswith(".py"))
            or (f.startswith("training/configs/") and f.endswith(".yaml"))}


def _publish(api: Any, config: DeployConfig, source: Path, front: dict[str, Any], variables: dict[str, str]
             ) -> tuple[str | None, Any, list[str], dict[str, str], list[str], list[str], bool]:
    """The Hub side of :func:`deploy`: (bundle commit, CommitInfo, files, variables set, variables removed, files
    removed, whether the bundle repo is private)."""
    from jewelrec.serving.hub import hub_endpoint

    bundle_commit, private_bundle = None, False
    if config.repo:  # fail here, not in the Space, when the bundle revision does not exist
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

        from jewelrec.serving.hub import check_remote_bundle

        try:
            bundle_info = api.repo_info(config.repo, revision=config.revision, repo_type="model")
            bundle_commit, private_bundle = bundle_info.sha, bool(bundle_info.private)
        except (RepositoryNotFoundError, RevisionNotFoundError):
            raise ValueError(f"bundle {config.repo}@{config.revision or 'main'} not found on {hub_endpoint()}; "
                             "push one with `python -m training.fit ... --push --repo-id` first") from None
        check_remote_bundle(api, config.repo, bundle_commit)  # what the Space's pull would refuse at its start
        variables["JEWELREC_REPO"] = config.repo
        variables["JEWELREC_REVISION"] = config.revision or ""
    url = api.create_repo(config.space_id, repo_type="space", space_sdk="gradio", private=config.private,
                          exist_ok=True)
    if config.private and not api.repo_info(config.space_id, repo_type="space").private:
        raise ValueError(f"Space {config.space_id!r} already exists and is public; --private does not change an "
                         f"existing Space: make it private in its settings ({url}/settings) first, or deploy "
                         "without --private")
    remote = set(api.list_repo_files(config.space_id, repo_type="space"))
    with tempfile.TemporaryDirectory(prefix="jewelrec-space-") as tmp:
        staging = Path(tmp)
        files = stage_files(source, staging, with_training=not config.repo)
        (staging / "README.md").write_text(space_readme(front, config.repo, config.revision, bundle_commit))
        files += ["README.md", DEPLOY_MANIFEST]
        (staging / DEPLOY_MANIFEST).write_text(json.dumps({"files": sorted(files)}, indent=1) + "\n")
        # modules an earlier deploy wrote that this one does not (removed since, older layouts); nothing else
        stale_files = sorted((deployed_files(api, config.space_id, remote) & remote) - set(files))
        info = api.upload_folder(repo_id=config.space_id, repo_type="space", folder_path=staging,
                                 commit_message=f"deploy jewelrec Space ({config.repo or 'sample'}@"
                                                f"{config.revision or 'main'})",
                                 delete_patterns=[glob.escape(f) for f in stale_files] or None)
    variables = {k: v for k, v in variables.items() if v}  # empty = use the app's default; not sent
    for key, value in variables.items():
        api.add_space_variable(config.space_id, key, value)
    # a bundle setting this deploy does not make must not linger from an earlier one: a pinned JEWELREC_REVISION
    # left behind would keep serving the old commit after `--repo R` (meaning main), a JEWELREC_REPO the old bundle
    # after a deploy without --repo (meaning the sample)
    stale = [key for key in BUNDLE_VARIABLES if key not in variables]
    removed = sorted(set(stale) & set(api.get_space_variables(config.space_id))) if stale else []
    for key in removed:
        api.delete_space_variable(config.space_id, key)
    return bundle_commit, info, files, variables, removed, stale_files, private_bundle
