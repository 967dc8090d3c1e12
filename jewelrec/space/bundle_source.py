"""Which bundle the Space serves, and where it came from: ``$JEWELREC_BUNDLE``, the Hub, or the built-in sample
(built on the first start, while :class:`BuildingPage` holds the port), and the footer line that says so."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jewelrec.paths import cache_dir
from jewelrec.serving.bundle import Bundle, BundleError


def sample_bundle_dir() -> Path:
    return cache_dir("bundles") / "sample"


def resolve_bundle() -> tuple[Bundle, dict[str, Any]]:
    """The bundle to serve and where it came from.

    ``$JEWELREC_BUNDLE`` (a directory) wins; else ``$JEWELREC_REPO`` (+ ``$JEWELREC_REVISION``) pulls from the Hub;
    else the sample bundle, built once into ``cache_dir('bundles')/sample`` (1–3 min on 2 cores) and reused.
    ``origin`` is ``{"repo_id", "revision", "commit", "offline", "notice"}`` (Hub) or ``{"path", "notice"}``.
    """
    local = os.environ.get("JEWELREC_BUNDLE")
    if local:
        if not Path(local).is_dir():
            raise FileNotFoundError(f"JEWELREC_BUNDLE={local!r} is not a directory; point it at a bundle made by "
                                    "`python -m training.fit --out DIR`, or unset it to use the sample")
        return Bundle.load(local), {"path": str(local), "notice": None}
    repo, revision = os.environ.get("JEWELREC_REPO"), os.environ.get("JEWELREC_REVISION")
    if repo:
        from huggingface_hub.errors import HFValidationError

        from jewelrec.serving.hub import pull  # the Hub seam: only needed when a repo is configured

        try:
            return pull(repo, revision or None)
        except HFValidationError as err:
            raise ValueError(f"JEWELREC_REPO={repo!r} is not a Hub repo id ({err}); set it to the bundle's model "
                             "repo, user/name, or unset it to use the sample") from None
    if revision:  # a revision of no repo: a misspelt or missing JEWELREC_REPO would otherwise serve the sample quietly
        raise ValueError(f"JEWELREC_REVISION={revision!r} is set but JEWELREC_REPO is not; set JEWELREC_REPO to the "
                         "bundle repo it is a revision of (user/name), or unset JEWELREC_REVISION to use the sample")
    out = sample_bundle_dir()
    try:
        return Bundle.load(out), {"path": str(out), "notice": "built-in sample catalog"}
    except (BundleError, FileNotFoundError, OSError) as exc:
        print(f"[jewelrec] no usable sample bundle at {out} ({type(exc).__name__}); building it now — "
              "1–3 minutes on 2 CPU cores, only the first time", flush=True)
    absent = [m for m in ("torch", "transformers", "umap") if not _installed(m)]
    if absent:  # found before a minute of drawing and training, not by the import that fails after it
        raise ValueError(f"the built-in sample is built with jewelrec's [train] extra, and {absent} are not "
                         "installed: pip install 'jewelrec[space,train]' — or serve a bundle instead "
                         "(JEWELREC_BUNDLE=DIR, or JEWELREC_REPO=user/name)")
    from jewelrec.pipeline.fit import FitConfig, run  # needs the [train] extra; a repo-backed Space never gets here

    run(FitConfig(dataset="sample", out=str(out)))
    return Bundle.load(out), {"path": str(out), "notice": "built-in sample catalog"}


def _installed(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module blocked in sys.modules, or a broken install
        return False


def sample_needs_build() -> bool:
    """True when ``python app.py`` will have to build the sample bundle before it can serve."""
    if os.environ.get("JEWELREC_BUNDLE") or os.environ.get("JEWELREC_REPO") or os.environ.get("JEWELREC_REVISION"):
        return False  # served from elsewhere, or refused by resolve_bundle: nothing to build
    return not (sample_bundle_dir() / "config.json").is_file()


class BuildingPage:
    """A placeholder page on the Space's port while the sample bundle is built (first start only): it says what
    is happening and reloads itself every 5 s until the real app answers. Stdlib only, one page, no files."""

    def __init__(self, host: str = "127.0.0.1", port: int = 7860):
        import http.server
        import threading
        import time

        started = time.time()

        class Page(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
                body = ("<!doctype html><meta charset='utf-8'><meta http-equiv='refresh' content='5'>"
                        "<title>jewelrec · starting</title><body style='font-family:sans-serif;max-width:36rem;"
                        "margin:15vh auto;color:#333'><h1>◆ jewelrec is getting ready</h1><p>Building the "
                        "built-in sample catalog and its style model — this happens once, on the first start, "
                        f"and takes 1–3 minutes on a small CPU. Elapsed: {time.time() - started:.0f} s.</p>"
                        "<p>This page reloads by itself; progress is shown in the terminal.</p>").encode()
                self.send_response(503)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Retry-After", "5")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # keep the terminal for the build's progress
                pass

        self.server = http.server.ThreadingHTTPServer((host, port), Page)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def origin_text(origin: dict[str, Any], bundle: Bundle) -> str:
    """One footer line: what is being served, from where."""
    if origin.get("repo_id"):
        commit = str(origin.get("commit") or origin.get("revision") or "?")[:12]
        from jewelrec.serving.hub import hub_endpoint  # HF_ENDPOINT's Hub, not always huggingface.co

        where = f"[{origin['repo_id']}]({hub_endpoint()}/{origin['repo_id']}) @ `{commit}`"
        if origin.get("offline"):
            where += " (offline copy)"
    else:
        where = "local bundle" if not origin.get("notice") else str(origin["notice"])
    encoder = (bundle.config.get("encoder") or {}).get("type", "?")
    method = (bundle.config.get("clustering") or {}).get("method") or bundle.config.get("method") or "?"
    line = f"Serving {bundle.n_items} pieces · {bundle.n_clusters} styles · encoder `{encoder}` · {where}"
    if origin.get("notice") and origin.get("repo_id"):
        line += f" · ⚠️ {origin['notice']}"
    return line + (f" · clustering `{method}`" if method != "?" else "")
