"""The contrastive trainer shared by the catalog CLIP and CLIP fine-tuning
(:mod:`jewelrec.encoders.catalog_clip_training`): the (image, caption) pairs precomputed once, colour-preserving
augmentation, multi-positive symmetric InfoNCE, and the two stages — joint (both towers and the attribute heads) and
LiT (image tower locked) — each with early stopping on the held-out items.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from jewelrec.catalog.captions import Captions

if TYPE_CHECKING:  # pragma: no cover
    from jewelrec.encoders.catalog_clip_training import CatalogClipConfig


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
        # keyed by position: a column named "type" or "stone.kind" is no valid ModuleDict key (a KeyError traceback)
        self.head_columns = list(data.attributes) if head_dim else []
        self.heads = torch.nn.ModuleDict({f"head_{i}": torch.nn.Linear(head_dim, int(data.attributes[c].max()) + 1)
                                          for i, c in enumerate(self.head_columns)})
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
                                              for col, head in zip(self.head_columns, self.heads.values())
                                              ) / len(self.heads)
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

