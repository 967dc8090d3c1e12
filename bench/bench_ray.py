"""``training.fit --engine ray`` vs the single-process engine, and the Ray engine as the catalog grows.

    python bench/bench_ray.py [--equal-items 2000] [--scale-items 10000 20000] [--arch small|vit-b32]
                              [--batch-size 64] [--skip-decode] [--skip-equal] [--skip-scale] [--scale-local]

0. Per core, the CPU work a picture needs outside the model (full-decode check, thumbnail, CLIP preprocessing),
   on the sample's pictures and on 1000-px photos: what bounds a node (docs/cluster.md).

1. The same ``--equal-items`` sample catalog (``--dataset sample --sample-items N``) fitted by ``--engine local`` and
   ``--engine ray`` one after the other (a local Ray started in the fit's process, all cores), with a pretrained
   CLIP (``--encoder clip --model DIR``: random weights, speed does not depend on them) and fixed styles
   (``--method kmeans --clusters 8``): wall time, their ratio, peak RSS.
2. The Ray engine on ``--scale-items`` catalogs: parquet files of 1,000-row row groups made by repeating the
   ``--equal-items`` sample's pictures under new ids (drawing 20k procedural pictures would take ~15 min here; the
   decode work per row is the same): images per second through read → decode/validate/thumbnail → embed → shards →
   gather, and peak RSS — the driver's should stay flat as the catalog grows.

Every fit runs as its own ``python -m training.fit`` process, sampled every 0.1 s from /proc (Linux): ``driver`` is that
process's peak RSS, ``all`` the peak of the summed RSS of it and every process under it (the Ray head's GCS,
raylet and workers; shared pages such as Ray's object store are counted once per process that maps them, so
``all`` overstates). ``--arch small``: a CLIP with ViT-B/32's input (224 px, patch 32) but 4 layers of width 256,
so the pipeline and not the model dominates; ``vit-b32``: the real architecture. One JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def save_clip(directory: Path, arch: str) -> None:
    """A CLIP checkpoint with random weights: ``vit-b32`` (CLIPConfig defaults) or ``small`` (same input)."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    tokens = ["<|startoftext|>", "<|endoftext|>"] + chars + [c + "</w>" for c in chars]
    CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[]).save_pretrained(directory)
    torch.manual_seed(0)
    if arch == "vit-b32":
        config = CLIPConfig(projection_dim=512)
    else:
        config = CLIPConfig(
            text_config={"vocab_size": len(tokens), "hidden_size": 128, "intermediate_size": 256,
                         "num_hidden_layers": 2, "num_attention_heads": 4, "bos_token_id": 0, "eos_token_id": 1,
                         "pad_token_id": 1},
            vision_config={"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 4,
                           "num_attention_heads": 4, "image_size": 224, "patch_size": 32},
            projection_dim=128)
    CLIPModel(config).save_pretrained(directory)
    CLIPImageProcessorPil(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}).save_pretrained(directory)


def repeated_catalog(sample_items: int, n: int, folder: Path, seed: int = 0) -> Path:
    """``n`` rows made of the sample's pictures and metadata, repeated under new ids, in 1,000-row row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from jewelrec.catalog.sample import build_sample

    base = pq.read_table(build_sample(sample_items, seed=seed))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"catalog-{n}.parquet"
    with pq.ParquetWriter(path, base.schema) as writer:
        for start in range(0, n, 1000):
            rows = [(start + i) % base.num_rows for i in range(min(1000, n - start))]
            block = base.take(pa.array(rows))
            ids = pa.array([f"{block.column('item_id')[i].as_py()}-r{(start + i) // base.num_rows}"
                            for i in range(block.num_rows)])
            writer.write_table(block.set_column(block.schema.get_field_index("item_id"), "item_id", ids))
    return path


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


def decode_per_core(clip_dir: Path, sample_items: int, n: int = 200) -> dict:
    """The CPU work per picture outside the model, on one core: what bounds a node's img/s (docs/cluster.md).

    Per picture: the catalog's full-decode check (``validate_image``), the thumbnail, and the CLIP processor's
    decode + resize + crop + normalise — the Ray engine's CPU task and actor preprocessing. Measured on the sample's
    224-px pictures and on 1000-px JPEG photos (a gradient + light noise at quality 90, ~110 KB: a product photo's size)."""
    import io

    import numpy as np
    import pyarrow.parquet as pq
    import torch
    from PIL import Image

    from jewelrec.catalog import validate_image
    from jewelrec.catalog.sample import build_sample
    from jewelrec.catalog.thumbnail import thumbnail
    from jewelrec.encoders import ClipEncoder, to_rgb

    torch.set_num_threads(1)
    encoder = ClipEncoder(str(clip_dir), device="cpu", num_workers=0)
    sample = [r["bytes"] for r in pq.read_table(build_sample(sample_items, seed=0), columns=["image"])
              .column("image").to_pylist()[:n]]
    rng = np.random.default_rng(0)
    photos = []
    for _ in range(max(20, n // 4)):
        ramp = np.linspace(0, 255, 1000)[None, :, None] * np.ones((1000, 1, 3))
        pixels = np.clip(ramp + rng.normal(0, 3, (1000, 1000, 3)), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
        photos.append(buf.getvalue())
    rates = {}
    for name, images in (("sample_224px", sample), ("photo_1000px", photos)):
        start = time.perf_counter()
        for data in images:
            assert validate_image(data) is None
            thumbnail(data)
            encoder._preprocess(to_rgb(data))
        rates[name] = round(len(images) / (time.perf_counter() - start), 1)
    return {"img_per_s_per_core": rates, "images": {"sample_224px": len(sample), "photo_1000px": len(photos)}}


def run_fit(args: list[str], out: Path) -> dict:
    """One ``training.fit`` process: wall seconds, peak RSS (driver / whole tree), the bundle's stage timings."""
    command = [sys.executable, "-m", "training.fit", *args, "--out", str(out)]
    start = time.perf_counter()
    log = open(out.with_name(f"{out.name}.log"), "w+")  # a file, not a pipe: Ray's progress bars would fill it
    proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
    driver_peak = tree_peak = 0
    while proc.poll() is None:
        driver = _rss(proc.pid)
        tree = driver + sum(_rss(child) for child in _descendants(proc.pid))
        driver_peak, tree_peak = max(driver_peak, driver), max(tree_peak, tree)
        time.sleep(0.1)
    wall = time.perf_counter() - start
    log.seek(0)
    output = log.read()
    log.close()
    if proc.returncode != 0:
        raise SystemExit(f"fit failed ({proc.returncode}): {' '.join(command)}\n{output[-3000:]}")
    config = json.loads((out / "config.json").read_text())
    timings = config["fit"]["timings_s"]
    n = config["dataset"]["items"]
    embed_s = sum(timings.get(k, 0.0) for k in ("load catalog", "encode", "gather"))
    return {"items": n, "wall_s": round(wall, 1), "timings_s": timings,
            "embed_img_per_s": round(n / embed_s, 1) if embed_s else None,
            "driver_peak_rss_mb": round(driver_peak / 2**20), "all_peak_rss_mb": round(tree_peak / 2**20)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--equal-items", type=int, default=2000, help="sample catalog size for local vs ray")
    p.add_argument("--scale-items", type=int, nargs="*", default=[10000, 20000], help="catalog sizes for ray alone")
    p.add_argument("--arch", choices=("small", "vit-b32"), default="small", help="CLIP architecture (random weights)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--skip-equal", action="store_true")
    p.add_argument("--skip-scale", action="store_true")
    p.add_argument("--scale-local", action="store_true", help="also run the local engine at the scale sizes")
    p.add_argument("--skip-decode", action="store_true", help="skip the per-core decode measurement")
    args = p.parse_args(argv)

    result: dict = {"benchmark": "ray_fit", "arch": args.arch, "cpus": os.cpu_count(),
                    "load_avg_before": [round(x, 2) for x in os.getloadavg()], "batch_size": args.batch_size}
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        tmp = Path(tmp)
        save_clip(tmp / "clip", args.arch)
        common = ["--encoder", "clip", "--model", str(tmp / "clip"), "--method", "kmeans", "--clusters", "8",
                  "--batch-size", str(args.batch_size)]
        from jewelrec.catalog.sample import build_sample

        build_sample(args.equal_items, seed=0)  # drawn (or found in the cache) before any timing
        if not args.skip_decode:
            result["decode"] = decode_per_core(tmp / "clip", args.equal_items)
            print(json.dumps(result["decode"]), file=sys.stderr)
        if not args.skip_equal:
            sample = ["--dataset", "sample", "--sample-items", str(args.equal_items)]
            local = run_fit([*sample, *common, "--engine", "local"], tmp / "local")
            ray_run = run_fit([*sample, *common, "--engine", "ray"], tmp / "ray")
            result["equal"] = {"items": args.equal_items, "local": local, "ray": ray_run,
                               "wall_ratio_ray_over_local": round(ray_run["wall_s"] / local["wall_s"], 3)}
            print(json.dumps(result["equal"]), file=sys.stderr)
        if not args.skip_scale:
            result["scale"] = []
            for n in args.scale_items:
                catalog = repeated_catalog(args.equal_items, n, tmp / "catalogs")
                row = {"items": n, "ray": run_fit(["--dataset", str(catalog), *common, "--engine", "ray"],
                                                  tmp / f"ray-{n}")}
                if args.scale_local:
                    row["local"] = run_fit(["--dataset", str(catalog), *common, "--engine", "local"],
                                           tmp / f"local-{n}")
                result["scale"].append(row)
                print(json.dumps(row), file=sys.stderr)
                (tmp / "catalogs" / catalog.name).unlink()
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
