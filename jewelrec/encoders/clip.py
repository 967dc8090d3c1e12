"""Image (and text) encoders behind one small interface.

Every encoder turns images into an (n, d) float32 array of L2-normalised rows, in batches, with a progress
bar. ``ClipEncoder`` wraps a transformers ``CLIPModel``; ``CnnEncoder`` (jewelrec.encoders.cnn) is trained on the
catalog's own labels when no CLIP weights are available. ``choose_encoder`` implements ``--encoder auto``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from jewelrec import jsonio
from jewelrec.defaults import DEFAULT_CLIP
from jewelrec.devices import pick_device
from jewelrec.encoders.base import (
    ImageLike,
    l2_normalise,
    load_weights,
    text_token_limit,
    to_rgb,
    truncation_note,
)

log = logging.getLogger(__name__)



class _Pixels(Dataset):
    """Decode + preprocess in DataLoader workers so JPEG decoding overlaps the model."""

    def __init__(self, images: Sequence[ImageLike], preprocess):
        self.images, self.preprocess = images, preprocess

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.preprocess(to_rgb(self.images[i]))


def default_workers(n_images: int, batch_size: int) -> int:
    """Workers only pay off once there are several batches; never more than the cores we have."""
    if n_images <= 2 * batch_size:
        return 0
    return max(0, min(8, (os.cpu_count() or 1) - 1))


class ClipEncoder:
    """CLIP image + text towers from transformers, loaded with ``from_pretrained`` (Hub id or local dir)."""

    kind = "clip"
    has_text = True

    def __init__(self, model: str = DEFAULT_CLIP, *, revision: str | None = None, device: str | None = None,
                 batch_size: int = 64, num_workers: int | None = None, local_files_only: bool = False):
        from transformers import AutoTokenizer, CLIPImageProcessorPil, CLIPModel

        self.model_id, self.revision = str(model), revision
        self.batch_size, self.num_workers = batch_size, num_workers
        self.device = pick_device(device)
        kwargs: dict[str, Any] = {"revision": revision, "local_files_only": local_files_only}
        # a parameter the checkpoint lacks would start random; extra tensors (another head) are the Hub's norm
        self.model = load_weights(CLIPModel, self.model_id, exact=False, **kwargs).eval().to(self.device)
        self.processor = CLIPImageProcessorPil.from_pretrained(self.model_id, **kwargs)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_id, **kwargs)
        self.max_text_tokens = text_token_limit(self.tokenizer, self.model.config.text_config.max_position_embeddings)
        self.dim = int(self.model.config.projection_dim)
        self.finetuned_: dict[str, Any] | None = None  # set by jewelrec.encoders.catalog_clip_training.finetune_clip
        # bf16 where the GPU has it (no loss scaling needed for inference), fp16 on older GPUs, fp32 on CPU
        self.autocast_dtype = None
        if self.device.type == "cuda":
            self.autocast_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    def _preprocess(self, image: Image.Image) -> torch.Tensor:
        return self.processor(images=image, return_tensors="pt")["pixel_values"][0]  # (3, H, W)

    def _autocast(self):
        if self.autocast_dtype is None:
            return torch.autocast("cpu", enabled=False)
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def encode_pixels(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Model-only path: (batch, 3, H, W) preprocessed pixels → (batch, dim) unnormalised features."""
        with torch.inference_mode(), self._autocast():
            return self.model.get_image_features(pixel_values=pixel_values.to(self.device)).pooler_output

    def encode_images(self, images: Sequence[ImageLike], *, progress: bool = True) -> np.ndarray:
        workers = self.num_workers if self.num_workers is not None else default_workers(len(images),
                                                                                         self.batch_size)
        loader = DataLoader(_Pixels(images, self._preprocess), batch_size=self.batch_size,
                            num_workers=workers, pin_memory=self.device.type == "cuda",
                            persistent_workers=False)
        chunks = [self.encode_pixels(batch).float().cpu().numpy()
                  for batch in tqdm(loader, desc="embedding images", unit="batch", disable=not progress)]
        if not chunks:
            return np.zeros((0, self.dim), np.float32)
        return l2_normalise(np.concatenate(chunks))  # (n, dim)

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        tokens = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_text_tokens,
                                return_tensors="pt")
        with torch.inference_mode(), self._autocast():
            features = self.model.get_text_features(**{k: v.to(self.device) for k, v in tokens.items()})
        return l2_normalise(features.pooler_output.float().cpu().numpy())  # (n_texts, dim)

    def check_query(self, text: str) -> list[str]:
        """Notes on a search text: CLIP's byte-level BPE spells any text, so the only one is words past its
        ``max_text_tokens`` (77 for OpenAI's checkpoints), which ``encode_text`` cuts off."""
        note = truncation_note(self.tokenizer, text, self.max_text_tokens)
        return [note] if note else []

    def describe(self) -> dict[str, Any]:
        described = {"type": "clip", "model": self.model_id, "revision": self.revision, "dim": self.dim}
        if self.finetuned_:
            described.update(finetuned=True, model=self.finetuned_["base"], revision=self.finetuned_["revision"])
        return described

    def save_pretrained(self, directory: str | Path) -> None:
        """A pretrained CLIP stays on the Hub: the bundle records which model and revision to load. A fine-tuned
        one is written whole — the checkpoint (``save_pretrained``), its tokenizer and image processor — and
        loads back with ``ClipEncoder(directory)`` like any local checkpoint."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.finetuned_:
            self.model.save_pretrained(directory)
            self.tokenizer.save_pretrained(directory)
            self.processor.save_pretrained(directory)
            history = {k: v for k, v in self.finetuned_.items() if k != "history"}
            jsonio.write(directory / "training.json", {**history, "history": self.finetuned_["history"]})
            return
        jsonio.write(directory / "config.json", self.describe(), default=None)


def clip_available(model: str, revision: str | None = None) -> tuple[bool, str]:
    """Whether CLIP weights for ``model`` can be loaded now, and why not when they cannot."""
    from huggingface_hub import HfApi, try_to_load_from_cache
    from huggingface_hub.constants import HF_HUB_OFFLINE

    if Path(model).is_dir():
        found = (Path(model) / "model.safetensors").is_file()  # safetensors only: a .bin would need pickle
        return found, "" if found else f"{model} holds no model.safetensors"
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        return False, f"{model} is not a directory holding a CLIP checkpoint"
    try:
        cached = try_to_load_from_cache(model, "config.json", revision=revision)
    except ValueError as err:  # not a valid Hub id either
        return False, f"{model!r} is neither a local directory nor a Hub model id ({err})"
    if isinstance(cached, str):
        return True, ""
    if HF_HUB_OFFLINE:
        return False, f"{model} is not in the local Hub cache and HF_HUB_OFFLINE is set"
    try:
        HfApi().model_info(model, revision=revision, timeout=5)
    except Exception as err:  # any failure to reach or find it means: fall back
        return False, f"the Hub cannot be reached for {model} ({type(err).__name__}: {err})"
    return True, ""
