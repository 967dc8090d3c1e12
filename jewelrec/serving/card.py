"""The bundle's model card (README.md): Hub front matter + what the bundle is, how it was made, how to load it.

Rendered from ``config.json`` alone (no arrays are read), so training.fit writes it at save time and
:func:`jewelrec.serving.hub.push` rewrites it with the repo id filled into the load snippet.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

# Headline metrics that go into the Hub's model-index, in this order (the rest stay in the body's table).
INDEXED_METRICS = ("silhouette", "silhouette_embedding", "nmi", "ari", "accuracy")
# The cluster overview shown in the card, best first; the first one the report holds is used.
OVERVIEW_IMAGES = ("style_map.png", "cluster_overview.png", "cluster_sizes.png")



def _number(value: Any) -> bool:
    """A metric the card can state: a finite number (an undefined one — NaN, or null in config.json — is left out,
    as the Hub's model-index refuses NaN)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _hub_dataset(dataset: dict[str, Any]) -> str | None:
    """``user/name`` when the catalog came from a Hub dataset, else None (local folders and files, the sample).
    A fit records where its catalog came from (``kind``); a bundle from before that is judged by the id's shape,
    which no local path or glob passes (``shop/*.parquet``, ``shop/items.parquet`` read elsewhere)."""
    source = str(dataset.get("source", ""))
    if "kind" in dataset:
        return source if dataset["kind"] == "hub" and source else None
    if (source.count("/") == 1 and not source.startswith((".", "/", "~")) and not Path(source).exists()
            and re.fullmatch(r"[\w.-]+/[\w.-]+", source) and not source.endswith((".parquet", ".arrow"))):
        return source
    return None


def report_files(config: dict[str, Any]) -> list[str]:
    """Files in ``report/`` as recorded by training.fit (config['fit']['report']['files']), else from the manifest."""
    recorded = ((config.get("fit") or {}).get("report") or {}).get("files")
    if recorded:
        return [str(f) for f in recorded]
    return [f.split("/", 1)[1] for f in (config.get("files") or {}) if f.startswith("report/")]


def overview_image(config: dict[str, Any]) -> str | None:
    """Relative path of the cluster overview PNG to embed, or None when the report has no plot."""
    files = report_files(config)
    for name in OVERVIEW_IMAGES:
        if name in files:
            return f"report/{name}"
    pngs = sorted(f for f in files if f.endswith(".png"))
    return f"report/{pngs[0]}" if pngs else None


def card_data(config: dict[str, Any]) -> ModelCardData:
    """What the Hub indexes, as huggingface_hub's ``ModelCardData``: library, tags, datasets, base model, and
    the headline metrics as ``EvalResult`` rows (the model-index)."""
    encoder = config.get("encoder", {})
    dataset = config.get("dataset", {})
    clustering = config.get("clustering", {})
    metrics = config.get("metrics", {})
    source = str(dataset.get("source", ""))
    hub_dataset = _hub_dataset(dataset)
    results = [EvalResult(task_type="image-clustering", task_name="Style clustering",
                          dataset_type=hub_dataset or "catalog", dataset_name=source or "catalog",
                          dataset_revision=dataset.get("revision") or None,
                          metric_type=name, metric_name=name.replace("_", " "),
                          metric_value=round(float(metrics[name]), 4))
               for name in INDEXED_METRICS if _number(metrics.get(name))]
    return ModelCardData(
        library_name="jewelrec",
        tags=["jewelrec", "recommender", "image-clustering", "feature-extraction", "safetensors",
              f"encoder-{encoder.get('type')}", f"clustering-{clustering.get('method')}"],
        pipeline_tag="image-feature-extraction",
        datasets=[hub_dataset] if hub_dataset else None,
        base_model=encoder.get("model") if encoder.get("type") == "clip" and encoder.get("model") else None,
        model_name="jewelrec" if results else None,
        eval_results=results or None,
    )


def card_metadata(config: dict[str, Any]) -> dict[str, Any]:
    """The front matter as a dict (``card_data(config).to_dict()``)."""
    return card_data(config).to_dict()


def load_snippet(repo_id: str | None, revision: str | None = None) -> str:
    """The three lines that load this bundle and recommend from it (``revision``: the branch it was pushed to,
    None for the default branch)."""
    if repo_id and revision:
        where = f'hub.pull("{repo_id}", revision="{revision}")  # a commit sha pins it'
    elif repo_id:
        where = f'hub.pull("{repo_id}")  # revision="<commit sha>" pins it'
    else:
        where = 'Bundle.load("path/to/this/bundle"), None  # or hub.pull("user/repo", revision)'
    return (f"from jewelrec import Bundle, Recommender, hub\n"
            f"bundle, origin = {where}\n"
            f"print(Recommender(bundle).recommend({{bundle.item_ids[0]: 5}}, k=10))")


def render_card(config: dict[str, Any], *, repo_id: str | None = None, revision: str | None = None) -> str:
    """The README.md text for a bundle whose config.json is ``config``; ``repo_id`` and ``revision`` (the branch
    it is pushed to, None for the default one) go into the snippet and the deploy line."""
    encoder, dataset = config.get("encoder", {}), config.get("dataset", {})
    clustering, metrics = config.get("clustering", {}), config.get("metrics", {})
    names = clustering.get("cluster_names", [])
    skipped = dataset.get("skipped") or {}
    front = card_data(config).to_yaml()
    metric_rows = "\n".join(f"| {k} | {float(v):.4f} |" for k, v in sorted(metrics.items()) if _number(v))
    image = overview_image(config)
    overview = (f"## Cluster overview\n\n![cluster overview: every item placed on the 2-d style map, coloured by "
                f"style]({image})\n" if image else "")
    depict = ("- DEPICT weights: `depict/model.safetensors` + `depict/config.json` (strict key checking on load)\n"
              if "depict/model.safetensors" in (config.get("files") or {}) else "")
    index = (" `index.faiss` is the search index trained at fit (FAISS's own format), loaded at start instead of "
             "trained." if "index.faiss" in (config.get("files") or {}) else "")
    updates = config.get("updates") or []
    updated = ""
    if updates:
        last = updates[-1]
        updated = (f"- updated {len(updates)} time(s) since the fit with `training.update` (last: +{last.get('added')} "
                   f"/ -{last.get('removed')} items, {last.get('at')}; refit "
                   f"{'due: ' + '; '.join(last.get('reasons') or []) if last.get('refit_due') else 'not due'})\n")
    pin = f"<commit sha of {revision}>" if revision else "<commit sha>"
    serve = (f"Serve it in the jewelrec Space: `python -m training.deploy_space --space-id user/space --repo "
             f"{repo_id or 'user/repo'} --revision {pin}` (sets `JEWELREC_REPO` / `JEWELREC_REVISION`).")
    return f"""---
{front}
---

# jewelrec bundle

A visual recommender bundle made by jewelrec: {config.get('n_items')} catalog items
embedded with **{encoder.get('type')}** ({encoder.get('model', 'trained on the catalog labels')}, \
{config.get('embedding_dim')}-d), grouped into **{config.get('n_clusters')} styles** with \
`{clustering.get('method')}`. It holds the item table, the embeddings, the style clusters and a 2-d style map;
the recommender scores items by a user's ratings, style membership and similarity.

## Load it

```python
{load_snippet(repo_id, revision)}
```

{serve}

## How it was made

- dataset: `{dataset.get('source')}` (revision `{dataset.get('revision') or 'n/a'}`, split `{dataset.get('split')}`):
  {dataset.get('items')} items from {dataset.get('rows_read')} rows; skipped: {json.dumps(skipped) if skipped else 'none'}
- encoder: {encoder.get('reason', encoder.get('type'))}
- clustering: {clustering.get('method')}, k={config.get('n_clusters')} \
({clustering.get('k_selection', {}).get('reason', '')})
- styles: {', '.join(names) if names else 'n/a'}
{depict}{updated}- jewelrec {config.get('jewelrec_version', 'n/a')}, bundle format {config.get('format_version', 'n/a')}

| metric | value |
| --- | --- |
{metric_rows}

{overview}
## Files

Safetensors arrays, a parquet item table and JSON settings; no pickle.{index} `config.json` holds a SHA-256
manifest of every file, which `Bundle.load` (and so `hub.pull`) verifies: a changed byte or a file the
bundle did not write is refused.
"""


def write_model_card(bundle_dir: str | Path, *, repo_id: str | None = None) -> Path:
    """Write README.md into ``bundle_dir`` from its config.json; returns the path."""
    bundle_dir = Path(bundle_dir)
    config = json.loads((bundle_dir / "config.json").read_text())
    path = bundle_dir / "README.md"
    ModelCard(render_card(config, repo_id=repo_id)).save(path)  # ModelCard validates the front matter
    return path
