"""Build and launch the Space: ``jewelrec-space`` (installed) or ``python app.py`` (a checkout / the Hub Space).

The bundle is resolved once at start (``$JEWELREC_BUNDLE``, else ``$JEWELREC_REPO`` + ``$JEWELREC_REVISION``,
else the built-in sample, built on first start) and the layout is built over it; handlers never load artifacts.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

from jewelrec.extras import reported
from jewelrec.paths import cache_dir
from jewelrec.space.bundle_source import BuildingPage, resolve_bundle, sample_needs_build
from jewelrec.space.ratings import data_dir
from jewelrec.space.service import SpaceService


def create_demo(*, building_page: bool = False) -> tuple[Any, SpaceService]:
    """(gr.Blocks, service). ``building_page``: while the sample bundle is built on a first start, answer the
    port with a self-refreshing "getting ready" page (it frees the port before launch)."""
    from jewelrec.space.ui import build_demo

    # gradio imports matplotlib on every request: its font cache and config belong under JEWELREC_HOME, not $HOME
    os.environ.setdefault("MPLCONFIGDIR", str(cache_dir("matplotlib")))
    placeholder = (BuildingPage(port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
                   if building_page and sample_needs_build() else None)
    try:
        service = SpaceService.start(*resolve_bundle())
    except (OSError, ValueError) as err:  # BundleError, HubError, a bad JEWELREC_BUNDLE: the fix, no traceback
        raise SystemExit(f"error: the Space cannot start: {err}") from None
    finally:
        if placeholder is not None:
            placeholder.close()
    try:
        demo = build_demo(service)
    except ValueError as err:  # a setting it reads (JEWELREC_UPLOAD_TTL): its name and the fix
        raise SystemExit(f"error: the Space cannot start: {err}") from None
    demo.queue(max_size=256, default_concurrency_limit=4)  # bounded queue; encoder events cap themselves lower
    return demo, service


def launch(demo: Any, service: SpaceService) -> None:
    """Serve until interrupted: one BLAS thread per request, periodic rating backups, the crowd model refitted
    in the background."""
    # requests run side by side on gradio's worker threads and each one's matrix products are small: one BLAS
    # thread apiece beats two threads per request contending (bench/README.md, recommender latency)
    from threadpoolctl import threadpool_limits

    from jewelrec.space.ui import launch_kwargs

    threadpool_limits(1, user_api="blas")
    if threading.current_thread() is threading.main_thread():
        # SIGTERM is how Spaces, Docker and systemd stop a process: by default it skips atexit, and with it the
        # final rating backup of a Space on a network mount (up to 5 minutes of ratings lost at every restart)
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    service.store.start_backups()
    service.start_crowd()
    demo.launch(**launch_kwargs(data_dir()))


@reported
def main(argv: list[str] | None = None) -> int:
    """``jewelrec-space``: serve on 127.0.0.1:$GRADIO_SERVER_PORT (default 7860)."""
    import argparse

    argparse.ArgumentParser(prog="jewelrec-space", description=__doc__.split("\n\n")[0] + " Configured by "
                            "JEWELREC_BUNDLE / JEWELREC_REPO / JEWELREC_REVISION / JEWELREC_DATA_DIR and "
                            "GRADIO_SERVER_PORT.").parse_args(argv)
    demo, service = create_demo(building_page=True)
    launch(demo, service)
    return 0
