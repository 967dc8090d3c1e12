"""Model card: Hub front matter that huggingface_hub parses, and a body that says how to load the bundle."""

from __future__ import annotations

import yaml
from huggingface_hub import ModelCard

from jewelrec.serving.card import card_metadata, load_snippet, overview_image, render_card, write_model_card


def clip_config() -> dict:
    return {
        "n_items": 120, "n_clusters": 5, "embedding_dim": 512, "format_version": 1, "jewelrec_version": "0.1.0",
        "encoder": {"type": "clip", "model": "openai/clip-vit-base-patch32", "reason": "CLIP (weights available)"},
        "dataset": {"source": "ayesha111/dataset_jewellery1", "revision": "abc123", "split": "train",
                    "items": 120, "rows_read": 121, "skipped": {"unreadable image": 1}},
        "clustering": {"method": "depict", "cluster_names": ["gold ring", "silver chain"],
                       "k_selection": {"reason": "k=5 was given"}},
        "metrics": {"silhouette": 0.41234, "nmi": 0.8, "ari": 0.7, "fit_seconds": 1.5},
        "files": {"items.parquet": "x", "depict/model.safetensors": "y", "report/style_map.png": "z",
                  "report/cluster_sizes.png": "w"},
    }


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_front_matter_for_a_clip_bundle_from_a_hub_dataset():
    meta = front_matter(render_card(clip_config(), repo_id="alice/jewelrec"))
    assert meta["library_name"] == "jewelrec"
    assert meta["base_model"] == "openai/clip-vit-base-patch32"
    assert meta["datasets"] == ["ayesha111/dataset_jewellery1"]
    assert {"jewelrec", "encoder-clip", "clustering-depict"} <= set(meta["tags"])
    metrics = meta["model-index"][0]["results"][0]["metrics"]
    assert [(m["type"], m["value"]) for m in metrics] == [("silhouette", 0.4123), ("nmi", 0.8), ("ari", 0.7)]
    assert meta == card_metadata(clip_config())


def test_huggingface_hub_parses_the_card_and_its_eval_results():
    card = ModelCard(render_card(clip_config(), repo_id="alice/jewelrec"))
    assert card.data.library_name == "jewelrec"
    assert card.data.base_model == "openai/clip-vit-base-patch32"
    assert {(r.metric_type, r.metric_value) for r in card.data.eval_results} == {
        ("silhouette", 0.4123), ("nmi", 0.8), ("ari", 0.7)}
    assert card.data.eval_results[0].dataset_revision == "abc123"


def test_local_or_sample_catalog_gets_no_datasets_or_base_model():
    config = {**clip_config(), "dataset": {"source": "sample"}, "encoder": {"type": "cnn"}, "metrics": {}}
    meta = card_metadata(config)
    assert "datasets" not in meta and "base_model" not in meta and "model-index" not in meta


def test_only_a_hub_dataset_is_cited_and_a_branch_push_names_its_branch():
    # a fit on 'shop/*.parquet' claimed the Hub dataset 'shop/*.parquet'; a push to --branch staging told readers
    # to pull main, which held no bundle
    for dataset, cited in (({"source": "shop/*.parquet", "kind": "parquet"}, None),
                           ({"source": "shop/items", "kind": "imagefolder"}, None),
                           ({"source": "ayesha111/dataset_jewellery1", "kind": "hub"}, "ayesha111/dataset_jewellery1"),
                           ({"source": "shop/*.parquet"}, None), ({"source": "shop/items.parquet"}, None),
                           ({"source": "ayesha111/dataset_jewellery1"}, "ayesha111/dataset_jewellery1")):
        meta = card_metadata({**clip_config(), "dataset": dataset})
        assert meta.get("datasets") == ([cited] if cited else None), dataset
        types = {r["dataset"]["type"] for r in meta["model-index"][0]["results"]}
        assert types == {cited or "catalog"}, dataset
    card = render_card(clip_config(), repo_id="alice/jewelrec", revision="staging")
    assert 'hub.pull("alice/jewelrec", revision="staging")' in card and "<commit sha of staging>" in card


def test_body_has_three_line_snippet_overview_image_and_depict_weights():
    card = render_card(clip_config(), repo_id="alice/jewelrec")
    snippet = load_snippet("alice/jewelrec")
    assert len(snippet.splitlines()) == 3 and f"```python\n{snippet}\n```" in card
    assert 'hub.pull("alice/jewelrec")' in snippet
    assert "](report/style_map.png)" in card
    assert "depict/model.safetensors" in card
    assert "unreadable image" in card  # skipped rows are reported, not hidden
    no_plots = {**clip_config(), "files": {"items.parquet": "x"}}
    assert overview_image(no_plots) is None and "![" not in render_card(no_plots)
    assert overview_image({"fit": {"report": {"files": ["metrics.json", "cluster_sizes.png"]}}}) == \
        "report/cluster_sizes.png"


def test_snippet_runs_against_a_real_bundle(sample_bundle_dir, tmp_path):
    """The local-path variant of the snippet, executed: it must load the bundle and print recommendations."""
    import shutil

    bundle_dir = shutil.copytree(sample_bundle_dir, tmp_path / "bundle")
    card = write_model_card(bundle_dir).read_text()
    assert "](report/style_map.png)" in card  # the sample bundle's report has the style map
    code = load_snippet(None).replace("path/to/this/bundle", str(bundle_dir))
    namespace: dict = {}
    exec(compile(code.replace("print(", "result = ("), "<card>", "exec"), namespace)
    assert len(namespace["result"]) == 10
