"""Create or update the jewelrec Gradio Space in one commit, pointed at a bundle repo and revision.

    python -m training.deploy_space --space-id user/jewelrec-space --repo user/jewelrec --revision <sha>

Uploads app.py, jewelrec/ (Python sources only), requirements.txt, training/__init__.py + training/fit.py
(the Space builds the built-in sample with them when no bundle repo is set) and a README.md whose front matter is
space.yaml (minus its ``variables`` block), then sets the Space variables: space.yaml's ``variables``, with
``JEWELREC_REPO`` / ``JEWELREC_REVISION`` taken from ``--repo`` / ``--revision``. The bundle revision is
checked on the Hub first, so a typo fails here and not in the running Space. Prints the Space URL.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
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
    source: str = str(ROOT)  # checkout holding app.py, jewelrec/, requirements.txt
    private: bool = False
    token: str | None = None  # None = HF_TOKEN / `hf auth login`


def parse_config(argv: list[str] | None = None) -> DeployConfig:
    d = DeployConfig(space_id="")
    p = argparse.ArgumentParser(prog="python -m training.deploy_space", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--space-id", required=True, help="Space to create/update, e.g. user/jewelrec-space")
    p.add_argument("--repo", default=d.repo, help="bundle model repo the Space serves (JEWELREC_REPO)")
    p.add_argument("--revision", default=d.revision, help="commit sha (pinned) or branch of --repo")
    p.add_argument("--space-yaml", default=d.space_yaml, help="Space settings file (default: <source>/space.yaml)")
    p.add_argument("--source", default=d.source, help="checkout to upload app.py, jewelrec/, requirements.txt from")
    p.add_argument("--private", action="store_true", help="create the Space private")
    args = p.parse_args(argv)
    if args.revision and not args.repo:
        p.error("--revision needs --repo user/name (the bundle repo it is a revision of)")
    return DeployConfig(space_id=args.space_id, repo=args.repo, revision=args.revision,
                        space_yaml=args.space_yaml, source=args.source, private=args.private)


def read_space_settings(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """space.yaml → (README front matter, Space variables)."""
    if not path.is_file():
        raise ValueError(f"{path} not found; it holds the Space settings (title, sdk, sdk_version, app_file, "
                         "...); pass --space-yaml or run from the repository root")
    settings = yaml.safe_load(path.read_text()) or {}
    if not isinstance(settings, dict):
        raise ValueError(f"{path} must be a YAML mapping of Space settings, got {type(settings).__name__}")
    variables = {str(k): "" if v is None else str(v) for k, v in (settings.pop("variables", None) or {}).items()}
    unknown = sorted(set(settings) - SPACE_KEYS)
    if unknown:
        print(f"warning: {path} keys the Hub does not know, left out of the README: {unknown}", file=sys.stderr)
    front = {k: v for k, v in settings.items() if k in SPACE_KEYS}
    if front.get("sdk") != "gradio":
        raise ValueError(f"{path}: sdk is {front.get('sdk')!r}; this app is a Gradio Space (sdk: gradio)")
    return front, variables


def space_readme(front: dict[str, Any], repo: str | None, revision: str | None, commit: str | None) -> str:
    serves = (f"the bundle [{repo}](https://huggingface.co/{repo}) at revision `{revision or 'main'}`"
              + (f" (commit `{commit}`)" if commit else "")) if repo else "the built-in sample catalog"
    return (f"---\n{yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip()}\n---\n\n"
            f"# {front.get('title', 'jewelrec')}\n\n{front.get('short_description', '')}\n\n"
            f"This Space serves {serves}. Rate a few pieces of jewelry and it recommends more by visual style.\n"
            "Deployed with `python -m training.deploy_space`; change the bundle by setting the Space variables "
            "`JEWELREC_REPO` and `JEWELREC_REVISION`.\n")


def stage_files(source: Path, staging: Path) -> list[str]:
    """Copy app.py, requirements.txt, jewelrec/**/*.py and training.fit into ``staging``; returns relative paths.

    training.fit goes along because the Space builds the built-in sample with it when no repo is configured.
    """
    wanted = [source / "app.py", source / "requirements.txt", *sorted((source / "jewelrec").rglob("*.py")),
              source / "training" / "__init__.py", source / "training" / "fit.py"]
    missing = [str(p) for p in [*wanted[:2], *wanted[-2:]] if not p.is_file()]
    if missing or not (source / "jewelrec" / "__init__.py").is_file():
        raise ValueError(f"{source} is not a jewelrec checkout (missing {missing or ['jewelrec/__init__.py']}); "
                         "pass --source <repository root>")
    copied = []
    for path in wanted:
        rel = path.relative_to(source)
        if "__pycache__" in rel.parts:
            continue
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, staging / rel)
        copied.append(rel.as_posix())
    return copied


def deploy(config: DeployConfig) -> dict[str, Any]:
    """Do the deploy; returns {"space_url", "commit_url", "files", "variables", "bundle_commit"}."""
    from huggingface_hub import HfApi

    from jewelrec.hub import check_write_access, hub_endpoint

    source = Path(config.source)
    front, variables = read_space_settings(Path(config.space_yaml) if config.space_yaml else source / "space.yaml")
    check_write_access(config.space_id, token=config.token)
    api = HfApi(endpoint=hub_endpoint(), token=config.token)
    bundle_commit = None
    if config.repo:  # fail here, not in the Space, when the bundle revision does not exist
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

        try:
            bundle_commit = api.repo_info(config.repo, revision=config.revision, repo_type="model").sha
        except (RepositoryNotFoundError, RevisionNotFoundError):
            raise ValueError(f"bundle {config.repo}@{config.revision or 'main'} not found on {hub_endpoint()}; "
                             "push one with `python -m training.fit ... --push --repo-id` first") from None
        variables["JEWELREC_REPO"] = config.repo
        variables["JEWELREC_REVISION"] = config.revision or ""
    api.create_repo(config.space_id, repo_type="space", space_sdk="gradio", private=config.private, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jewelrec-space-") as tmp:
        staging = Path(tmp)
        files = stage_files(source, staging)
        (staging / "README.md").write_text(space_readme(front, config.repo, config.revision, bundle_commit))
        files.append("README.md")
        info = api.upload_folder(repo_id=config.space_id, repo_type="space", folder_path=staging,
                                 commit_message=f"deploy jewelrec Space ({config.repo or 'sample'}@"
                                                f"{config.revision or 'main'})",
                                 delete_patterns=["jewelrec/*", "training/*"])  # modules removed since last time
    variables = {k: v for k, v in variables.items() if v}  # empty = use the app's default; not sent
    for key, value in variables.items():
        api.add_space_variable(config.space_id, key, value)
    return {"space_url": f"{hub_endpoint()}/spaces/{config.space_id}", "commit_url": info.commit_url,
            "files": files, "variables": variables, "bundle_commit": bundle_commit}


def main(argv: list[str] | None = None) -> int:
    config = parse_config(argv)
    try:
        result = deploy(config)
    except ValueError as err:  # includes jewelrec.hub.HubError: no token, no access, bad settings
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"deployed {len(result['files'])} files: {result['commit_url']}")
    for key, value in result["variables"].items():
        print(f"  variable {key}={value!r}")
    print(result["space_url"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
