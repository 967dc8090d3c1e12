"""Model settings checked when the evaluation config is loaded (``jewelrec.evaluation.models``: the registry's
``check_spec``, the shipped recommender's ``recommender_config``): a value the model cannot run with stops the run
with one line naming the model, the setting and what it takes, before any log is read."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest

from jewelrec.evaluation.eval_config import EvalConfig
from jewelrec.evaluation.interactions import InteractionLog
from jewelrec.evaluation.models import JewelrecModel, VisuallySeparated
from jewelrec.evaluation.models.registry import RERANK_DEFAULTS, ModelSpec, build_model, check_spec
from jewelrec.evaluation.models.shipped import SETTING_RULES, recommender_config
from jewelrec.evaluation.stars import training_stars
from jewelrec.serving.recommender import RecommenderConfig
from tests.conftest import make_synthetic_bundle, write_eval_config
from training.evaluate import main

SMALL = {"n_users": 200, "n_items": 50, "n_groups": 4, "mean_interactions": 8, "n_days": 20, "seed": 0}

pytestmark = pytest.mark.usefixtures("eval_home")


def _validate(*models: ModelSpec, run_mode: str = "single") -> EvalConfig:
    config = EvalConfig(data={"synthetic": SMALL}, models=list(models), run_mode=run_mode)
    config.validate()
    return config


@pytest.mark.parametrize("key, value, wanted", [
    ("mmr_lambda", 5, "a number from 0 to 1"),
    ("whiten", -1, "a number > 0, or null"),
    ("probe_seeds", 0.5, "a whole number ≥ 0"),
    ("dislike_weight", float("nan"), "a number ≥ 0"),
    ("like_weight", -2, "a number ≥ 0"),
    ("query_ridge", float("inf"), "a finite number > 0"),
    ("max_seeds", 0, "a whole number ≥ 1"),
    ("max_seeds", 8.0, "a whole number ≥ 1"),
    ("mmr_pool", 0, "a whole number ≥ 1"),
    ("neighbours", -1, "a whole number ≥ 1"),
    ("shrink", -1, "a number > 0"),
    ("shrink", 0, "a number > 0"),
    ("style_floor", 2, "a number from 0 to 1"),
    ("exhaustive_limit", -1, "a whole number ≥ 0"),
    ("balance_band", -0.1, "a number ≥ 0"),
    ("soft_affinity", 1, "true or false"),
])
def test_a_jewelrec_setting_the_recommender_cannot_run_with_is_refused_at_config_time(key, value, wanted):
    with pytest.raises(ValueError) as err:
        _validate(ModelSpec("shipped", "jewelrec", params={key: value}))
    message = str(err.value)
    assert message.startswith(f"model 'shipped': {key} must be {wanted}") and message.endswith(f"got {value!r}")
    assert "\n" not in message


def test_every_value_of_a_swept_jewelrec_setting_is_checked():
    with pytest.raises(ValueError, match=r"model 'shipped': mmr_lambda must be a number from 0 to 1.*got 5$"):
        _validate(ModelSpec("shipped", "jewelrec", params={"mmr_lambda": [0.5, 5]}), run_mode="sweep")
    with pytest.raises(ValueError, match=r"'shipped': shrink: \[\] lists no values"):
        check_spec(ModelSpec("shipped", "jewelrec", params={"shrink": []}), sweep=True)  # a grid with no candidate
    _validate(ModelSpec("shipped", "jewelrec", params={"mmr_lambda": [0.5, 1, None], "max_seeds": [1, 8]}),
              run_mode="sweep")


def test_what_the_recommender_does_run_with_is_accepted():
    """The fields' documented special values (null, 0 = off / always) and ints for float fields pass."""
    _validate(ModelSpec("shipped", "jewelrec", params={
        "whiten": None, "mmr_lambda": None, "exhaustive_limit": 0, "exact_limit": 0, "probe_seeds": 0, "central": 0,
        "balance_band": 0, "style_floor": 0, "like_weight": 1, "dislike_weight": 0, "style_evidence": 0,
        "whiten_closeness": True, "soft_affinity": True, "mmr_pool": np.int64(100),
    }))  # fmt: skip


def test_every_recommender_field_has_a_rule_and_the_defaults_pass():
    assert set(SETTING_RULES) == {f.name for f in fields(RecommenderConfig)}
    assert recommender_config({}, "shipped") == RecommenderConfig()


def test_a_bad_setting_in_the_yaml_stops_the_run_before_the_log_is_read(tmp_path, capsys):
    config = {"data": {"path": str(tmp_path / "MISSING.csv")},
              "models": [{"name": "shipped", "type": "jewelrec", "params": {"dislike_weight": float("nan")}}]}
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "model 'shipped': dislike_weight must be a number ≥ 0" in err and "got nan" in err
    assert "MISSING" not in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


def test_the_model_itself_refuses_a_bad_setting_before_building_the_recommender():
    bundle = make_synthetic_bundle(n_items=30)
    log = InteractionLog(np.array(["a"], object), np.array(["it-00000"], object), np.zeros(1, np.int32),
                         np.zeros(1, np.int32), np.ones(1, np.float32), stars=np.array([5.0], np.float32))
    with pytest.raises(ValueError, match="'jewelrec': probe_seeds must be a whole number ≥ 0"):
        JewelrecModel(bundle, settings={"probe_seeds": 0.5}).fit(log.to_csr(), stars=training_stars(log))


def test_an_empty_rerank_block_reranks_with_the_defaults():
    spec = ModelSpec.from_dict({"name": "als-separated", "type": "als", "rerank": {}})
    assert spec.rerank == RERANK_DEFAULTS == {"explore": 0.0, "pool": 3} and spec.needs_content
    assert spec.flat_params() == {"rerank.explore": 0.0, "rerank.pool": 3}
    assert ModelSpec.from_dict({"type": "als", "rerank": {"pool": 2}}).rerank == {"explore": 0.0, "pool": 2}
    assert ModelSpec("direct", "als", rerank={}).rerank == RERANK_DEFAULTS
    ids = np.array([f"i{n}" for n in range(4)], object)
    model = build_model(spec, type("Content", (), {"item_ids": ids, "embeddings": np.eye(4, dtype=np.float32),
                                                   "labels": np.arange(4)})(), ids)
    assert isinstance(model, VisuallySeparated) and (model.pool, model.explore) == (3, 0.0)
    with pytest.raises(ValueError, match="drop rerank"):
        ModelSpec.from_dict({"type": "jewelrec", "rerank": {}})
    # a re-ranked popularity model is not the plain baseline, so the baseline is still added
    config = _validate(ModelSpec.from_dict({"name": "pop-separated", "type": "popularity", "rerank": {}}))
    assert [(m.name, m.rerank) for m in config.models] == [("popularity", None), ("pop-separated", RERANK_DEFAULTS)]


def test_a_fractional_rerank_pool_is_used_as_written():
    """pool: 1.5 means 1.5 × k candidates (VisuallySeparated takes int(k * pool)); int(pool) made it 1: no re-rank."""
    ids = np.array([f"i{n}" for n in range(4)], object)
    content = type("Content", (), {"item_ids": ids, "embeddings": np.eye(4, dtype=np.float32), "labels": np.arange(4)})
    model = build_model(ModelSpec.from_dict({"type": "als", "rerank": {"pool": 1.5}}), content(), ids)
    assert model.pool == 1.5


@pytest.mark.parametrize("model_type", ["als", "visual", "jewelrec", "popularity"])
def test_a_cf_block_on_a_model_that_is_not_hybrid_is_refused_not_ignored(model_type):
    with pytest.raises(ValueError, match=rf"\({model_type}\): cf: is the collaborative half of a hybrid model; set "
                                         "type: hybrid"):
        ModelSpec.from_dict({"name": "m", "type": model_type, "cf": {"type": "ease"}})
    ModelSpec.from_dict({"name": "m", "type": "hybrid", "cf": {"type": "ease"}})  # where it belongs


def test_run_json_shows_that_an_empty_rerank_block_was_applied(tmp_path):
    config = {"data": {"synthetic": SMALL}, "bundle": "synthetic", "split": {"method": "time", "test_days": 5},
              "models": [{"name": "als-separated", "type": "als", "params": {"factors": 4, "iterations": 2},
                          "rerank": {}}]}  # fmt: skip
    out = tmp_path / "results"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["models"]["als-separated"]["params"] == {"factors": 4, "iterations": 2, "rerank.explore": 0.0,
                                                           "rerank.pool": 3}
    assert [m["rerank"] for m in record["config"]["models"]] == [None, RERANK_DEFAULTS]


@pytest.mark.parametrize(("field", "value", "wanted"), [
    ("shrink", 0, "a number > 0"), ("mmr_lambda", 1.5, "a number from 0 to 1"), ("max_seeds", 2.5, "a whole number"),
    ("whiten_closeness", "yes", "true or false"), ("query_ridge", float("inf"), "a finite number > 0"),
])  # fmt: skip
def test_the_python_api_config_refuses_a_value_the_recommender_cannot_run_with(field, value, wanted):
    """RecommenderConfig checks itself (the rules the evaluator reads): a bad value fails where it is written,
    not in the middle of a request (shrink=0 gave NaN affinities for every unrated style)."""
    with pytest.raises(ValueError, match=rf"^RecommenderConfig: {field} must be {wanted}.*got {value!r}$"):
        RecommenderConfig(**{field: value})
    with pytest.raises(ValueError, match=rf"RecommenderConfig: {field} must be"):
        replace(RecommenderConfig(), **{field: value})  # the sweep's way of making a candidate


def test_the_shopper_benchmark_refuses_a_bad_override_before_loading_a_bundle(tmp_path):
    script = Path(__file__).resolve().parents[1] / "bench" / "bench_shoppers.py"
    missing = str(tmp_path / "NO-BUNDLE")
    for override, expected in (["shrink=0", "--set: RecommenderConfig: shrink must be a number > 0"],
                               ["shrnk=1", "--set has unknown keys ['shrnk']"]):
        run = subprocess.run([sys.executable, str(script), "--bundle", missing, "--set", override],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode != 0 and expected in run.stderr and "NO-BUNDLE" not in run.stderr, run.stderr
