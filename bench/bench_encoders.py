"""What the offline encoders see, side by side on the sample catalog: text search, neighbour agreement, and what
the styles capture.

    python bench/bench_encoders.py                       # catalog CLIP vs the CNN on 'category'
    python bench/bench_encoders.py --encoders catalog-clip --seeds 3

For each encoder (trained here, on the 720-item sample, one torch thread):
- text search precision@10 over attribute queries — every "‹metal› ‹category›" and "‹gemstone› ‹category›"
  ("plain ‹category›" for no stone); a hit has both attributes (encoders without a text tower: null);
- neighbour agreement: share of each item's 10 nearest neighbours (cosine) with the same category / metal /
  gemstone;
- NMI of the styles (umap-kmeans, k by silhouette, as training.fit does) against category, metal, gemstone and
  their combination;
- training seconds and peak RSS of this process;
- the catalog's agreement ceiling: no embedding can beat it (see ``agreement_ceiling``), with oracle embeddings
  (one-hot attributes) that reach it, to show what the three agreements trade against each other.
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import warnings

import numpy as np
from sklearn.metrics import normalized_mutual_info_score

ATTRIBUTES = ("category", "metal", "gemstone")


def neighbour_agreement(embeddings: np.ndarray, meta, k: int = 10) -> dict[str, float]:
    from jewelrec.serving.index import VectorIndex

    _, rows = VectorIndex(embeddings).search(embeddings, k + 1)  # (n, k + 1), itself first
    rows = rows[:, 1:]
    return {c: round(float((meta[c].to_numpy()[rows] == meta[c].to_numpy()[:, None]).mean()), 4) for c in ATTRIBUTES}


def text_search(encoder, embeddings: np.ndarray, meta, k: int = 10) -> dict[str, object] | None:
    if not getattr(encoder, "has_text", False):
        return None
    queries = []
    for category in sorted(meta["category"].unique()):
        for metal in sorted(meta["metal"].unique()):
            queries.append((f"{metal} {category}", (meta["category"] == category) & (meta["metal"] == metal)))
        for stone in sorted(meta["gemstone"].unique()):
            word = "plain" if stone == "none" else stone
            queries.append((f"{word} {category}", (meta["category"] == category) & (meta["gemstone"] == stone)))
    vectors = encoder.encode_text([q for q, _ in queries])  # (n_queries, d)
    top = np.argsort(-(vectors @ embeddings.T), axis=1)[:, :k]
    precision = {q: float(mask.to_numpy()[row].mean()) for (q, mask), row in zip(queries, top)}
    worst = sorted(precision.items(), key=lambda kv: kv[1])[:5]
    return {"precision_at_10": round(float(np.mean(list(precision.values()))), 4), "queries": len(queries),
            "worst": dict(worst)}


def style_nmi(embeddings: np.ndarray, meta, seed: int) -> dict[str, float]:
    from jewelrec.clustering import fit_clusters

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        labels = fit_clusters(embeddings, "umap-kmeans", "auto", seed=seed, coords2d=False).labels_
    combined = meta[list(ATTRIBUTES)].astype(str).agg("/".join, axis=1)
    return {"k": int(labels.max() + 1),
            **{c: round(float(normalized_mutual_info_score(meta[c], labels)), 4) for c in ATTRIBUTES},
            "combined": round(float(normalized_mutual_info_score(combined, labels)), 4)}


def train(name: str, catalog, seed: int):
    meta = catalog.metadata()
    if name == "catalog-clip":
        from jewelrec.catalog.captions import build_captions
        from jewelrec.encoders.catalog_clip_training import CatalogClipConfig, train_catalog_clip

        return train_catalog_clip(catalog.images, build_captions(meta), meta, config=CatalogClipConfig(seed=seed),
                                  progress=False)
    if name == "cnn":
        from jewelrec.encoders.cnn import CnnEncoder

        return CnnEncoder(seed=seed).fit(catalog.images, meta["category"].astype(str).tolist(), progress=False)
    raise ValueError(f"unknown encoder {name!r}")


def agreement_ceiling(meta, k: int = 10) -> dict[str, object]:
    """The most any embedding can reach, summed over the three agreements. A neighbour can agree on all three
    attributes only if it is in the item's own (category, metal, gemstone) group; any other agrees on at most two.
    So per item: sum <= 2 + min(group size - 1, k) / k, and the catalog's ceiling is that bound's mean. The oracle
    rows are one-hot attribute embeddings (category weighted 3x, metal and gemstone weights varied) measured with
    ``neighbour_agreement`` itself: they reach the ceiling and show the metal / gemstone trade."""
    groups = meta.groupby(list(ATTRIBUTES))["item_id"].transform("size").to_numpy()  # (n,) own group's size
    ceiling = float((2 + np.minimum(groups - 1, k) / k).mean())
    oracles = []
    for metal_w, gem_w in ((1.0, 1.0), (1.2, 1.0), (1.0, 1.2)):
        parts = [pd_one_hot(meta[c]) * w for c, w in zip(ATTRIBUTES, (3.0, metal_w, gem_w))]
        oracle = np.concatenate(parts, axis=1).astype(np.float32)
        oracle /= np.linalg.norm(oracle, axis=1, keepdims=True)
        agreement = neighbour_agreement(oracle, meta, k)
        oracles.append({"weights": {"category": 3.0, "metal": metal_w, "gemstone": gem_w}, **agreement,
                        "sum": round(sum(agreement.values()), 4)})
    return {"k": k, "groups": int(meta.groupby(list(ATTRIBUTES)).ngroups), "sum_ceiling": round(ceiling, 4),
            "targets": {"category": 0.95, "metal": 0.9, "gemstone": 0.8, "sum": 2.65}, "oracles": oracles}


def pd_one_hot(values) -> np.ndarray:
    _, codes = np.unique(values.astype(str).to_numpy(), return_inverse=True)
    return np.eye(codes.max() + 1, dtype=np.float32)[codes]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--encoders", nargs="+", default=["catalog-clip", "cnn"], help="catalog-clip and/or cnn")
    p.add_argument("--seeds", type=int, default=1, help="training seeds per encoder")
    p.add_argument("--nmi", action="store_true", help="also cluster (umap-kmeans) and report NMI per attribute")
    args = p.parse_args(argv)
    from jewelrec.catalog import load_catalog

    catalog = load_catalog("sample")
    meta = catalog.metadata()
    results: dict[str, list[dict]] = {}
    for name in args.encoders:
        for seed in range(args.seeds):
            started = time.perf_counter()
            encoder = train(name, catalog, seed)
            seconds = time.perf_counter() - started
            embeddings = encoder.encode_images(catalog.images, progress=False)
            row = {"seed": seed, "train_seconds": round(seconds, 1), "dim": int(embeddings.shape[1]),
                   "text_search": text_search(encoder, embeddings, meta),
                   "neighbour_agreement": neighbour_agreement(embeddings, meta)}
            if args.nmi:
                row["style_nmi"] = style_nmi(embeddings, meta, seed)
            results.setdefault(name, []).append(row)
            print(json.dumps({name: row}), file=sys.stderr, flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump({"items": len(catalog), "results": results, "peak_rss_mb": round(peak_mb),
               "agreement_ceiling": agreement_ceiling(meta)}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
