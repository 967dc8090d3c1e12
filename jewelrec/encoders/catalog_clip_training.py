"""Training the catalog CLIP (:class:`~jewelrec.encoders.catalog_clip.CatalogClipEncoder`) on a catalog's own
(image, caption) pairs — and the same trainer (:class:`~jewelrec.encoders.contrastive.DualTrainer`) fine-tuning a
pretrained CLIP on the catalog (the FashionCLIP recipe).

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

The tokenizer is a WordLevel model trained on the captions with Hugging Face ``tokenizers``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from jewelrec.catalog.captions import Captions
from jewelrec.devices import cpu_threads, pick_device
from jewelrec.encoders.base import ImageLike
from jewelrec.encoders.catalog_clip import CatalogClipEncoder, make_processor, preprocess
from jewelrec.encoders.contrastive import DualTrainer, pair_data

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


def catalog_pixels(images: Sequence[ImageLike], size: int):
    """(processor normalised with the catalog's per-channel mean / std, the (n, 3, S, S) pixels it gives)."""
    raw = preprocess(images, make_processor(size))  # (n, 3, S, S) in [0, 1]
    mean, std = raw.mean(dim=(0, 2, 3)), raw.std(dim=(0, 2, 3)).clamp_min(1e-3)  # (3,)
    return make_processor(size, mean.tolist(), std.tolist()), (raw - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)


# --- training ----------------------------------------------------------------------------------------------


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
