"""The embedded sample catalog: procedurally drawn jewelry product photos, deterministic per seed.

Each photo is drawn at ``_SUPERSAMPLE`` times the target size and reduced (anti-aliasing for free):
a light studio backdrop, then polished metal (a shape mask whose distance transform becomes a rounded
height field, lit by a soft-box environment), then faceted gems and pearls, then prongs on top, a soft
contact shadow and a few glints. Category decides the silhouette, so it is what a model sees first;
metal decides the palette; pose, scale, position and backdrop tint vary a little per item.

``build_sample`` writes a parquet file that ``datasets.load_dataset("parquet", ...)`` reads back with an
``Image`` column, cached under ``jewelrec.paths.cache_dir("sample")``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from jewelrec import paths
from jewelrec.catalog.sample.designs import DESIGNS
from jewelrec.catalog.sample.draw import BACKDROPS, Scene

SAMPLE_VERSION = 1  # bump whenever a pixel, a name or a price would change: it is part of the cache key
CATEGORIES = ("ring", "necklace", "earrings", "bracelet", "pendant", "brooch")
METALS = ("gold", "silver", "rose gold", "platinum")
GEMSTONES = ("diamond", "ruby", "sapphire", "emerald", "pearl", "none")

_SUPERSAMPLE = 2  # 2x drawing then LANCZOS reduce: smooth edges at ~1/4 the cost of 4x

# styles per category: (with a faceted stone, with no stone, with a pearl)
_STYLES = {
    "ring": (("solitaire", "halo", "three-stone"), ("band", "signet"), ("pearl",)),
    "necklace": (("tennis", "station"), ("chain", "rope"), ("strand",)),
    "earrings": (("stud", "drop", "halo stud"), ("hoop", "bar drop"), ("pearl stud", "pearl drop")),
    "bracelet": (("tennis", "bangle"), ("bangle", "chain", "cuff"), ("pearl",)),
    "pendant": (("solitaire", "heart"), ("medallion", "heart", "bar"), ("pearl drop",)),
    "brooch": (("flower", "starburst"), ("flower", "knot"), ("flower",)),
}


def item_style(category: str, gemstone: str, *, seed: int) -> str:
    """The design variant (``"halo"``, ``"hoop"`` ...) that :func:`render_item` draws for this seed."""
    _check_labels(category, METALS[0], gemstone)
    stone, plain, pearl = _STYLES[category]
    choices = pearl if gemstone == "pearl" else plain if gemstone == "none" else stone
    return choices[_rng(seed, "style").integers(len(choices))]


def render_item(category: str, metal: str, gemstone: str, *, seed: int, size: int = 224) -> Image.Image:
    """Draw one product photo, ``size`` x ``size`` RGB; the same arguments always give the same pixels."""
    _check_labels(category, metal, gemstone)
    if size < 32:
        raise ValueError(f"size={size} is too small to draw jewelry; use size >= 32 (default 224)")
    rng = _rng(seed, "pose")
    side = size * _SUPERSAMPLE
    scene = Scene(
        side=side,
        angle=float(rng.uniform(-12, 12)),
        scale=float(rng.uniform(0.86, 1.06)),
        offset=(float(rng.uniform(-0.06, 0.06)), float(rng.uniform(-0.05, 0.05))),
        metal=metal,
        gemstone=gemstone,
        rng=_rng(seed, "design"),
    )
    DESIGNS[category](scene, item_style(category, gemstone, seed=seed))
    image = scene.composite(BACKDROPS[int(rng.integers(len(BACKDROPS)))])
    return image.resize((size, size), Image.Resampling.LANCZOS)


def build_sample(
    n_items: int = 720,
    *,
    seed: int = 0,
    size: int = 224,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Render the sample catalog once and return the path of its parquet file.

    Columns: item_id, image (``datasets.Image``; JPEG bytes), name, category, metal, gemstone, price.
    Categories are balanced; metal and stone are drawn from plausible combinations. The file name holds
    ``SAMPLE_VERSION``, ``n_items``, ``seed`` and ``size``, so a second call finds it and draws nothing.
    """
    if n_items < 10:
        raise ValueError(f"n_items={n_items} is too few for a catalog; use n_items >= 10 (default 720)")
    if size < 32:
        raise ValueError(f"size={size} is too small to draw jewelry; use size >= 32 (default 224)")
    folder = Path(cache_dir) if cache_dir is not None else paths.cache_dir("sample")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"sample-v{SAMPLE_VERSION}-n{n_items}-seed{seed}-{size}px.parquet"
    if target.exists():
        return target

    import datasets
    from tqdm.auto import tqdm

    rows = plan_sample(n_items, seed=seed)
    images = []
    for row in tqdm(rows, desc="drawing sample catalog", unit="img", disable=not progress):
        image = render_item(row["category"], row["metal"], row["gemstone"], seed=row["seed"], size=size)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90, optimize=True)
        images.append({"bytes": buffer.getvalue(), "path": f"{row['item_id']}.jpg"})
    columns = {key: [row[key] for row in rows] for key in ("item_id", "name", "category", "metal", "gemstone")}
    features = datasets.Features(
        {
            "item_id": datasets.Value("string"),
            "image": datasets.Image(),
            **{key: datasets.Value("string") for key in ("name", "category", "metal", "gemstone")},
            "price": datasets.Value("float64"),
        }
    )
    table = datasets.Dataset.from_dict(
        {"item_id": columns.pop("item_id"), "image": images, **columns, "price": [r["price"] for r in rows]},
        features=features,
    )
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=".sample-", suffix=".parquet.tmp")
    os.close(handle)
    bars_were_on = not datasets.utils.are_progress_bars_disabled()
    if not progress:
        datasets.disable_progress_bars()
    try:
        table.to_parquet(tmp)
        os.replace(tmp, target)  # atomic: a reader sees no file or a whole file, never half of one
    finally:
        if bars_were_on:
            datasets.enable_progress_bars()
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def plan_sample(n_items: int, *, seed: int = 0) -> list[dict]:
    """Metadata for every item (no pixels): item_id, seed, category, metal, gemstone, style, name, price."""
    rng = _rng(seed, "catalog")
    categories = [CATEGORIES[i % len(CATEGORIES)] for i in range(n_items)]  # balanced by construction
    rng.shuffle(categories)
    width = max(4, len(str(n_items)))
    rows = []
    for index, category in enumerate(categories):
        gemstone = GEMSTONES[rng.choice(len(GEMSTONES), p=_GEM_ODDS[category])]
        metal = METALS[rng.choice(len(METALS), p=_METAL_ODDS[gemstone])]
        item_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
        style = item_style(category, gemstone, seed=item_seed)
        rows.append(
            {
                "item_id": f"jw-{index + 1:0{width}d}",
                "seed": item_seed,
                "category": category,
                "metal": metal,
                "gemstone": gemstone,
                "style": style,
                "name": _name(category, metal, gemstone, style),
                "price": _price(category, metal, gemstone, rng),
            }
        )
    return rows


# odds over GEMSTONES (diamond, ruby, sapphire, emerald, pearl, none) per category
_GEM_ODDS = {
    "ring": (0.34, 0.14, 0.14, 0.12, 0.08, 0.18),
    "necklace": (0.22, 0.1, 0.1, 0.1, 0.26, 0.22),
    "earrings": (0.24, 0.12, 0.12, 0.12, 0.22, 0.18),
    "bracelet": (0.26, 0.1, 0.12, 0.1, 0.12, 0.3),
    "pendant": (0.24, 0.14, 0.14, 0.14, 0.12, 0.22),
    "brooch": (0.22, 0.16, 0.16, 0.16, 0.12, 0.18),
}
# odds over METALS (gold, silver, rose gold, platinum) per stone: pearls sit mostly on gold and silver,
# diamonds lean to platinum and gold
_METAL_ODDS = {
    "diamond": (0.3, 0.14, 0.22, 0.34),
    "ruby": (0.42, 0.2, 0.2, 0.18),
    "sapphire": (0.3, 0.28, 0.14, 0.28),
    "emerald": (0.46, 0.2, 0.14, 0.2),
    "pearl": (0.46, 0.36, 0.1, 0.08),
    "none": (0.28, 0.3, 0.24, 0.18),
}
_BASE_PRICE = {"ring": 140, "necklace": 190, "earrings": 120, "bracelet": 170, "pendant": 110, "brooch": 150}
_METAL_FACTOR = {"silver": 1.0, "gold": 3.4, "rose gold": 3.1, "platinum": 4.6}
_STONE_PRICE = {"diamond": 900, "ruby": 560, "sapphire": 480, "emerald": 520, "pearl": 110, "none": 0}
_STONE_COUNT = {"ring": 1.0, "necklace": 1.6, "earrings": 1.8, "bracelet": 1.5, "pendant": 0.9, "brooch": 1.2}


def _price(category: str, metal: str, gemstone: str, rng: np.random.Generator) -> float:
    raw = _BASE_PRICE[category] * _METAL_FACTOR[metal] + _STONE_PRICE[gemstone] * _STONE_COUNT[category]
    raw *= rng.uniform(0.85, 1.2)
    if raw < 1000:  # shop rounding: 249 under a thousand, then 1,290 or 1,340, then 4,450
        return float(math.ceil(raw / 10) * 10 - 1)
    return float(round(raw / 50) * 50 - (10 if raw < 3000 else 0))


def _name(category: str, metal: str, gemstone: str, style: str) -> str:
    metal_word = {"rose gold": "rose-gold"}.get(metal, metal)
    stone = "" if gemstone == "none" or style.startswith("pearl") else f"{gemstone} "
    noun = category if category != "bracelet" or style not in ("bangle", "cuff") else ""
    name = " ".join(f"{metal_word} {stone}{style} {noun}".split())
    return name[0].upper() + name[1:]


def _check_labels(category: str, metal: str, gemstone: str) -> None:
    for value, allowed, what in ((category, CATEGORIES, "category"), (metal, METALS, "metal"),
                                 (gemstone, GEMSTONES, "gemstone")):
        if value not in allowed:
            raise ValueError(f"unknown {what} {value!r}; choose one of {allowed}")


def _rng(seed: int, purpose: str) -> np.random.Generator:
    """Independent streams per purpose, so changing one design choice does not reshuffle the rest."""
    salt = int.from_bytes(hashlib.blake2b(purpose.encode(), digest_size=4).digest(), "little")
    return np.random.default_rng([int(seed), salt])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n-items", type=int, default=720)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--cache-dir", default=None, help="default: $JEWELREC_HOME/sample")
    parser.add_argument("--contact-sheet", default=None, help="also write a PNG grid of the first 36 items")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    path = build_sample(args.n_items, seed=args.seed, size=args.size, cache_dir=args.cache_dir)
    print(f"sample catalog: {path} ({path.stat().st_size / 1e6:.1f} MB, {time.perf_counter() - start:.1f} s)")
    if args.contact_sheet:
        rows = plan_sample(args.n_items, seed=args.seed)[:36]
        sheet = Image.new("RGB", (6 * args.size, 6 * args.size), "white")
        for i, row in enumerate(rows):
            tile = render_item(row["category"], row["metal"], row["gemstone"], seed=row["seed"], size=args.size)
            sheet.paste(tile, ((i % 6) * args.size, (i // 6) * args.size))
        sheet.save(args.contact_sheet)
        print(f"contact sheet: {args.contact_sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
