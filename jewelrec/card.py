"""The bundle's model card (README.md): Hub front matter + what the bundle is and how to load it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def card_metadata(config: dict[str, Any]) -> dict[str, Any]:
    """Front matter the Hub indexes: library, tags, datasets, base model, headline metrics."""
    encoder = config.get("encoder", {})
    dataset = config.get("dataset", {})
    clustering = config.get("clustering", {})
    metrics = config.get("metrics", {})
    meta: dict[str, Any] = {
        "library_name": "jewelrec",
        "tags": ["jewelrec", "recommender", "image-clustering", "feature-extraction", f"encoder-{encoder.get('type')}",
                 f"clustering-{clustering.get('method')}"],
        "pipeline_tag": "image-feature-extraction",
    }
    source = str(dataset.get("source", ""))
    if source.count("/") == 1 and not Path(source).exists():
        meta["datasets"] = [source]
    if encoder.get("type") == "clip":
        meta["base_model"] = encoder.get("model")
    results = [{"type": name, "value": round(float(metrics[name]), 4)}
               for name in ("silhouette", "silhouette_embedding", "nmi", "ari") if name in metrics]
    if results:
        meta["model-index"] = [{"name": "jewelrec", "results": [{
            "task": {"type": "image-clustering", "name": "Style clustering"},
            "dataset": {"type": source or "catalog", "name": source or "catalog"},
            "metrics": results}]}]
    return meta


def render_card(config: dict[str, Any]) -> str:
    encoder, dataset = config.get("encoder", {}), config.get("dataset", {})
    clustering, metrics = config.get("clustering", {}), config.get("metrics", {})
    names = clustering.get("cluster_names", [])
    skipped = dataset.get("skipped") or {}
    front = yaml.safe_dump(card_metadata(config), sort_keys=False).strip()
    metric_rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in sorted(metrics.items()) if isinstance(v, float))
    return f"""---
{front}
---

# jewelrec bundle

A visual recommender bundle made by jewelrec: {config.get('n_items')} catalog items
embedded with **{encoder.get('type')}** ({encoder.get('model', 'trained on the catalog labels')}, {config.get('embedding_dim')}-d),
grouped into **{config.get('n_clusters')} styles** with `{clustering.get('method')}`.

## Load it

```python
from jewelrec import Bundle, Recommender
rec = Recommender(Bundle.load("path/to/this/bundle"))   # or jewelrec.hub.pull("user/repo", revision)
print(rec.recommend({{rec.bundle.item_ids[0]: 5}}, k=10))
```

## How it was made

- dataset: `{dataset.get('source')}` (revision `{dataset.get('revision') or 'n/a'}`, split `{dataset.get('split')}`):
  {dataset.get('items')} items from {dataset.get('rows_read')} rows; skipped: {json.dumps(skipped) if skipped else 'none'}
- encoder: {encoder.get('reason', encoder.get('type'))}
- clustering: {clustering.get('method')}, k={config.get('n_clusters')} ({clustering.get('k_selection', {}).get('reason', '')})
- styles: {', '.join(names) if names else 'n/a'}

| metric | value |
| --- | --- |
{metric_rows}

![style map](report/style_map.png)

Files: safetensors arrays, a parquet item table and JSON settings — no pickle. `config.json` holds a SHA-256
manifest that `Bundle.load` verifies.
"""


def write_model_card(bundle_dir: str | Path) -> Path:
    bundle_dir = Path(bundle_dir)
    config = json.loads((bundle_dir / "config.json").read_text())
    path = bundle_dir / "README.md"
    path.write_text(render_card(config))
    return path
