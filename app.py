"""jewelrec Space: `python app.py` serves the bundle on http://127.0.0.1:$GRADIO_SERVER_PORT (default 7860).

Bundle: $JEWELREC_BUNDLE (dir), else $JEWELREC_REPO (+ $JEWELREC_REVISION) from the Hub, else the built-in
sample (built once on first start, progress in the terminal; the server starts once it is ready).
Ratings: SQLite under $JEWELREC_DATA_DIR (default ~/.cache/jewelrec/data).
"""

from __future__ import annotations

import os

from jewelrec.ratings import data_dir
from jewelrec.space import BuildingPage, SpaceService, resolve_bundle, sample_needs_build
from jewelrec.space_ui import build_demo, launch_kwargs

# First start: say so on the page too, not only in the terminal (the placeholder frees the port before launch)
placeholder = (BuildingPage(port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
               if __name__ == "__main__" and sample_needs_build() else None)
service = SpaceService.start(*resolve_bundle())
if placeholder is not None:
    placeholder.close()
demo = build_demo(service)
demo.queue(max_size=256, default_concurrency_limit=4)  # bounded queue; encoder events cap themselves lower

if __name__ == "__main__":
    # requests run side by side on gradio's worker threads and each one's matrix products are small: one BLAS
    # thread apiece beats two threads per request contending (bench/README.md, recommender latency)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    service.store.start_backups()
    demo.launch(**launch_kwargs(data_dir()))
