"""Catalog CLIP: a CLIP-style dual encoder trained on a catalog's own (image, caption) pairs, when no pretrained
CLIP can be had — and the same trainer fine-tuning a pretrained CLIP on the catalog (the FashionCLIP recipe).

Recipe (measured on the sample catalog, bench/bench_encoders.py; why in bench/README.md):

1. Image tower: a small transformers ``ResNetModel`` (batch-norm convolutions keep colour, which metal and
   stones need; ConvNeXt's per-pixel LayerNorm and a tiny ViT learned metal far more slowly here). Trained
   jointly with the text tower by **multi-positive** symmetric InfoNCE — items that share a caption ("gold ring")
   are positives of each other, not negatives — plus one cross-entropy head per attribute column (category,
   metal, gemstone …: the multi-attribute variant; heads are dropped after training). Pixels are normalised with
   the catalog's own mean/std (with CLIP's, light-backdrop photos start out indistinguishable and the loss
   collapses) and augmented without touching colour: random resized crops, flips, small rotations.
2. LiT: the image tower is locked, its embeddings cached, and the text tower trained on against them — cheap,
   so it runs many more steps than the joint stage.
3. Early stopping on a held-out 10 % of the items in both stages; the best weights are kept.

The tokenizer is a WordLevel model trained on the captions with Hugging Face ``tokenizers``. Saved with
``save_pretrained`` into the bundle's ``encoder/``: ``vision/`` (ResNetModel), ``text/``
(CLIPTextModelWithProjection), the tokenizer and the image processor, and loaded back with ``from_pretrained``
of the same classes. A fine-tuned pretrained CLIP is saved as a whole ``CLIPModel`` checkpoint and served by
:class:`~jewelrec.encoders.clip.ClipEncoder` exactly like one from the Hub.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from jewelrec.catalog.captions import Captions
from jewelrec.devices import cpu_threads, pick_device
from jewelrec.encoders.base import ImageLike, l2_normalise, to_rgb

log = logging.getLogger(__name__)
PAD, UNK, BOS, EOS = "[PAD]", "[UNK]", "[BOS]", "[EOS]"  # ids 0..3; EOS must not be 2 (CLIPTextModel pooling)


@dataclass
class CatalogClipConfig:
    image_size: int = 64  # product photos are centred objects; 64 px keeps a CPU epoch to about a second
    widths: tuple[int, ...] = (32, 64, 128, 128)  # ResNet stage widths; the last is the embedding size
    text_width: int = 64  # captions are a few dozen words of vocabulary: a narrow, shallow text tower suffices
    text_layers: int = 2
    text_heads: int = 4
    max_length: int = 32  # tokens per caption, [BOS] and [EOS] included
    epochs: int = 30  # joint stage, at most; early stopping usually ends it sooner
    patience: int = 6  # joint epochs without a better held-out loss before stopping
    text_steps: int = 400  # LiT stage, at most: cached image embeddings make a step ~10 ms
    batch_size: int = 32  # small batches: more steps per second on 2 cores, same accuracy as 128 (measured)
    lr: float = 2e-3
    weight_decay: float = 0.05
    head_weight: float = 1.0  # attribute heads' cross-entropy next to the contrastive loss
    val_fraction: float = 0.1
    crop_scale: tuple[float, float] = (0.7, 1.0)  # area kept by the random resized crop
    max_rotate_deg: float = 10.0
    time_budget_s: float = 60.0  # wall-clock cap for both stages (training.fit --clip-seconds); keeps the fit ≤ 120 s
    threads: int | None = 1  # small convolutions: one torch thread is steady on a shared CPU (bench/README.md)
    seed: int = 0

    def __post_init__(self) -> None:
        self.widths, self.crop_scale = tuple(self.widths), tuple(self.crop_scale)


# --- text --------------------------------------------------------------------------------------------------


def train_tokenizer(captions: Sequence[Sequence[str]], max_length: int = 32):
    """A WordLevel tokenizer over the captions' words, as a ``PreTrainedTokenizerFast`` (``AutoTokenizer``
    loads it back). Every encoding is ``[BOS] words [EOS]``, padded with ``[PAD]`` on the right."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator((c for item in captions for c in item),
                            trainers.WordLevelTrainer(special_tokens=[PAD, UNK, BOS, EOS]))
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, tok.token_to_id(BOS)), (EOS, tok.token_to_id(EOS))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   unk_token=UNK, model_max_length=max_length, padding_side="right")


def _text_model(tokenizer, config: CatalogClipConfig):
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    # transformers 5 pools at the first token == eos_token_id (unless it is 2): so ids come from our tokenizer
    text = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=config.text_width,
                          intermediate_size=4 * config.text_width, num_hidden_layers=config.text_layers,
                          num_attention_heads=config.text_heads, max_position_embeddings=config.max_length,
                          projection_dim=config.widths[-1], pad_token_id=tokenizer.pad_token_id,
                          bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    return CLIPTextModelWithProjection(text)


def _vision_model(config: CatalogClipConfig):
    from transformers import ResNetConfig, ResNetModel

    return ResNetModel(ResNetConfig(num_channels=3, embedding_size=config.widths[0], hidden_sizes=list(config.widths),
                                    depths=[1] * len(config.widths), layer_type="basic",
                                    downsample_in_first_stage=False))


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


def catalog_pixels(images: Sequence[ImageLike], size: int):
    """(processor normalised with the catalog's per-channel mean / std, the (n, 3, S, S) pixels it gives)."""
    raw = preprocess(images, make_processor(size))  # (n, 3, S, S) in [0, 1]
    mean, std = raw.mean(dim=(0, 2, 3)), raw.std(dim=(0, 2, 3)).clamp_min(1e-3)  # (3,)
    return make_processor(size, mean.tolist(), std.tolist()), (raw - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)


def augment(x: torch.Tensor, gen: torch.Generator, crop_scale: tuple[float, float], max_rotate_deg: float):
    """Random resized crop + horizontal flip + small rotation as one affine warp; colours untouched.
    (b, 3, S, S) → (b, 3, S, S)."""
    b = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=gen)

    side = uniform(*crop_scale).sqrt()  # crop side as a fraction of the image
    angle = uniform(-max_rotate_deg, max_rotate_deg) * math.pi / 180
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    tx, ty = uniform(-1, 1) * (1 - side), uniform(-1, 1) * (1 - side)  # the crop stays inside the image
    cos, sin = torch.cos(angle) * side, torch.sin(angle) * side
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (b, S, S, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def multi_positive_loss(image: torch.Tensor, text: torch.Tensor, positive: torch.Tensor,
                        scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE with soft targets. image (b_i, d), text (b_t, d): unit rows; positive (b_i, b_t) bool:
    caption j describes image i. Image→text targets are positive's rows normalised, text→image its columns."""
    logits = scale * image @ text.T  # (b_i, b_t)
    p = positive.float()
    rows, cols = p.sum(1) > 0, p.sum(0) > 0
    i2t = -(p[rows] / p[rows].sum(1, keepdim=True) * F.log_softmax(logits[rows], 1)).sum(1).mean()
    t2i = -(p[:, cols] / p[:, cols].sum(0, keepdim=True) * F.log_softmax(logits[:, cols], 0)).sum(0).mean()
    return (i2t + t2i) / 2


# --- training ----------------------------------------------------------------------------------------------


@dataclass
class PairData:
    """Everything the trainer needs, precomputed once: pixels, tokenised distinct captions and which items
    each caption describes, attribute codes for the heads, and the held-out split."""

    pixels: torch.Tensor  # (n, 3, S, S)
    input_ids: torch.Tensor  # (n_captions, L)
    attention_mask: torch.Tensor  # (n_captions, L)
    member: torch.Tensor  # (n, n_captions) bool
    variants: list[list[int]]  # caption ids per item ([] = no caption: not trained on)
    attributes: dict[str, torch.Tensor] = field(default_factory=dict)  # column → (n,) class codes
    train: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    val: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))


def pair_data(pixels: torch.Tensor, captions: Captions, tokenizer, attributes: dict[str, Sequence[str]],
              val_fraction: float, seed: int, max_length: int) -> PairData:
    distinct = sorted({c for item in captions.variants for c in item})
    index = {c: j for j, c in enumerate(distinct)}
    tokens = tokenizer(distinct, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    member = torch.zeros((len(captions.variants), len(distinct)), dtype=torch.bool)
    variants = [[index[c] for c in item] for item in captions.variants]
    for i, ids in enumerate(variants):
        member[i, ids] = True
    codes = {}
    for column, values in attributes.items():
        _, inverse = np.unique(np.asarray(values, dtype=str), return_inverse=True)
        codes[column] = torch.as_tensor(inverse, dtype=torch.long)
    usable = np.flatnonzero([bool(v) for v in variants])
    rng = np.random.default_rng(seed)
    rng.shuffle(usable)
    n_val = max(1, int(round(val_fraction * len(usable)))) if len(usable) >= 10 else 0
    return PairData(pixels=pixels, input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                    member=member, variants=variants, attributes=codes,
                    train=torch.as_tensor(usable[n_val:]), val=torch.as_tensor(usable[:n_val]))


class DualTrainer:
    """The contrastive loop shared by the catalog CLIP and fine-tuning: ``image_fn(pixels) → (b, d)`` and
    ``text_fn(ids, mask) → (b, d)`` unnormalised, attribute heads on ``pooled_fn(pixels)``."""

    def __init__(self, data: PairData, config: CatalogClipConfig, *, image_fn: Callable, text_fn: Callable,
                 modules: dict[str, torch.nn.Module], scale: torch.nn.Parameter, head_dim: int | None):
        self.data, self.config, self.image_fn, self.text_fn = data, config, image_fn, text_fn
        self.modules, self.scale = modules, scale
        self.heads = torch.nn.ModuleDict({c: torch.nn.Linear(head_dim, int(v.max()) + 1)
                                          for c, v in data.attributes.items()}) if head_dim else torch.nn.ModuleDict()
        self.gen = torch.Generator().manual_seed(config.seed)
        self.history: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "text_val_loss": []}

    def _text(self, caption_ids: torch.Tensor) -> torch.Tensor:
        mask = self.data.attention_mask[caption_ids]
        width = int(mask.sum(1).max())
        return F.normalize(self.text_fn(self.data.input_ids[caption_ids][:, :width], mask[:, :width]), dim=-1)

    def _loss(self, rows: torch.Tensor, *, augment_pixels: bool) -> torch.Tensor:
        c = self.config
        pixels = self.data.pixels[rows]
        if augment_pixels:
            pixels = augment(pixels, self.gen, c.crop_scale, c.max_rotate_deg)
        image, pooled = self.image_fn(pixels)  # (b, d), (b, d_pool)
        picked = torch.as_tensor([self.data.variants[int(r)][int(torch.randint(len(self.data.variants[int(r)]),
                                                                              (1,), generator=self.gen))]
                                  for r in rows])  # (b,) one caption variant per image
        captions = torch.unique(picked)
        loss = multi_positive_loss(F.normalize(image, dim=-1), self._text(captions),
                                   self.data.member[rows][:, captions], self.scale.exp().clamp(max=100))
        if self.heads:
            loss = loss + c.head_weight * sum(F.cross_entropy(head(pooled), self.data.attributes[col][rows])
                                              for col, head in self.heads.items()) / len(self.heads)
        return loss

    def _params(self) -> list[torch.nn.Parameter]:
        """Every trainable parameter once (a fine-tuned CLIP's logit scale is also one of its own parameters)."""
        params = [p for m in [*self.modules.values(), self.heads] for p in m.parameters() if p.requires_grad]
        return list({id(p): p for p in [*params, self.scale]}.values())

    def _train(self, modules: list[torch.nn.Module], flag: bool) -> None:
        for m in [*modules, self.heads]:
            m.train(flag)

    def joint(self, started: float, progress: bool) -> None:
        """Both towers (and heads) on augmented pixels, early stopping on the held-out items' loss."""
        c, data = self.config, self.data
        params = self._params()
        opt = torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay, betas=(0.9, 0.98))
        steps_per_epoch = max(1, math.ceil(len(data.train) / c.batch_size))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=c.lr, total_steps=c.epochs * steps_per_epoch,
                                                    pct_start=0.1)
        best, best_state, stale = math.inf, None, 0
        bar = tqdm(range(c.epochs), desc="catalog CLIP (joint)", unit="epoch", disable=not progress)
        for _ in bar:
            self._train(list(self.modules.values()), True)
            order = data.train[torch.randperm(len(data.train), generator=self.gen)]
            total = 0.0
            for s in range(0, len(order), c.batch_size):
                loss = self._loss(order[s:s + c.batch_size], augment_pixels=True)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                sched.step()
                total += loss.item()
            self.history["train_loss"].append(total / steps_per_epoch)
            val = self.validate()
            self.history["val_loss"].append(val)
            bar.set_postfix(loss=f"{total / steps_per_epoch:.3f}", val=f"{val:.3f}")
            if val < best - 1e-3:
                best, stale = val, 0
                best_state = {k: copy.deepcopy(m.state_dict()) for k, m in self.modules.items()}
            else:
                stale += 1
            if stale >= c.patience or time.perf_counter() - started > 0.8 * c.time_budget_s:
                break
        if best_state is not None:
            for k, m in self.modules.items():
                m.load_state_dict(best_state[k])

    @torch.no_grad()
    def validate(self) -> float:
        if not len(self.data.val):
            return float(self.history["train_loss"][-1]) if self.history["train_loss"] else 0.0
        self._train(list(self.modules.values()), False)
        state = self.gen.get_state()
        loss = self._loss(self.data.val, augment_pixels=False).item()
        self.gen.set_state(state)  # validation must not shift the training draws
        return loss

    def lit(self, text_modules: list[torch.nn.Module], started: float, progress: bool) -> None:
        """Image tower locked: cache its embeddings, train the text side on every caption against them."""
        c, data = self.config, self.data
        self._train(list(self.modules.values()), False)
        with torch.no_grad():
            images = torch.cat([F.normalize(self.image_fn(data.pixels[s:s + 256])[0], dim=-1)
                                for s in range(0, len(data.pixels), 256)])  # (n, d)
        params = [p for m in text_modules for p in m.parameters()] + [self.scale]
        opt = torch.optim.AdamW(params, lr=c.lr / 2, weight_decay=c.weight_decay, betas=(0.9, 0.98))
        n_captions = data.member.shape[1]
        best, best_state, stale = math.inf, None, 0
        bar = tqdm(range(c.text_steps), desc="catalog CLIP (LiT text)", unit="step", disable=not progress)
        for step in bar:
            for m in text_modules:
                m.train()
            captions = torch.randperm(n_captions, generator=self.gen)[:4 * c.batch_size]
            loss = multi_positive_loss(images[data.train], self._text(captions), data.member[data.train][:, captions],
                                       self.scale.exp().clamp(max=100))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            if step % 20 == 19 and len(data.val):
                for m in text_modules:
                    m.eval()
                with torch.no_grad():
                    val = float(multi_positive_loss(images[data.val], self._text(torch.arange(n_captions)),
                                                    data.member[data.val], self.scale.exp().clamp(max=100)))
                self.history["text_val_loss"].append(val)
                bar.set_postfix(val=f"{val:.3f}")
                if val < best - 1e-3:
                    best, stale = val, 0
                    best_state = [copy.deepcopy(m.state_dict()) for m in text_modules]
                else:
                    stale += 1
                if stale >= 5:
                    break
            if time.perf_counter() - started > c.time_budget_s:
                break
        if best_state is not None:
            for m, state in zip(text_modules, best_state):
                m.load_state_dict(state)


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
        tokens = self.tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
        out = self.text(input_ids=tokens["input_ids"].to(self.device),
                        attention_mask=tokens["attention_mask"].to(self.device)).text_embeds
        return l2_normalise(out.float().cpu().numpy())  # (n_texts, dim)

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
        (directory / "config.json").write_text(json.dumps(self.describe(), indent=2, sort_keys=True) + "\n")
        (directory / "training.json").write_text(json.dumps({"history": self.history_, **self.training_},
                                                            indent=2, sort_keys=True, default=str) + "\n")

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, device: str | None = None) -> CatalogClipEncoder:
        from transformers import AutoTokenizer, CLIPImageProcessorPil, CLIPTextModelWithProjection, ResNetModel

        directory = Path(directory)
        for part in ("vision/model.safetensors", "text/model.safetensors", "tokenizer.json"):
            if not (directory / part).is_file():
                raise FileNotFoundError(f"{directory / part} is missing; re-run training.fit to rebuild the encoder")
        kwargs = {"local_files_only": True}
        return cls(ResNetModel.from_pretrained(directory / "vision", **kwargs),
                   CLIPTextModelWithProjection.from_pretrained(directory / "text", **kwargs),
                   AutoTokenizer.from_pretrained(directory, **kwargs),
                   CLIPImageProcessorPil.from_pretrained(directory, **kwargs), device=device)


def _attribute_labels(captions: Captions, items) -> dict[str, list[str]]:
    from jewelrec.serving.naming import attribute_columns

    usable = [c for c in attribute_columns(items) if c in captions.columns and items[c].nunique() >= 2]
    return {c: items[c].astype(str).tolist() for c in usable}


def train_catalog_clip(images: Sequence[ImageLike], captions: Captions, items, *,
                       config: CatalogClipConfig | None = None, device: str | None = None,
                       progress: bool = True) -> CatalogClipEncoder:
    """Train the catalog CLIP on ``images`` and their ``captions`` (built from ``items``, the metadata
    DataFrame, whose attribute columns also feed the heads). Items without a caption are embedded, not trained on."""
    config = config or CatalogClipConfig()
    torch.manual_seed(config.seed)
    run_device = pick_device(device)
    started = time.perf_counter()
    with cpu_threads(run_device, config.threads):
        tokenizer = train_tokenizer([v for v in captions.variants if v], config.max_length)
        processor, pixels = catalog_pixels(images, config.image_size)
        data = pair_data(pixels, captions, tokenizer, _attribute_labels(captions, items), config.val_fraction,
                         config.seed, config.max_length)
        if len(data.train) < 2:
            raise ValueError(f"only {len(data.train)} items have a caption; the catalog CLIP needs a few dozen "
                             "(use --encoder cnn, or --caption-columns to pick columns that hold text)")
        vision, text = _vision_model(config), _text_model(tokenizer, config)
        scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's initial temperature

        def image_fn(px: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            pooled = vision(pixel_values=px).pooler_output.flatten(1)  # (b, widths[-1])
            return pooled, pooled

        def text_fn(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return text(input_ids=ids, attention_mask=mask).text_embeds  # (b, widths[-1])

        trainer = DualTrainer(data, config, image_fn=image_fn, text_fn=text_fn,
                              modules={"vision": vision, "text": text}, scale=scale, head_dim=config.widths[-1])
        trainer.joint(started, progress)
        trainer.lit([text], started, progress)
    seconds = round(time.perf_counter() - started, 1)
    training = {"recipe": asdict(config), "captions": {"columns": captions.columns, "template": captions.template,
                                                       "distinct": int(data.member.shape[1]),
                                                       "skipped": captions.skipped},
                "heads": sorted(data.attributes), "train_items": int(len(data.train)),
                "val_items": int(len(data.val)), "train_seconds": seconds,
                "epochs_run": len(trainer.history["train_loss"])}
    log.info("catalog CLIP trained in %.1fs (%d joint epochs)", seconds, training["epochs_run"])
    return CatalogClipEncoder(vision, text, tokenizer, processor, device=device, history=trainer.history,
                              training=training)


def finetune_clip(model: str, images: Sequence[ImageLike], captions: Captions, items, *,
                  revision: str | None = None, config: CatalogClipConfig | None = None, device: str | None = None,
                  progress: bool = True):
    """Fine-tune a pretrained CLIP (Hub id or local directory) on the catalog with the same trainer; returns a
    :class:`~jewelrec.encoders.clip.ClipEncoder` whose ``save_pretrained`` writes the whole checkpoint."""
    from jewelrec.encoders.clip import ClipEncoder

    config = config or CatalogClipConfig()
    torch.manual_seed(config.seed)
    encoder = ClipEncoder(model, revision=revision, device=device)
    clip = encoder.model.float().train()
    started = time.perf_counter()
    with cpu_threads(encoder.device, config.threads):
        pixels = preprocess(images, encoder.processor)  # the checkpoint's own processor and statistics
        data = pair_data(pixels, captions, encoder.tokenizer, _attribute_labels(captions, items),
                         config.val_fraction, config.seed, int(clip.config.text_config.max_position_embeddings))

        def image_fn(px: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = clip.get_image_features(pixel_values=px.to(encoder.device)).pooler_output  # (b, projection_dim)
            return out, out

        def text_fn(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return clip.get_text_features(input_ids=ids.to(encoder.device),
                                          attention_mask=mask.to(encoder.device)).pooler_output

        trainer = DualTrainer(data, config, image_fn=image_fn, text_fn=text_fn, modules={"clip": clip},
                              scale=clip.logit_scale, head_dim=int(clip.config.projection_dim))
        trainer.joint(started, progress)
    clip.eval()
    encoder.finetuned_ = {"base": model, "revision": revision, "history": trainer.history,
                          "train_seconds": round(time.perf_counter() - started, 1)}
    return encoder
