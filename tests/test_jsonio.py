"""Every JSON file jewelrec writes is strict JSON: an undefined number is null, never NaN / Infinity."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from jewelrec import jsonio


def strict_load(text: str):
    def refuse(constant: str):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_null_at_any_depth():
    payload = {"a": float("nan"), "b": [1.0, float("inf"), {"c": np.float32("nan")}], "d": np.array([1.0, -np.inf]),
               "e": (np.int64(3), np.float64(0.5)), "f": "NaN"}
    loaded = strict_load(jsonio.dumps(payload))
    assert loaded == {"a": None, "b": [1.0, None, {"c": None}], "d": [1.0, None], "e": [3, 0.5], "f": "NaN"}


def test_default_decides_what_json_lacks(tmp_path):
    from pathlib import Path

    jsonio.write(tmp_path / "x.json", {"p": Path("/a/b")})
    assert strict_load((tmp_path / "x.json").read_text()) == {"p": "/a/b"}
    with pytest.raises(TypeError):
        jsonio.dumps({"s": {1, 2}}, default=None)


def test_a_bundle_with_an_undefined_metric_writes_strict_json_and_a_card_without_it(sample_bundle_dir, tmp_path):
    """Identical pictures give one cluster, so silhouette is NaN: config.json said NaN (not JSON; the Hub and
    browsers refuse it) and the model card's model-index held .nan."""
    from jewelrec.serving.bundle import Bundle
    from jewelrec.serving.card import card_metadata, render_card

    bundle = Bundle.load(sample_bundle_dir)
    bundle.config["metrics"] = {**bundle.config["metrics"], "silhouette": float("nan"), "nmi": 0.5}
    out = tmp_path / "bundle"
    bundle.save(out)
    config = strict_load((out / "config.json").read_text())
    assert config["metrics"]["silhouette"] is None and config["metrics"]["nmi"] == 0.5
    assert Bundle.load(out).config["metrics"]["silhouette"] is None  # and it loads back
    for metrics in (bundle.config["metrics"], config["metrics"]):  # in memory (NaN) and as read back (null)
        cfg = {**bundle.config, "metrics": metrics}
        names = [m["type"] for m in card_metadata(cfg)["model-index"][0]["results"][0]["metrics"]]
        assert "silhouette" not in names and "nmi" in names
        card = render_card(cfg, repo_id="alice/x")
        assert "| silhouette |" not in card and ".nan" not in card and "| nmi |" in card


def test_choosing_k_on_identical_items_says_so():
    from jewelrec.clustering.methods import choose_k

    with pytest.raises(ValueError, match=r"every k in 2\.\.5 leaves the 30 items in one cluster.*--clusters N"):
        choose_k(np.ones((30, 8), np.float32), (2, 5))
    scores = choose_k(np.r_[np.zeros((15, 2)), np.ones((15, 2))].astype(np.float32), (2, 4))
    assert scores["chosen"] == 2 and not math.isnan(float(scores["reason"].split("(")[1].split(")")[0]))
