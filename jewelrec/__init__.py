"""jewelrec: a visual recommender for product catalogs.

``from jewelrec import Bundle, Recommender`` is the stable entry point; both are imported lazily so that
``import jewelrec.evaluation.metrics`` (say) does not pull in torch or transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = ["Bundle", "Recommender", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from jewelrec.serving.bundle import Bundle
    from jewelrec.serving.recommender import Recommender


def __getattr__(name: str):
    if name == "Bundle":
        from jewelrec.serving.bundle import Bundle

        return Bundle
    if name == "Recommender":
        from jewelrec.serving.recommender import Recommender

        return Recommender
    raise AttributeError(f"module 'jewelrec' has no attribute {name!r}")
