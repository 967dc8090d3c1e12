"""CLIP ViT-B/32 embedding throughput (random weights: speed does not depend on them).

    python bench/bench_embed.py [--images 256] [--batch-size 64] [--device cpu|cuda]

End to end = JPEG bytes → CLIPImageProcessor → model, through ClipEncoder.encode_images (DataLoader
workers decode while the model runs); model-only = preprocessed pixels → get_image_features. Prints JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from jewelrec.encoders import ClipEncoder  # noqa: E402


def save_random_vit_b32(directory: Path) -> None:
    """openai/clip-vit-base-patch32's architecture (CLIPConfig defaults) with random weights."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    torch.manual_seed(0)
    CLIPModel(CLIPConfig(projection_dim=512)).save_pretrained(directory)
    CLIPImageProcessorPil(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}).save_pretrained(directory)
    chars = list(bytes_to_unicode().values())
    tokens = ["<|startoftext|>", "<|endoftext|>"] + chars + [c + "</w>" for c in chars]
    CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[]).save_pretrained(directory)


def photos(n: int) -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (480, 480, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        save_random_vit_b32(Path(tmp))
        encoder = ClipEncoder(tmp, device=args.device, batch_size=args.batch_size)
        images = photos(args.images)
        encoder.encode_images(images[: args.batch_size], progress=False)  # warm-up
        start = time.perf_counter()
        encoder.encode_images(images, progress=False)
        end_to_end = args.images / (time.perf_counter() - start)
        pixels = torch.randn(args.batch_size, 3, 224, 224)
        encoder.encode_pixels(pixels)
        n_batches = max(1, args.images // args.batch_size)
        if encoder.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(n_batches):
            encoder.encode_pixels(pixels)
        if encoder.device.type == "cuda":
            torch.cuda.synchronize()
        model_only = n_batches * args.batch_size / (time.perf_counter() - start)
    print(json.dumps({"benchmark": "embed", "model": "ViT-B/32 (random weights)", "device": str(encoder.device),
                      "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "images": args.images,
                      "batch_size": args.batch_size, "jpeg_px": 480,
                      "end_to_end_img_per_s": round(end_to_end, 1), "model_only_img_per_s": round(model_only, 1)},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
