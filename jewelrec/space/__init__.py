"""The Gradio Space: :mod:`~jewelrec.space.service` (typed handlers), :mod:`~jewelrec.space.bundle_source` (which
bundle to serve), :mod:`~jewelrec.space.identity` (who is asking), :mod:`~jewelrec.space.ui` (the layout; ``app.py``
builds it), :mod:`~jewelrec.space.ratings` (the SQLite rating store), and :mod:`~jewelrec.space.deploy` (publishing
the Space). ``from jewelrec.space import SpaceService`` (★)."""

from jewelrec.space.bundle_source import (
    BuildingPage,
    origin_text,
    resolve_bundle,
    sample_bundle_dir,
    sample_needs_build,
)
from jewelrec.space.identity import new_browser_id, user_key, verify_browser_id
from jewelrec.space.service import DETAIL_COLUMNS, MAP_COLUMNS, SpaceService

__all__ = ["DETAIL_COLUMNS", "MAP_COLUMNS", "BuildingPage", "SpaceService", "new_browser_id", "origin_text",
           "resolve_bundle", "sample_bundle_dir", "sample_needs_build", "user_key", "verify_browser_id"]
