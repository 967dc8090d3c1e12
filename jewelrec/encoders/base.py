"""What every encoder is: the small interface the pipeline, the bundle and the Space rely on.

Every encoder turns images into an (n, d) float32 array of L2-normalised rows, in batches, with a progress
bar; encoders with a text tower (``has_text``) embed queries into the same space. Implementations:
``ClipEncoder`` (jewelrec.encoders.clip, a transformers CLIP checkpoint) and ``CnnEncoder``
(jewelrec.encoders.cnn, trained on the catalog's own labels). ``load_encoder`` rebuilds the one a bundle
was made with from its ``encoder/`` directory.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import ExifTags, Image, ImageOps

ImageLike = bytes | Image.Image
# the longest a picture's long side may be, in short sides: every encoder resizes the short side then centre-crops a
# square (CLIP's processors) or squashes to a square (the CNN), so a 1 x 100000 strip would become 64 x 6.4M pixels
# (gigabytes) on the way; past 4:1 the long side is centre-cropped first, which keeps all CLIP sees, and no
# ordinary photo (panoramas are ~3:1) is touched
MAX_ASPECT = 4


class Encoder(Protocol):
    kind: str  # "clip" | "cnn": how encoder/config.json says to rebuild it
    dim: int
    has_text: bool

    def encode_images(self, images: Sequence[ImageLike], *, progress: bool = True) -> np.ndarray: ...

    def encode_text(self, texts: Sequence[str]) -> np.ndarray: ...

    def save_pretrained(self, directory: str | Path) -> None: ...


def text_token_limit(tokenizer, max_positions: int | None = None) -> int:
    """Tokens a text tower reads, [BOS]/[EOS] included: the tokenizer's ``model_max_length``, bounded by the
    model's ``max_position_embeddings`` (a checkpoint whose tokenizer sets no length has transformers' huge "no
    limit" sentinel there, and a longer text would crash the position embeddings)."""
    limit = getattr(tokenizer, "model_max_length", None)
    limit = limit if isinstance(limit, int) and 0 < limit <= 100_000 else None
    return min(x for x in (limit, max_positions, 100_000) if x)


def truncation_note(tokenizer, text: str, limit: int) -> str | None:
    """A note when ``text`` holds more tokens than the text tower reads (``limit``, its [BOS]/[EOS] included):
    what follows is cut off by the encoder's truncation, which would otherwise happen without a word."""
    room = max(limit - tokenizer.num_special_tokens_to_add(), 1)
    # one token past the room is enough to know (and cheap on a 1 MB text; no "longer than the maximum" warning)
    ids = tokenizer(text, add_special_tokens=False, truncation=True, max_length=room + 1)["input_ids"]
    if len(ids) <= room:
        return None
    kept = tokenizer.decode(ids[:room], skip_special_tokens=True).strip()
    return (f"only the start of that text was searched (the text tower reads {room} tokens): "
            f"\"{kept[:80]}{'…' if len(kept) > 80 else ''}\"")


TRANSPARENT_BACKGROUND = (255, 255, 255, 255)  # what a transparent pixel becomes: a shop page's white


def upright(image: ImageLike) -> Image.Image:
    """The picture the way it is meant to be seen, before the conversion to RGB: EXIF orientation applied (phones store
    portrait shots sideways), 16-bit greyscale scaled down rather than clipped to white, the first frame of a
    multi-picture file (MPO, what cameras and phones write); a picture longer than ``MAX_ASPECT`` short sides
    centre-cropped to that, so what comes out is at most 4:1 (its resize to an encoder's input stays small)."""
    if isinstance(image, (bytes, bytearray)):
        image = Image.open(io.BytesIO(image))
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    if image.getexif().get(ExifTags.Base.Orientation, 1) != 1:  # exif_transpose copies even an upright picture
        image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)  # (h, w) 0..65535 for 16-bit sources
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    return _bounded_aspect(image)


def to_rgb(image: ImageLike) -> Image.Image:
    """Decode to 8-bit RGB: :func:`upright`, then converted (always a new image, never the caller's). A picture with
    transparency (a product cut out on a transparent PNG, a GIF's transparent index) is laid on white, as a shop page
    shows it: a plain conversion keeps whatever colour the exporter left under the clear pixels — usually black, which
    hid a dark ring and made its embedding depend on the exporter."""
    image = upright(image)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        layer = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", layer.size, TRANSPARENT_BACKGROUND), layer).convert("RGB")
    return image.convert("RGB")


def _bounded_aspect(image: Image.Image) -> Image.Image:
    """The centre ``MAX_ASPECT``:1 of a picture longer than that; the picture itself (not a copy) otherwise."""
    width, height = image.size
    short = max(min(width, height), 1)
    if max(width, height) <= MAX_ASPECT * short:
        return image
    cut = MAX_ASPECT * short
    if width > height:
        left = (width - cut) // 2
        return image.crop((left, 0, left + cut, height))
    top = (height - cut) // 2
    return image.crop((0, top, width, top + cut))


def l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)  # (n, 1)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def load_encoder(directory: str | Path, *, device: str | None = None) -> Encoder:
    """Rebuild the encoder a bundle was made with, from its ``encoder/`` directory: a CLIP referenced by Hub id
    (``type: clip``), a whole CLIP checkpoint (a fine-tuned one: transformers' own config.json), the catalog
    CLIP (``type: catalog-clip``) or the CNN (``type: cnn``). A missing directory, unreadable weights or a config
    it does not know raise ``ValueError`` naming the path and the fix."""
    if directory is None:  # what ``bundle.encoder_dir`` is for a bundle without encoder/
        raise ValueError("no encoder directory given (bundle.encoder_dir is None: the bundle has no encoder/ folder, so "
                         "it cannot embed photos or text); re-run training.fit to make a bundle with its encoder")
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"load_encoder takes the encoder's directory (a str or Path, e.g. bundle.encoder_dir), "
                        f"got {type(directory).__name__}")
    directory = Path(directory)
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{directory}/config.json is missing or not JSON ({err}); the bundle's encoder cannot be "
                         "rebuilt — re-run training.fit") from None
    if not isinstance(config, dict):
        raise ValueError(f"{directory}/config.json must be a JSON object, got {type(config).__name__}")
    if config.get("type") == "clip" and config.get("model_type") != "clip":  # a Hub id: its own errors name it
        from jewelrec.encoders.clip import ClipEncoder

        if not isinstance(config.get("model"), str) or not config["model"]:
            raise ValueError(f"{directory}/config.json (type 'clip') names no model id in 'model'; re-run training.fit")
        try:
            return ClipEncoder(config["model"], revision=config.get("revision"), device=device)
        except OSError as err:  # transformers' "couldn't connect … not in the cached files": neither cached nor reachable
            raise ValueError(f"the bundle's encoder ({config['model']}) cannot be loaded from the Hub "
                             f"({type(err).__name__}: {str(err).splitlines()[0][:200]}); run once where the Hub can "
                             "be reached (its weights are then cached), or point HF_HOME at a cache that holds "
                             "them") from None
    check_weight_files(directory)
    try:
        return _load_local(directory, config, device)
    except (ValueError, FileNotFoundError):  # ours name the file and the fix; a library's carry their own message
        raise
    except ModuleNotFoundError as err:  # torch / transformers not installed: the install, not the files
        from jewelrec.extras import missing_extra

        fix = missing_extra(err, "space")  # the serving extra runs a bundle's encoder (search, uploads)
        if fix is None:
            raise
        raise ValueError(f"the encoder in {directory} cannot be run here: {fix}") from None
    except Exception as err:  # torch, transformers and safetensors each raise their own kinds for a bad checkpoint
        raise ValueError(f"the encoder in {directory} cannot be loaded ({type(err).__name__}: {str(err)[:300]}); "
                         "its files are damaged or not what jewelrec wrote — fetch the bundle again or re-run "
                         "training.fit") from None


def check_weight_files(directory: Path) -> None:
    """Every ``*.safetensors`` under ``directory`` opens (header and length agree): a truncated download is named
    by its path before a library reports it without one."""
    from safetensors import safe_open

    for path in sorted(directory.rglob("*.safetensors")):
        try:
            with safe_open(path, framework="numpy"):
                pass
        except Exception as err:  # SafetensorError, OSError
            raise ValueError(f"{path} is not a readable safetensors file ({err}); the download is truncated or the "
                             "file was edited — fetch the bundle again or re-run training.fit") from None


def load_weights(model_class, source: str | Path, *, exact: bool = True, **kwargs):
    """``model_class.from_pretrained(source, **kwargs)`` that refuses weights that do not fit the architecture: any
    parameter the checkpoint lacks (it would start random: a silent, useless encoder) or holds in another shape, and
    — with ``exact``, for checkpoints jewelrec wrote itself — any tensor the model does not use."""
    model, info = model_class.from_pretrained(source, output_loading_info=True, **kwargs)
    problems = {kind: sorted(map(str, info.get(kind) or ())) for kind in ("missing_keys", "mismatched_keys")}
    if exact:
        problems["unexpected_keys"] = sorted(map(str, info.get("unexpected_keys") or ()))
    problems = {kind.replace("_keys", ""): keys for kind, keys in problems.items() if keys}
    if problems:
        listed = "; ".join(f"{kind} {len(keys)} (e.g. {keys[:3]})" for kind, keys in problems.items())
        raise ValueError(f"{source}: the weights do not fit {model_class.__name__} ({listed}): the checkpoint is "
                         "from another model or was cut short; re-run training.fit, or point at the checkpoint "
                         "this config belongs to")
    return model

def _load_local(directory: Path, config: dict, device: str | None) -> Encoder:
    """The encoders whose weights live in ``directory``."""
    if config.get("model_type") == "clip":  # a whole CLIP checkpoint (a fine-tuned one) in the bundle
        from jewelrec.encoders.clip import ClipEncoder

        return ClipEncoder(str(directory), device=device, local_files_only=True)
    if config.get("type") == "catalog-clip":
        from jewelrec.encoders.catalog_clip import CatalogClipEncoder

        return CatalogClipEncoder.from_pretrained(directory, device=device)
    if config.get("type") == "cnn":
        from jewelrec.encoders.cnn import CnnEncoder

        return CnnEncoder.from_pretrained(directory, device=device)
    raise ValueError(f"{directory}/config.json names encoder type {config.get('type')!r}; "
                     "known types are 'clip', 'catalog-clip' and 'cnn'")
