"""``python -m training.push`` / ``jewelrec-push``: publish a bundle already on disk to the Hub, as one commit.

    python -m training.push --bundle artifacts --repo-id you/jewelrec [--branch staging] [--private]

What ``training.fit --push`` and ``training.update --push`` do after writing, on its own: for a bundle whose push
failed (the Hub was down, the token expired) or one built elsewhere. The bundle is verified before anything is sent.
"""

from __future__ import annotations

import argparse
import sys

from jewelrec.cli.arguments import command_name
from jewelrec.extras import reported


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=command_name("push"), description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--bundle", required=True, help="the bundle directory (written by training.fit or training.update)")
    p.add_argument("--repo-id", required=True, help="Hub model repo to publish to, e.g. user/jewelrec")
    p.add_argument("--branch", default=None, help="Hub branch to push to (made when missing; default: main)")
    p.add_argument("--private", action="store_true", help="create the Hub repo private")
    p.add_argument("--message", default=None, help="commit message (default: items, styles and method)")
    return p


@reported
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from jewelrec.serving.bundle import BundleError
    from jewelrec.serving.hub import HubError, push

    try:
        url = push(args.bundle, args.repo_id, private=args.private, branch=args.branch, commit_message=args.message)
    except (HubError, BundleError) as err:  # no token or access, Hub down, not a bundle: the fix, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"pushed  {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
