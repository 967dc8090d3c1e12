"""``python -m training.deploy_space`` / ``jewelrec-deploy-space``: publish the Space, pointed at a bundle.

    python -m training.deploy_space --space-id user/jewelrec-space --repo user/jewelrec --revision <sha>

See :mod:`jewelrec.space.deploy` for what is uploaded and why.
"""

from __future__ import annotations

import argparse
import sys

from jewelrec.cli.arguments import command_name
from jewelrec.extras import reported
from jewelrec.space.deploy import DeployConfig


def parse_config(argv: list[str] | None = None) -> DeployConfig:
    d = DeployConfig(space_id="")
    p = argparse.ArgumentParser(prog=command_name("deploy_space"), description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--space-id", required=True, help="Space to create/update, e.g. user/jewelrec-space")
    p.add_argument("--repo", default=d.repo, help="bundle model repo the Space serves (JEWELREC_REPO)")
    p.add_argument("--revision", default=d.revision, help="commit sha (pinned) or branch of --repo")
    p.add_argument("--space-yaml", default=d.space_yaml, help="Space settings file (default: <source>/space.yaml)")
    p.add_argument("--source", default=d.source, help="checkout whose package (as its wheel), app.py and pinned requirements.txt are uploaded")
    p.add_argument("--private", action="store_true", help="create the Space private")
    args = p.parse_args(argv)
    if args.revision and not args.repo:
        p.error("--revision needs --repo user/name (the bundle repo it is a revision of)")
    return DeployConfig(space_id=args.space_id, repo=args.repo, revision=args.revision,
                        space_yaml=args.space_yaml, source=args.source, private=args.private)


@reported
def main(argv: list[str] | None = None) -> int:
    config = parse_config(argv)
    from jewelrec.space.deploy import deploy

    try:
        result = deploy(config)
    except ValueError as err:  # includes jewelrec.serving.hub.HubError: no token, no access, bad settings
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"deployed {len(result['files'])} files: {result['commit_url']}")
    for key, value in result["variables"].items():
        print(f"  variable {key}={value!r}")
    for key in result.get("removed_variables", []):
        serves = "the sample catalog" if key == "JEWELREC_REPO" else "the repo's main branch"
        print(f"  variable {key} removed (left from an earlier deploy or set by hand; this deploy does not set it, "
              f"so the Space now serves {serves})")
    for path in result.get("removed_files", []):
        print(f"  removed {path} (an earlier deploy wrote it; this one does not)")
    if result.get("private_bundle"):
        repo = result["bundle_repo"]
        print(f"warning: the bundle repo {repo} is private, and the Space reads it with its own token: add "
              f"a secret HF_TOKEN (a read token with access to {repo}) in the Space's settings "
              f"({result['space_url']}/settings), or it cannot start; a public Space then shows that private "
              "bundle to everyone (deploy with --private to keep it to your organisation)", file=sys.stderr)
    print(result["space_url"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
