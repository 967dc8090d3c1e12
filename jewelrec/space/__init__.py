"""The Gradio Space: :mod:`~jewelrec.space.service` (which bundle, typed handlers), :mod:`~jewelrec.space.ui`
(the layout; ``app.py`` builds it), :mod:`~jewelrec.space.ratings` (the SQLite rating store), and
:mod:`~jewelrec.space.deploy` (publishing the Space). ``from jewelrec.space import SpaceService`` (★)."""

from jewelrec.space.service import (
    DETAIL_COLUMNS,
    MAP_COLUMNS,
    BuildingPage,
    SpaceService,
    new_browser_id,
    origin_text,
    resolve_bundle,
    sample_bundle_dir,
    sample_needs_build,
    user_key,
    verify_browser_id,
)

__all__ = ["DETAIL_COLUMNS", "MAP_COLUMNS", "BuildingPage", "SpaceService", "new_browser_id", "origin_text",
           "resolve_bundle", "sample_bundle_dir", "sample_needs_build", "user_key", "verify_browser_id"]
