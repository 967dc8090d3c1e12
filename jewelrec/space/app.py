"""Build and launch the Space: ``jewelrec-space`` (installed) or ``python app.py`` (a checkout / the Hub Space).

The bundle is resolved once at start (``$JEWELREC_BUNDLE``, else ``$JEWELREC_REPO`` + ``$JEWELREC_REVISION``,
else the built-in sample, built on first start) and the layout is built over it; handlers never load artifacts.
"""

from __future__ import annotations

import os
from typing import Any

from jewelrec.extras import reported
from jewelrec.space.bundle_source import BuildingPage, resolve_bundle, sample_needs_build
from jewelrec.space.ratings import data_dir
from jewelrec.space.service import SpaceService


def create_demo(*, building_page: bool = False) -> tuple[Any, SpaceService]:
    """(gr.Blocks, service). ``building_page``: while the sample bundle is built on a first start, answer the
    port with a self-refreshing "getting ready" page (it frees the port before launch)."""
    from jewelrec.space.ui import build_demo

    placeholder = (BuildingPage(port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
                   if building_page and sample_needs_build() else None)
    try:
        service = SpaceService.start(*resolve_bundle())
    except (OSError, ValueError) as err:  # BundleError, HubError, a bad JEWELREC_BUNDLE: the fix, no traceback
        raise SystemExit(f"error: the Space cannot start: {err}") from None
    finally:
        if placeholder is not None:
            placeholder.close()
    demo = build_demo(service)
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
