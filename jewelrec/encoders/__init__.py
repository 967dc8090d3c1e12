"""Encoders: images (and, for CLIP, text) → L2-normalised embeddings, behind one small interface.

``load_encoder(bundle.encoder_dir)`` rebuilds the one a bundle was made with. The torch-backed classes are
imported on first use, so ``import jewelrec.encoders`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jewelrec.defaults import DEFAULT_CLIP
from jewelrec.encoders.base import Encoder, ImageLike, l2_normalise, load_encoder, to_rgb

if TYPE_CHECKING:  # pragma: no cover
    from jewelrec.encoders.clip import ClipEncoder, clip_available
    from jewelrec.encoders.cnn import CnnEncoder

__all__ = ["DEFAULT_CLIP", "ClipEncoder", "CnnEncoder", "Encoder", "ImageLike", "clip_available",
           "l2_normalise", "load_encoder", "to_rgb"]
_LAZY = {"ClipEncoder": "jewelrec.encoders.clip", "clip_available": "jewelrec.encoders.clip",
         "CnnEncoder": "jewelrec.encoders.cnn"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jewelrec.encoders' has no attribute {name!r}")
