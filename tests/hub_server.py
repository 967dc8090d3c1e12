"""A local stand-in for the part of the Hugging Face Hub HTTP API that ``huggingface_hub`` 2.x calls.

Covers create_repo, create_branch, upload_folder (validate-yaml; preupload answers "lfs" for binary files —
safetensors, parquet, images — as the Hub does, which then take the LFS batch API and a basic-transfer PUT and
enter the NDJSON commit as ``lfsFile``; text files go inline as "regular"; Xet is never offered), whoami-v2, repo info by revision, recursive
tree listing, resolve (HEAD + GET with ``X-Repo-Commit`` / ``ETag`` / ``X-Linked-Etag``) and Space variables (set,
list, delete).
Files are stored per commit, so revisions are real: a commit sha keeps serving what it held.

Usage::

    server = HubServer(tokens={"tok-write": ("alice", "write")}).start()
    ... HF_ENDPOINT=server.url ...
    server.stop()
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

PREFIXES = {"models": "model", "datasets": "dataset", "spaces": "space"}


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


LFS_SUFFIXES = (".safetensors", ".parquet", ".png", ".jpg", ".jpeg", ".bin", ".faiss")  # binaries: LFS


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool = False
    sdk: str | None = None
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> {path: bytes}
    branches: dict[str, str] = field(default_factory=dict)  # branch -> sha
    variables: dict[str, dict[str, str]] = field(default_factory=dict)

    def resolve(self, revision: str) -> str | None:
        if revision in self.branches:
            return self.branches[revision]
        return revision if revision in self.commits else None


class HubServer:
    """A threaded HTTP server on 127.0.0.1 (free port). ``tokens`` maps token -> (user name, "read"|"write")."""

    def __init__(self, tokens: dict[str, tuple[str, str]] | None = None) -> None:
        self.tokens = dict(tokens or {})
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, for assertions
        self.outage_status: int | None = None  # set to e.g. 503 and every request gets that answer
        self.lfs_objects: dict[str, bytes] = {}  # sha256 hex -> content, uploaded through the LFS batch API
        self.drop_downloads = False  # True: file downloads (resolve) get the connection closed without an answer
        self.hang_seconds = 0.0  # > 0: every request is accepted and then left unanswered this long
        self.drop_all = False  # True: every request gets the connection closed without an answer
        self.upload_status: int | None = None  # set to e.g. 503 and every file upload (LFS PUT) gets that answer
        self.html_status: int | None = None  # set to 200: every request is answered with a web page, not JSON
        self.lock = threading.Lock()
        self._counter = 0
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> HubServer:
        hub = self

        class Handler(_Handler):
            server_hub = hub

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    # -- state helpers used by the handler and by tests ----------------------------------------------
    def new_commit(self, repo: Repo, parent: str | None, files: dict[str, bytes], branch: str) -> str:
        with self.lock:
            self._counter += 1
            sha = hashlib.sha1(f"{repo.repo_id}:{self._counter}:{parent}".encode()).hexdigest()
            repo.commits[sha] = files
            repo.branches[branch] = sha
            return sha

    def create_repo(self, repo_type: str, repo_id: str, *, private: bool = False, sdk: str | None = None) -> Repo:
        repo = Repo(repo_type, repo_id, private=private, sdk=sdk)
        self.repos[(repo_type, repo_id)] = repo
        self.new_commit(repo, None, {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"},
                        "main")
        return repo

    def head_files(self, repo_type: str, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[(repo_type, repo_id)]
        return repo.commits[repo.resolve(revision)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_hub: HubServer

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    # -- plumbing ------------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/json", head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None, head: bool = False) -> None:
        extra = {"X-Error-Message": message, **(headers or {})}
        self._send(status, json.dumps({"error": message}).encode(), extra, head=head)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":  # streamed uploads
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _user(self) -> tuple[str, str] | None:
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        return self.server_hub.tokens.get(token) if token else None

    def _can_write(self, repo_id: str) -> bool:
        user = self._user()
        return user is not None and user[1] == "write" and repo_id.split("/")[0] == user[0]

    def _can_read(self, repo: Repo) -> bool:
        user = self._user()
        return not repo.private or (user is not None and repo.repo_id.split("/")[0] == user[0])

    def _repo(self, prefix: str, repo_id: str, head: bool = False) -> Repo | None:
        repo = self.server_hub.repos.get((PREFIXES.get(prefix, "model"), repo_id))
        if repo is None or not self._can_read(repo):
            self._error(404, "Repository not found", {"X-Error-Code": "RepoNotFound"}, head=head)
            return None
        return repo

    # -- routes --------------------------------------------------------------------------------------
    def _outage(self, head: bool = False) -> bool:
        if self.server_hub.drop_all:
            self._body()
            self.close_connection = True  # no status line: the socket just closes
            return True
        if self.server_hub.html_status is not None:  # a proxy's login page where the API should be
            self._body()
            page = b"<html><body>Sign in to continue</body></html>"
            self.send_response(self.server_hub.html_status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            if not head:
                self.wfile.write(page)
            return True
        if self.server_hub.hang_seconds:
            import time

            time.sleep(self.server_hub.hang_seconds)
            self.close_connection = True
            return True
        status = self.server_hub.outage_status
        if status is not None:
            self._body()
            self._error(status, "Service Unavailable", head=head)
        return status is not None

    def do_HEAD(self) -> None:
        if not self._outage(head=True):
            self._resolve(head=True)

    def do_GET(self) -> None:
        if self._outage():
            return
        hub = self.server_hub
        url = urlparse(self.path)
        hub.requests.append(("GET", url.path))
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if url.path == "/api/whoami-v2":
            user = self._user()
            if user is None:
                return self._error(401, "Invalid credentials in Authorization header")
            return self._json(200, {"type": "user", "name": user[0], "orgs": [],
                                    "auth": {"type": "access_token", "accessToken": {"role": user[1]}}})
        if len(parts) >= 4 and parts[0] == "api" and parts[1] in PREFIXES:
            repo_id = f"{parts[2]}/{parts[3]}"
            repo = self._repo(parts[1], repo_id)
            if repo is None:
                return
            rest = parts[4:]
            if not rest or rest[0] == "revision":
                revision = rest[1] if len(rest) > 1 else "main"
                sha = repo.resolve(revision)
                if sha is None:
                    return self._error(404, f"Invalid rev id: {revision}", {"X-Error-Code": "RevisionNotFound"})
                files = repo.commits[sha]
                return self._json(200, {"id": repo_id, "sha": sha, "private": repo.private, "sdk": repo.sdk,
                                        "siblings": [{"rfilename": p} for p in sorted(files)]})
            if rest[0] == "tree":
                return self._tree(repo, rest[1], "/".join(rest[2:]), parse_qs(url.query))
            if rest == ["variables"] and parts[1] == "spaces":  # HfApi.get_space_variables
                return self._json(200, repo.variables)
        self._resolve(head=False)

    def do_DELETE(self) -> None:
        """``HfApi.delete_space_variable``: DELETE /api/spaces/{id}/variables with ``{"key": ...}``."""
        if self._outage():
            return
        url = urlparse(self.path)
        self.server_hub.requests.append(("DELETE", url.path))
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        body = self._body()
        if len(parts) != 5 or parts[:2] != ["api", "spaces"] or parts[4] != "variables":
            return self._error(404, f"no route for {url.path}")
        repo_id = f"{parts[2]}/{parts[3]}"
        repo = self._repo("spaces", repo_id)
        if repo is None:
            return
        if not self._can_write(repo_id):
            return self._error(403, f"You don't have write access to {repo_id}")
        repo.variables.pop(json.loads(body)["key"], None)
        return self._json(200, repo.variables)

    def _tree(self, repo: Repo, revision: str, subpath: str, query: dict[str, list[str]]) -> None:
        sha = repo.resolve(revision)
        if sha is None:
            return self._error(404, f"Invalid rev id: {revision}", {"X-Error-Code": "RevisionNotFound"})
        recursive = query.get("recursive", ["False"])[0].lower() == "true"
        prefix = f"{subpath}/" if subpath else ""
        entries: dict[str, dict[str, Any]] = {}
        for path, data in sorted(repo.commits[sha].items()):
            if not path.startswith(prefix):
                continue
            rel_parts = path[len(prefix):].split("/")
            for depth in range(1, len(rel_parts)):
                folder = prefix + "/".join(rel_parts[:depth])
                if recursive or depth == 1:
                    entries.setdefault(folder, {"type": "directory", "path": folder, "oid": "0" * 40})
            if recursive or len(rel_parts) == 1:
                entries[path] = {"type": "file", "path": path, "size": len(data), "oid": git_blob_sha1(data)}
        self._json(200, list(entries.values()))

    def _resolve(self, head: bool) -> None:
        url = urlparse(self.path)
        self.server_hub.requests.append(("HEAD" if head else "GET", url.path))
        if self.server_hub.drop_downloads and "/resolve/" in url.path:
            self.close_connection = True  # the Hub dies mid-download: no status line, the socket just closes
            return
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        prefix = "models"
        if parts and parts[0] in ("datasets", "spaces"):
            prefix, parts = parts[0], parts[1:]
        if len(parts) < 5 or parts[2] != "resolve":
            return self._error(404, f"no route for {url.path}", head=head)
        repo = self._repo(prefix, f"{parts[0]}/{parts[1]}", head=head)
        if repo is None:
            return
        sha = repo.resolve(parts[3])
        if sha is None:
            return self._error(404, "Invalid rev id", {"X-Error-Code": "RevisionNotFound"}, head=head)
        path = "/".join(parts[4:])
        data = repo.commits[sha].get(path)
        if data is None:
            return self._error(404, "Entry not found", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": sha},
                               head=head)
        etag = f'"{git_blob_sha1(data)}"'
        self._send(200, data, {"X-Repo-Commit": sha, "ETag": etag, "X-Linked-Etag": etag},
                   content_type="application/octet-stream", head=head)

    def do_POST(self) -> None:
        if self._outage():
            return
        hub = self.server_hub
        url = urlparse(self.path)
        hub.requests.append(("POST", url.path))
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        body = self._body()
        if url.path == "/api/validate-yaml":
            return self._json(200, {})
        if url.path == "/api/repos/create":
            payload = json.loads(body)
            repo_type = payload.get("type") or "model"
            repo_id = f"{payload.get('organization') or (self._user() or ('', ''))[0]}/{payload['name']}"
            if not self._can_write(repo_id):
                return self._error(403, f"You don't have the rights to create a repo under {repo_id.split('/')[0]}")
            url_prefix = "" if repo_type == "model" else f"{repo_type}s/"
            answer = {"url": f"{hub.url}/{url_prefix}{repo_id}", "name": repo_id}
            if (repo_type, repo_id) in hub.repos:  # the Hub answers 409 with the url (create_repo reads it)
                return self._json(409, {**answer, "error": "You already created this repo"},
                                  {"X-Error-Message": "You already created this repo"})
            hub.create_repo(repo_type, repo_id, private=payload.get("visibility") == "private",
                            sdk=payload.get("sdk"))
            return self._json(200, answer)
        if url.path.endswith(".git/info/lfs/objects/batch"):
            return self._lfs_batch(json.loads(body))
        if len(parts) < 5 or parts[0] != "api" or parts[1] not in PREFIXES:
            return self._error(404, f"no route for {url.path}")
        repo_id = f"{parts[2]}/{parts[3]}"
        repo = self._repo(parts[1], repo_id)
        if repo is None:
            return
        if not self._can_write(repo_id):
            return self._error(403, f"You don't have write access to {repo_id}")
        action = parts[4]
        if action == "preupload":
            files = json.loads(body)["files"]
            sha = repo.resolve(parts[5])
            current = repo.commits[sha] if sha else {}
            # oid of the file already there — the LFS sha256 for LFS files, the git blob sha1 for the others — so
            # unchanged files are skipped as on the Hub
            answers = []
            for f in files:
                lfs = f["path"].endswith(LFS_SUFFIXES)
                known = current.get(f["path"])
                oid = None if known is None else hashlib.sha256(known).hexdigest() if lfs else git_blob_sha1(known)
                answers.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                                "oid": oid})
            return self._json(200, {"files": answers})
        if action == "branch":
            branch = parts[5]
            if branch in repo.branches:
                return self._error(409, f"Reference already exists: refs/heads/{branch}")
            start = json.loads(body).get("startingPoint") if body else None
            repo.branches[branch] = repo.resolve(start or "main") or repo.branches["main"]
            return self._json(200, {})
        if action == "commit":
            return self._commit(repo, parts[5], body)
        if action == "variables":
            payload = json.loads(body)
            repo.variables[payload["key"]] = {"value": payload["value"], "description": payload.get("description"),
                                              "updatedAt": "2026-01-01T00:00:00.000Z"}
            return self._json(200, repo.variables)
        self._error(404, f"no route for {url.path}")

    def _lfs_batch(self, payload: dict) -> None:
        """The LFS batch API, basic transfer: an upload action per object not stored yet (none when it is)."""
        if payload.get("operation") != "upload" or "basic" not in payload.get("transfers", ["basic"]):
            return self._error(400, "only basic-transfer uploads are supported here")
        objects = []
        for obj in payload["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.server_hub.lfs_objects:
                entry["actions"] = {"upload": {"href": f"{self.server_hub.url}/lfs-upload/{obj['oid']}"}}
            objects.append(entry)
        self._json(200, {"transfer": "basic", "objects": objects})

    def do_PUT(self) -> None:
        url = urlparse(self.path)
        self.server_hub.requests.append(("PUT", url.path))
        if not url.path.startswith("/lfs-upload/"):
            return self._error(404, f"no route for {url.path}")
        if self.server_hub.upload_status is not None:
            self._body()
            return self._error(self.server_hub.upload_status, "Service Unavailable")
        oid, body = url.path.rsplit("/", 1)[1], self._body()
        if hashlib.sha256(body).hexdigest() != oid:
            return self._error(400, "uploaded content does not match its sha256 oid")
        self.server_hub.lfs_objects[oid] = body
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _commit(self, repo: Repo, revision: str, body: bytes) -> None:
        if revision not in repo.branches:
            return self._error(404, f"Invalid rev id: {revision}", {"X-Error-Code": "RevisionNotFound"})
        files = dict(repo.commits[repo.branches[revision]])
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                for path in [p for p in files if p.startswith(value["path"].rstrip("/") + "/")]:
                    files.pop(path)
            elif key == "lfsFile":
                data = self.server_hub.lfs_objects.get(value["oid"])
                if data is None:
                    return self._error(400, f"LFS object {value['oid']} was never uploaded")
                files[value["path"]] = data
        sha = self.server_hub.new_commit(repo, repo.branches[revision], files, revision)
        url_prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        self._json(200, {"commitUrl": f"{self.server_hub.url}/{url_prefix}{repo.repo_id}/commit/{sha}",
                         "commitOid": sha, "pullRequestUrl": None})
