"""Hugging Face Hub round trip: publish a bundle as a model repo, pull a pinned revision back.

The bundle directory is the unit that moves (see :mod:`jewelrec.serving.bundle`): :func:`push` uploads it in one
commit with a model card, :func:`pull` downloads exactly the files a bundle may hold with
``snapshot_download`` and hands them to :meth:`Bundle.load`, which re-hashes every file against the
manifest (huggingface_hub does not), so a corrupted cache or a foreign file (``.pkl``, ``.bin``) is refused.

The endpoint is the standard one: ``$HF_ENDPOINT`` (read at call time) or huggingface_hub's default.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, constants, get_token, snapshot_download
from huggingface_hub.errors import (
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import CommitInfo, RepoFile
from huggingface_hub.utils import validate_repo_id

from jewelrec.serving.bundle import (
    ALLOWED_PATTERNS,
    CONFIG_NAME,
    REQUIRED,
    Bundle,
    BundleChanged,
    BundleError,
    BundleFilesError,
    is_allowed,
)
from jewelrec.serving.bundle_files import list_files
from jewelrec.serving.card import render_card

log = logging.getLogger(__name__)
CARD_NAME = "README.md"  # the model card: rendered from config.json at every push, never read from the folder
COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")


class HubError(ValueError):
    """A Hub operation that cannot go ahead; the message says what to do."""


def hub_endpoint(endpoint: str | None = None) -> str:
    """``endpoint`` or ``$HF_ENDPOINT`` (read now, not at import) or huggingface_hub's default."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def offline_mode() -> bool:
    """``HF_HUB_OFFLINE`` as huggingface_hub saw it at import, or as the environment says now."""
    return constants.is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}


CONNECT_TIMEOUT_S = 10.0  # a Hub that does not accept the connection in 10 s is down for our purposes
READ_TIMEOUT_S = 30.0  # … or one that accepts and then says nothing for half a minute (uploads' writes are not capped)
_timeouts_installed = False


def _install_timeouts() -> None:
    """Give huggingface_hub's shared HTTP client connect/read timeouts (its default client has none, so a Hub
    that accepts the connection and never answers would block ``pull`` — and the Space's start — forever)."""
    global _timeouts_installed
    if _timeouts_installed:
        return
    from huggingface_hub.utils import set_client_factory
    from huggingface_hub.utils._http import default_client_factory

    def client_with_timeouts() -> httpx2.Client:
        client = default_client_factory()
        client.timeout = httpx2.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S, write=None,
                                        pool=CONNECT_TIMEOUT_S)
        return client

    set_client_factory(client_with_timeouts)
    _timeouts_installed = True


def _api(token: str | None, endpoint: str | None) -> HfApi:
    _install_timeouts()
    return HfApi(endpoint=hub_endpoint(endpoint), token=token)


def hub_failure(err: Exception) -> str:
    """One line on why a Hub call failed: the HTTP status it answered, else the error's first line."""
    status = getattr(getattr(err, "response", None), "status_code", None)
    return f"the Hub answered {status}" if status else f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"


def hub_outage(err: HfHubHTTPError) -> bool:
    """The Hub is down or busy (5xx, 429 Too Many Requests, no answer): a cached copy may stand in; any other
    status is an answer about the request itself (not found, forbidden) and is raised."""
    status = err.response.status_code if err.response is not None else None
    return status is None or status >= 500 or status == 429


def check_repo_id(repo_id: str, *, flag: str = "--repo-id") -> None:
    """Refuse a repo id the Hub would refuse (``user/name``; letters, digits, ``-``, ``_``, ``.``; at most 96
    characters; no ``--`` or ``..``), before any work is done or anything is sent."""
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise HubError(f"repo id {repo_id!r} must look like 'user/name' ({flag} user/name)")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise HubError(f"repo id {repo_id!r} is not one the Hub accepts ({err}); pass {flag} user/name with "
                       "letters, digits, '-', '_' or '.' only") from None


_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")  # git-check-ref-format rules 3–5, 8, 10


def check_branch(branch: str | None, *, flag: str = "--branch") -> None:
    """Refuse a branch name that git, and so the Hub, would refuse (the rules of ``git check-ref-format
    --branch``), or one of the Hub's own ``refs/`` names, before any work is done or anything is sent.
    ``None`` (the repo's default branch) passes."""
    if branch is None:
        return
    fix = f"pass {flag} with a plain name such as 'staging' or 'v2' (letters, digits, '-', '_', '.', '/')"
    parts = branch.split("/") if isinstance(branch, str) else [""]
    if (not isinstance(branch, str) or not branch or branch == "@" or branch.startswith("-")
            or _REF_FORBIDDEN.search(branch) or branch.endswith(".") or "" in parts
            or any(p.startswith(".") or p.endswith(".lock") for p in parts)):
        raise HubError(f"branch {branch!r} is not a name git accepts (no spaces, '..', '~^:?*[\\', '@{{', "
                       f"empty or dot-led parts, '.lock' endings, a leading '-'); {fix}")
    if branch == "HEAD":  # git takes it for the current commit, not a branch: the push made a branch named HEAD
        raise HubError(f"branch 'HEAD' names the current commit in git, not a branch; {fix}")
    if branch.startswith("refs/"):
        raise HubError(f"branch {branch!r} names one of the Hub's own refs (pull requests, conversions), which a "
                       f"push does not create; {fix}")


def check_write_access(repo_id: str, *, token: str | None = None, endpoint: str | None = None,
                       flag: str = "--repo-id") -> str:
    """Fail now, with the fix in the message, if ``repo_id`` cannot be pushed to. Returns the user name.

    Checks: a token is available (argument, ``$HF_TOKEN`` or ``hf auth login``), the Hub accepts it, it is not
    read-only, and the repo's namespace is the user or one of their organisations. ``flag``: the option that
    gave ``repo_id``, named in the messages.
    """
    check_repo_id(repo_id, flag=flag)
    token = token or get_token()
    if not token:
        raise HubError(f"no Hugging Face token found, so nothing can be pushed to {repo_id!r}: run "
                       "`hf auth login` or set HF_TOKEN to a token with write access "
                       "(https://huggingface.co/settings/tokens)")
    if offline_mode():  # huggingface_hub would raise OfflineModeIsEnabled from inside whoami: a traceback
        raise HubError(f"HF_HUB_OFFLINE is set, so nothing can be pushed to {repo_id!r}: unset it to push, or run "
                       "without --push (nothing was sent)")
    try:
        me = _api(token, endpoint).whoami(token=token)
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        if hub_outage(err):  # the Hub is down or busy: the token is not the problem
            raise HubError(f"the Hub at {hub_endpoint(endpoint)} answered {status or 'nothing usable'} when asked "
                           "who the token belongs to; try again later (nothing was sent)") from None
        raise HubError(f"the Hub rejected the token ({status}): create a new write token at "
                       "https://huggingface.co/settings/tokens and set HF_TOKEN") from None
    except httpx2.TransportError as err:  # refused, timed out, or the connection dropped without an answer
        raise HubError(f"cannot reach the Hub at {hub_endpoint(endpoint)} ({type(err).__name__}: {err}); check "
                       "the network or HF_ENDPOINT (nothing was sent)") from None
    except json.JSONDecodeError:  # a proxy's login page, a wrong HF_ENDPOINT: a web page, not the Hub's API
        raise HubError(f"{hub_endpoint(endpoint)} did not answer as the Hub's API does (not JSON); check "
                       "HF_ENDPOINT or the proxy (nothing was sent)") from None
    access = (me.get("auth") or {}).get("accessToken") or {}
    if access.get("role") == "read":
        raise HubError(f"the token of {me.get('name')!r} is read-only; pushing to {repo_id!r} needs a token "
                       "with write access (https://huggingface.co/settings/tokens)")
    namespace = repo_id.split("/")[0]
    orgs = {org.get("name") for org in me.get("orgs") or []}
    if namespace != me.get("name") and namespace not in orgs:
        raise HubError(f"{me.get('name')!r} cannot write to namespace {namespace!r} (orgs: {sorted(orgs)}); "
                       f"use {flag} {me.get('name')}/{repo_id.split('/')[1]}")
    return str(me.get("name"))


def push_bundle(bundle_dir: str | Path, repo_id: str, *, private: bool = False, token: str | None = None,
                commit_message: str | None = None, branch: str | None = None,
                endpoint: str | None = None) -> CommitInfo:
    """Upload a bundle directory to a model repo in one commit; returns huggingface_hub's ``CommitInfo``.

    The bundle is verified first (a corrupt or foreign file never leaves the machine); the model card is rendered
    from config.json and sent from memory, so the folder is only read — a read-only bundle, or a snapshot in the
    Hub cache (whose files are links into shared blobs), pushes as it is. Files the revision had and this bundle
    lacks are deleted in the same commit — but only bundle files: a repo holding anything a bundle may not hold
    (another project's files) is refused, not emptied. ``private`` makes a new repo private; an existing public
    repo is refused rather than published to while the caller believes it private.
    """
    bundle_dir = Path(bundle_dir)
    bundle = Bundle.load(bundle_dir)  # verify the manifest before anything is created remotely
    check_repo_id(repo_id)  # a repo id or branch to fix is not a push to retry: no "push it again" line for it
    check_branch(branch)
    again = shlex.join(["jewelrec-push", "--bundle", str(bundle_dir), "--repo-id", repo_id,
                        *(["--branch", branch] if branch else []), *(["--private"] if private else []),
                        *(["--message", commit_message] if commit_message else [])])
    kept = f"the bundle at {bundle_dir} is complete and kept — push it again once that is fixed: {again}"
    clustering = bundle.config.get("clustering")
    method = clustering.get("method", "n/a") if isinstance(clustering, dict) else "n/a"
    message = commit_message or f"jewelrec bundle: {bundle.n_items} items, {bundle.n_clusters} styles ({method})"
    files = [path for path in list_files(bundle_dir) if is_allowed(path) and path != CARD_NAME]
    try:
        check_write_access(repo_id, token=token, endpoint=endpoint)
        token = token or get_token()
        card = render_card(bundle.config, repo_id=repo_id,
                           revision=branch if branch and branch != constants.DEFAULT_REVISION else None).encode()
        api = _api(token, endpoint)
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if private and not api.repo_info(repo_id, repo_type="model").private:
            raise HubError(f"{repo_id!r} already exists and is public; --private does not change an existing "
                           f"repo: make it private in its settings ({url}/settings) first, or push without "
                           "--private to publish there")
        if branch and branch != constants.DEFAULT_REVISION:
            api.create_branch(repo_id, branch=branch, exist_ok=True)
        remote = repo_files(api, repo_id, branch)
        foreign = [path for path in remote if not is_allowed(path)]
        if foreign:
            raise HubError(f"{repo_id}{'@' + branch if branch else ''} holds files that are not a jewelrec bundle's "
                           f"({foreign[:5]}{' …' if len(foreign) > 5 else ''}), which this push would delete; push "
                           "to a repo of its own (another --repo-id), or remove them from the repo first")
        operations = [CommitOperationAdd(path, str(bundle_dir / path)) for path in files]
        operations.append(CommitOperationAdd(CARD_NAME, card))
        keep = {*files, CARD_NAME, ".gitattributes"}
        operations += [CommitOperationDelete(path) for path in remote if path not in keep]
        return api.create_commit(repo_id, operations, commit_message=message, revision=branch, repo_type="model")
    except HubError as err:  # no token, no access, Hub down: after a fit or an update the bundle is already written
        raise HubError(f"{err}; {kept}") from None
    except (HfHubHTTPError, httpx2.HTTPError, HFValidationError, json.JSONDecodeError) as err:  # refused mid-push
        raise HubError(f"pushing {bundle_dir} to {repo_id} failed ({hub_failure(err)}); {kept}") from None
    except RuntimeError as err:  # huggingface_hub's "Error while uploading '<file>' to the Hub", the cause chained
        if not str(err).startswith("Error while uploading"):
            raise  # a RuntimeError of another making is a bug to see, not a push to retry
        raise HubError(f"pushing {bundle_dir} to {repo_id} failed ({str(err).splitlines()[0][:200]} "
                       f"{hub_failure(err.__cause__ or err)}); {kept}") from None
    except OSError as err:  # local (after the Hub's: HfHubHTTPError is an OSError): an unreadable file
        raise HubError(f"pushing {bundle_dir} to {repo_id} failed on this machine ({err}); {kept}") from None


def holds_bundle(bundle_dir: str | Path, repo_id: str, *, branch: str | None = None, token: str | None = None,
                 endpoint: str | None = None) -> bool:
    """Whether ``repo_id`` (at ``branch``, default main) already holds this bundle: its config.json — which names
    every file's SHA-256 — is byte for byte the local one. False for a repo, branch or file the Hub does not have."""
    from huggingface_hub.errors import EntryNotFoundError

    try:
        remote = _api(token or get_token(), endpoint).hf_hub_download(
            repo_id, CONFIG_NAME, revision=branch, repo_type="model")
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError):
        return False
    return Path(remote).read_bytes() == (Path(bundle_dir) / CONFIG_NAME).read_bytes()


def push(bundle_dir: str | Path, repo_id: str, *, private: bool = False, token: str | None = None,
         commit_message: str | None = None, branch: str | None = None, endpoint: str | None = None) -> str:
    """Publish ``bundle_dir`` to ``repo_id``; returns the commit URL, which ends with the commit sha.

    Use :func:`push_bundle` for the ``CommitInfo`` (``.oid`` is the sha). Raises :class:`HubError` with the
    fix when there is no token or no write access, before anything is uploaded; the local bundle stays.
    """
    return push_bundle(bundle_dir, repo_id, private=private, token=token, commit_message=commit_message,
                       branch=branch, endpoint=endpoint).commit_url


def repo_files(api: HfApi, repo_id: str, revision: str | None) -> list[str]:
    """Every file path of the model repo ``repo_id`` at ``revision`` (None: main), folders left out."""
    return [f.path for f in api.list_repo_tree(repo_id, revision=revision, recursive=True, repo_type="model")
            if isinstance(f, RepoFile)]


def check_tree(repo_id: str, commit: str, remote: list[str]) -> None:
    """Refuse a revision whose files (``remote``) are not a complete jewelrec bundle, before any download."""
    unknown = [path for path in remote if not is_allowed(path)]
    if unknown:
        raise BundleError(f"{repo_id}@{commit[:12]} holds files a jewelrec bundle may not hold: "
                          f"{unknown}; refusing to download or load it (remove them from the repo)")
    missing = [name for name in (CONFIG_NAME, *REQUIRED) if name not in remote]
    if missing:  # an empty repo, a half-deleted bundle, another kind of model: say so by its name
        raise BundleError(f"{repo_id}@{commit[:12]} is not a complete jewelrec bundle: it lacks {missing}; "
                          f"push one there (`python -m training.fit ... --push --repo-id {repo_id}`) or "
                          "pick a revision that holds one")


def _bad_on_hub(repo_id: str, commit: str, err: BundleChanged | BundleFilesError,
                revision: str = constants.DEFAULT_REVISION) -> BundleError:
    """The error for a revision whose files on the Hub are not the bundle its manifest describes: re-fetching
    cannot help (the message of :meth:`Bundle.load` alone pointed at the cache), pushing the bundle again does."""
    kind = BundleChanged if isinstance(err, BundleChanged) else BundleFilesError
    args = (err.files,) if isinstance(err, BundleChanged) else ()
    branch = f" --branch {revision}" if revision not in (constants.DEFAULT_REVISION, commit) else ""
    return kind(f"{repo_id}@{commit[:12]} on the Hub is not the bundle its own config.json describes ({err}); "
                "downloading it again gives the same files — push the bundle again (jewelrec-push --bundle <dir> "
                f"--repo-id {repo_id}{branch}) or pull an earlier revision", *args)


def check_remote_bundle(api: HfApi, repo_id: str, commit: str) -> None:
    """:func:`check_tree` on ``repo_id@commit`` as the Hub lists it (the deploy's check of the bundle it points a
    Space at: what :func:`pull` would refuse when the Space starts)."""
    check_tree(repo_id, commit, repo_files(api, repo_id, commit))


def pull(repo_id: str, revision: str | None = None, *, token: str | None = None,
         cache_dir: str | Path | None = None, endpoint: str | None = None) -> tuple[Bundle, dict[str, Any]]:
    """Download and load a bundle from the Hub; returns ``(bundle, origin)``.

    ``origin`` = ``{"repo_id", "revision", "commit", "offline", "notice"}``: ``revision`` as asked (default
    ``main``), ``commit`` the sha it resolved to, ``offline`` True when the Hub could not be asked (unreachable
    or ``HF_HUB_OFFLINE``) and a cached snapshot is served instead, with ``notice`` saying so for the UI.
    Repos holding any file a bundle may not hold are refused before anything is downloaded.
    """
    revision = revision or constants.DEFAULT_REVISION
    api = _api(token, endpoint)
    kwargs = dict(repo_id=repo_id, repo_type="model", cache_dir=str(cache_dir) if cache_dir else None,
                  token=token, endpoint=hub_endpoint(endpoint))
    notice: str | None = None
    commit: str | None = None
    reason: str | None = None
    if offline_mode():
        reason = "HF_HUB_OFFLINE is set"
    else:
        try:
            commit = api.repo_info(repo_id, revision=revision, repo_type="model", timeout=READ_TIMEOUT_S).sha
            remote = repo_files(api, repo_id, commit)
        except RevisionNotFoundError:
            raise HubError(f"{repo_id!r} has no revision {revision!r}; use a branch name, tag or commit sha "
                           f"listed at {hub_endpoint(endpoint)}/{repo_id}/commits/main") from None
        except RepositoryNotFoundError:
            raise HubError(f"model repo {repo_id!r} was not found at {hub_endpoint(endpoint)} (or it is private "
                           "and no token with access was given: set HF_TOKEN)") from None
        except (httpx2.TransportError, OfflineModeIsEnabled) as err:  # refused, timed out, dropped
            reason = f"the Hub at {hub_endpoint(endpoint)} is unreachable ({type(err).__name__})"
        except json.JSONDecodeError:
            reason = f"{hub_endpoint(endpoint)} did not answer as the Hub's API does (not JSON; check HF_ENDPOINT)"
        except HfHubHTTPError as err:
            if not hub_outage(err):
                raise
            reason = f"the Hub answered {err.response.status_code if err.response is not None else 'nothing usable'}"
        else:
            check_tree(repo_id, commit, remote)
    if reason is None:
        try:
            folder = snapshot_download(revision=commit, allow_patterns=list(ALLOWED_PATTERNS), **kwargs)
        except HfHubHTTPError as err:
            if not hub_outage(err):
                raise
            reason = f"the Hub answered {err.response.status_code if err.response is not None else '?'} during the download"
        except (httpx2.HTTPError, OfflineModeIsEnabled, OSError) as err:  # the Hub went away mid-download
            reason = f"the download from {hub_endpoint(endpoint)} broke off ({type(err).__name__})"
        else:
            if revision != commit:  # remember what the branch/tag pointed at, for offline use (as hf_hub_download does)
                ref = Path(folder).parents[1] / "refs" / revision
                ref.parent.mkdir(parents=True, exist_ok=True)
                ref.write_text(commit)
    if reason is not None:  # serve what the cache holds for this revision (a branch: where it pointed last time)
        try:
            folder = snapshot_download(revision=revision, local_files_only=True, **kwargs)
        except LocalEntryNotFoundError:
            fix = "unset HF_HUB_OFFLINE and connect to the Hub once" if offline_mode() else "connect to the Hub once"
            raise HubError(f"cannot fetch {repo_id}@{revision}: {reason}, and no copy of that revision is "
                           f"cached; {fix} to download it") from None
        commit = Path(folder).name
        notice = (f"Offline: {reason}; serving the cached copy of {repo_id}@{revision} "
                  f"(commit {commit[:12]}), which may not be the latest.")
    try:
        bundle = Bundle.load(folder)
    except BundleChanged as err:  # the cached blobs are damaged: a new snapshot would link the same blobs again
        cache = Path(folder).parents[1]  # .../models--user--name: its blobs/ are what the snapshot's files link to
        if reason is not None:
            raise BundleChanged(f"the cached copy of {repo_id}@{revision} is damaged ({err.files} differ from the "
                                f"bundle's SHA-256) and the Hub cannot be asked for a fresh one ({reason}); delete "
                                f"{cache} (deleting the snapshot alone is not enough: a new one links the same "
                                "damaged blobs) and fetch it again once the Hub answers", err.files) from None
        log.warning("the cached copy of %s@%s did not match its manifest (%s); downloading it again into %s",
                    repo_id, revision, err.files, cache)
        folder = snapshot_download(revision=commit, allow_patterns=list(ALLOWED_PATTERNS), force_download=True,
                                   **kwargs)
        try:
            bundle = Bundle.load(folder)
        except (BundleChanged, BundleFilesError) as again:  # fetched afresh, every file: the Hub's copy is bad
            raise _bad_on_hub(repo_id, commit, again, revision) from None
    except BundleFilesError as err:
        if reason is not None:  # the cache, as it was kept: its own message says what to delete
            raise
        raise _bad_on_hub(repo_id, commit, err, revision) from None  # a file missing or extra in what the Hub listed and sent
    return bundle, {"repo_id": repo_id, "revision": revision, "commit": commit, "offline": reason is not None,
                    "notice": notice}
