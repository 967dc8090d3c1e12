"""The picture a bundle stores per item: a JPEG of at most 256 px, decoded the way the encoders see the image.

Its own light module (PIL + numpy only) so the Ray engine's CPU tasks make thumbnails without importing torch.
"""

from __future__ import annotations

import io

from jewelrec.encoders.base import to_rgb

THUMBNAIL_PX = 256


def thumbnail(data: bytes) -> bytes:
    image = to_rgb(data)  # orientation, 16-bit and multi-frame handled as the encoders see them
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()
