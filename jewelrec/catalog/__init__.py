"""The catalog: images plus metadata in, validated and counted. ``load_catalog(source)`` is the entry point.

Sources: ``sample`` (the procedural jewelry catalog in :mod:`jewelrec.catalog.sample`), a local image folder,
parquet file(s) or a Hub dataset id.
"""

from jewelrec.catalog.loading import (
    DEFAULT_HUB_DATASET,
    Catalog,
    load_catalog,
    validate_image,
)

__all__ = ["DEFAULT_HUB_DATASET", "Catalog", "load_catalog", "validate_image"]
