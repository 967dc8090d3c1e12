"""jewelrec Space: `python app.py` serves the bundle on http://127.0.0.1:$GRADIO_SERVER_PORT (default 7860).

Bundle: $JEWELREC_BUNDLE (dir), else $JEWELREC_REPO (+ $JEWELREC_REVISION) from the Hub, else the built-in
sample (built once on first start, progress in the terminal; the server starts once it is ready).
Ratings: SQLite under $JEWELREC_DATA_DIR (default $JEWELREC_HOME/data, i.e. ~/.cache/jewelrec/data).
All logic lives in jewelrec.space; the installed package offers the same as `jewelrec-space`.
"""

from jewelrec.space.app import create_demo, launch

demo, service = create_demo(building_page=__name__ == "__main__")

if __name__ == "__main__":
    launch(demo, service)
