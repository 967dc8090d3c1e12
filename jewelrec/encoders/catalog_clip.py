"""Catalog CLIP: a CLIP-style dual encoder trained on a catalog's own (image, caption) pairs, when no pretrained
CLIP can be had — the encoder that embeds with it, and the pixel processing it shares with its trainer. How it is
trained, and how the same trainer fine-tunes a pretrained CLIP on the catalog (the FashionCLIP recipe), is in
:mod:`jewelrec.encoders.catalog_clip_training`.

Saved with ``save_pretrained`` into the bundle's ``encoder/``: ``vision/`` (ResNetModel), ``text/``
(CLIPTextModelWithProjection), the tokenizer and the image processor, and loaded back with ``from_pretrained``
of the same classes. A fine-tuned pretrained CLIP is saved as a whole ``CLIPModel`` checkpoint and served by
:class:`~jewelrec.encoders.clip.ClipEncoder` exactly like one from the Hub.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from jewelrec import jsonio
from jewelrec.devices import pick_device
from jewelrec.encoders.base import (
    ImageLike,
    l2_normalise,
    load_weights,
    text_token_limit,
    to_rgb,
    truncation_note,
)

# --- pixels ------------------------------------------------------------------------------------------------


def make_processor(size: int, mean: Sequence[float] | None = None, std: Sequence[float] | None = None):
    """Resize the short side, centre-crop, normalise with ``mean`` / ``std`` (the catalog's own)."""
    from transformers import CLIPImageProcessorPil

    kwargs: dict[str, Any] = {"do_normalize": mean is not None}
    if mean is not None:
        kwargs.update(image_mean=[float(v) for v in mean], image_std=[float(v) for v in std])
    return CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size}, **kwargs)


def preprocess(images: Sequence[ImageLike], processor, batch: int = 256) -> torch.Tensor:
    """Decode and process every image once: (n, 3, S, S) float32."""
    chunks = [processor(images=[to_rgb(im) for im in images[s:s + batch]], return_tensors="pt")["pixel_values"]
              for s in range(0, len(images), batch)]
    return torch.cat(chunks) if chunks else torch.zeros((0, 3, 1, 1))


# --- the encoder -------------------------------------------------------------------------------------------


class CatalogClipEncoder:
    """Image tower (``ResNetModel``) + text tower (``CLIPTextModelWithProjection``) in one embedding space."""

    kind = "catalog-clip"
    has_text = True

    def __init__(self, vision, text, tokenizer, processor, *, device: str | None = None, batch_size: int = 128,
                 history: dict | None = None, training: dict | None = None):
        self.device = pick_device(device)
        self.vision, self.text = vision.to(self.device).eval(), text.to(self.device).eval()
        self.tokenizer, self.processor, self.batch_size = tokenizer, processor, batch_size
        self.history_, self.training_ = history or {}, training or {}
        self.dim = int(self.text.config.projection_dim)
        self.max_text_tokens = text_token_limit(tokenizer, self.text.config.max_position_embeddings)

    @torch.inference_mode()
    def encode_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """(b, 3, S, S) preprocessed pixels → (b, dim) unnormalised image embeddings."""
        return self.vision(pixel_values=pixels.to(self.device)).pooler_output.flatten(1)

    def encode_images(self, images: Sequence[ImageLike], *, progress: bool = True) -> np.ndarray:
        chunks = [self.encode_pixels(preprocess(images[s:s + self.batch_size], self.processor)).float().cpu().numpy()
                  for s in tqdm(range(0, len(images), self.batch_size), desc="embedding images", unit="batch",
                                disable=not progress)]
        return l2_normalise(np.concatenate(chunks)) if chunks else np.zeros((0, self.dim), np.float32)

    @torch.inference_mode()
    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts, dim) unit vectors. Unknown words ([UNK]) are left out, as :meth:`check_query`'s note tells the
        shopper ("saphire ring" embeds as "ring"), unless nothing else is left."""
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_text_tokens)
        unk, special = self.tokenizer.unk_token_id, set(self.tokenizer.all_special_ids)
        if unk is not None and unk not in (self.tokenizer.bos_token_id, self.tokenizer.eos_token_id):
            special.discard(unk)
            encoded["input_ids"] = [kept if any(t not in special for t in kept) else ids
                                    for ids in encoded["input_ids"] for kept in [[t for t in ids if t != unk]]]
            encoded.pop("attention_mask", None)
        tokens = self.tokenizer.pad({"input_ids": encoded["input_ids"]}, return_tensors="pt")
        out = self.text(input_ids=tokens["input_ids"].to(self.device),
                        attention_mask=tokens["attention_mask"].to(self.device)).text_embeds
        return l2_normalise(out.float().cpu().numpy())  # (n_texts, dim)

    def check_query(self, text: str, examples: int = 6) -> list[str]:
        """Refuse a search ``text`` with no word this catalog's vocabulary knows (ValueError listing some it does,
        and the nearest spelling of a misspelt word). The tokenizer is a WordLevel vocabulary of the captions' words:
        "saphire", "xyzzy" or "💍" are each [UNK], and [BOS] [UNK] [EOS] embeds the same for all of them, so such a
        search would answer one confident, meaningless list. Punctuation alone counts as no word.

        A text it does search returns notes for the shopper: the words it left out as unknown ("saphire ring"
        searches "ring"; did you mean "sapphire"?) and, past the text tower's length, the words cut off."""
        unk = self.tokenizer.unk_token_id
        notes = [note] if (note := truncation_note(self.tokenizer, text, self.max_text_tokens)) else []
        if unk is None or unk in (self.tokenizer.bos_token_id, self.tokenizer.eos_token_id):
            return notes  # no dedicated unknown token (a byte-level BPE spells every text): nothing to check
        room = max(self.max_text_tokens - self.tokenizer.num_special_tokens_to_add(), 1)  # what encode_text reads
        encoded = self.tokenizer(text, add_special_tokens=False, truncation=True, max_length=room,
                                 return_offsets_mapping=True)
        ids = encoded["input_ids"]
        tokens = self.tokenizer.convert_ids_to_tokens(ids)
        words = self._known_words
        # a word past 30 characters is no one's misspelling (and a 1 MB one is not shown whole): named cut short
        unknown = list(dict.fromkeys(text[a:b].lower() if b - a <= 30 else text[a:a + 20].lower() + "…"
                                     for (a, b), i in zip(encoded["offset_mapping"], ids) if i == unk))
        close = {word: match[0] for word in unknown[:5] if not word.endswith("…")
                 and (match := difflib.get_close_matches(word, words, n=1, cutoff=0.75))}
        if any(i != unk and any(ch.isalnum() for ch in token) for i, token in zip(ids, tokens)):
            if unknown:
                shown = ", ".join(f"'{w}'" + (f" (did you mean '{close[w]}'?)" if w in close else "")
                                  for w in unknown[:5])
                more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
                them = "it" if len(unknown) == 1 else "them"
                notes.insert(0, f"searched without {shown}{more}: no piece's description uses {them}")
            return notes
        hint = f"did you mean {', '.join(map(repr, sorted(set(close.values()))))}? " if close else ""
        cut = f" (only its first {room} words are read)" if notes else ""  # a known word past the cut is not seen
        raise ValueError(f"none of those words{cut} are known to this catalog's search (it knows the words in its "
                         f"pieces' descriptions); {hint}try e.g. {', '.join(map(repr, words[:examples]))}")

    @cached_property
    def _known_words(self) -> list[str]:
        """The vocabulary's words, most frequent first (the WordLevel ids are in frequency order)."""
        vocab = sorted(self.tokenizer.get_vocab().items(), key=lambda kv: kv[1])
        return [word for word, _ in vocab if word.isalpha() and word not in self.tokenizer.all_special_tokens]

    def describe(self) -> dict[str, Any]:
        return {"type": "catalog-clip", "dim": self.dim, "vision": "ResNetModel",
                "text": "CLIPTextModelWithProjection", **{k: v for k, v in self.training_.items() if k != "history"}}

    def save_pretrained(self, directory: str | Path) -> None:
        """``encoder/``: config.json (what this is), vision/ + text/ (save_pretrained), tokenizer, image
        processor, training.json (loss curves and the recipe)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.vision.save_pretrained(directory / "vision")
        self.text.save_pretrained(directory / "text")
        self.tokenizer.save_pretrained(directory)
        self.processor.save_pretrained(directory)
        jsonio.write(directory / "config.json", self.describe(), default=None)
        jsonio.write(directory / "training.json", {"history": self.history_, **self.training_})

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, device: str | None = None) -> CatalogClipEncoder:
        from transformers import AutoTokenizer, CLIPImageProcessorPil, CLIPTextModelWithProjection, ResNetModel

        directory = Path(directory)
        for part in ("vision/model.safetensors", "text/model.safetensors", "tokenizer.json"):
            if not (directory / part).is_file():
                raise FileNotFoundError(f"{directory / part} is missing; re-run training.fit to rebuild the encoder")
        kwargs = {"local_files_only": True}
        return cls(load_weights(ResNetModel, directory / "vision", **kwargs),  # both towers exactly as saved
                   load_weights(CLIPTextModelWithProjection, directory / "text", **kwargs),
                   AutoTokenizer.from_pretrained(directory, **kwargs),
                   CLIPImageProcessorPil.from_pretrained(directory, **kwargs), device=device)


# The trainer's names lived in this module before it got its own; they stay importable from here, loaded on first
# use (serving an encoder never imports the training code, and the trainer imports this module: no cycle).
_TRAINING = {name: "jewelrec.encoders.catalog_clip_training"
             for name in ("PAD", "UNK", "BOS", "EOS", "CatalogClipConfig", "train_tokenizer", "catalog_pixels",
                          "train_catalog_clip", "finetune_clip")}
_TRAINING.update({name: "jewelrec.encoders.contrastive"
                  for name in ("augment", "multi_positive_loss", "PairData", "pair_data", "DualTrainer")})


def __getattr__(name: str) -> Any:
    if name in _TRAINING:
        import importlib

        return getattr(importlib.import_module(_TRAINING[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
