"""jewelrec Space: `python app.py` serves the bundle on http://127.0.0.1:$GRADIO_SERVER_PORT (default 7860).

Bundle: $JEWELREC_BUNDLE (dir), else $JEWELREC_REPO (+ $JEWELREC_REVISION) from the Hub, else the built-in
sample (built once on first start, progress in the terminal; the server starts once it is ready).
Ratings: SQLite under $JEWELREC_DATA_DIR (default ~/.cache/jewelrec/data).
"""

from __future__ import annotations

from jewelrec.ratings import data_dir
from jewelrec.space import SpaceService, resolve_bundle
from jewelrec.space_ui import build_demo, launch_kwargs

service = SpaceService.start(*resolve_bundle())
demo = build_demo(service)
demo.queue(max_size=256, default_concurrency_limit=4)  # bounded queue; encoder events cap themselves lower

if __name__ == "__main__":
    service.store.start_backups()
    demo.launch(**launch_kwargs(data_dir()))
