"""``python -m training.evaluate`` end to end through ``main([...])``: single runs, sweeps, presets, bundles,
bad input and (in subprocesses, offline) the trackers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jewelrec.evaluation.synthetic_logs import hm_frame, item_id_strings, planted_arrays, planted_embeddings
from tests.conftest import read_results, write_eval_config
from training.evaluate import main

REPO = Path(__file__).resolve().parents[1]
SYNTHETIC = {"n_users": 500, "n_items": 120, "n_groups": 6, "mean_interactions": 12, "n_days": 40, "seed": 0}


pytestmark = pytest.mark.usefixtures("eval_home")


def test_single_run_writes_every_output(tmp_path):
    config = {
        "name": "t", "data": {"synthetic": SYNTHETIC}, "bundle": "synthetic", "split": {"method": "time", "test_days": 7},
        "k": 12, "models": [
            {"name": "als", "type": "als", "params": {"factors": 8, "iterations": 8, "regularization": 0.5}},
            {"name": "ease", "type": "ease", "params": {"l2": 100.0}},
            {"name": "hybrid", "type": "hybrid", "params": {"weight": 0.3}, "cf": {"type": "item_knn"}},
            {"name": "als-separated", "type": "als", "params": {"factors": 8}, "rerank": {"pool": 2}},
        ],
    }  # fmt: skip
    out = tmp_path / "results"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 0
    results = read_results(out)
    assert list(results) == ["popularity", "als", "ease", "hybrid", "als-separated"]  # baseline added first
    expected_metrics = {f"{m}@12" for m in ("map", "precision", "recall", "ndcg", "hit_rate", "coverage",
                                             "diversity", "novelty")}  # fmt: skip
    for metrics in results.values():
        assert set(metrics) == expected_metrics and all(isinstance(v, float) for v in metrics.values())
    for name in ("als", "ease", "hybrid"):
        assert results[name]["map@12"] > 1.5 * results["popularity"]["map@12"]
    table = pd.read_csv(out / "results.csv")
    assert table.model.tolist() == list(results) and "fit_seconds" in table
    assert table.set_index("model").loc["ease", "map@12"] == pytest.approx(results["ease"]["map@12"])
    for png in ("metrics.png", "lift.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((out / "data_report.json").read_text())
    assert report["log"]["rows_read"] == report["log"]["rows_kept"] > 0
    assert report["split"]["evaluated_users"] > 0 and "cold_test_users" in report["split"]
    record = json.loads((out / "run.json").read_text())
    assert record["tracker"] == {"tracker": "none"} and record["models"]["als"]["params"]["factors"] == 8
    assert record["config"]["k"] == 12 and "implicit" in record["versions"]


def test_sweep_picks_best_on_validation(tmp_path):
    config = {
        "data": {"synthetic": SYNTHETIC}, "run_mode": "sweep", "split": {"method": "random", "test_fraction": 0.2},
        "sweep": {"metric": "ndcg@10"}, "k": 10, "metrics": ["map", "ndcg"],
        "models": [{"name": "knn", "type": "item_knn", "params": {"neighbours": [2, 50]}},
                   {"name": "pop", "type": "popularity"}],
    }  # fmt: skip
    out = tmp_path / "sweep"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 0
    results = read_results(out)
    assert set(results) == {"knn", "pop"} and set(results["knn"]) == {"map@10", "ndcg@10"}
    trials = pd.read_csv(out / "sweep.csv")
    assert len(trials) == 2 and trials.best.sum() == 1
    best = trials.loc[trials["ndcg@10"].idxmax()]
    assert bool(best.best) and best.params == "neighbours=50"
    assert json.loads((out / "best_params.json").read_text()) == {"knn": {"neighbours": 50}}
    assert (out / "sweep.png").exists()
    record = json.loads((out / "run.json").read_text())
    assert record["sweep_selected_on"] == "validation"
    assert "validation_split" in json.loads((out / "data_report.json").read_text())
    # the same grid in single mode is refused with the fix in the message
    config["run_mode"] = "single"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "x")]) == 2


def test_hm_csv_through_the_cli(tmp_path, capsys):
    arrays = planted_arrays(300, 80, n_groups=4, mean_interactions=10, n_days=30, seed=2)
    frame = hm_frame(arrays)
    frame.loc[[3, 17], "customer_id"] = None  # two broken rows: counted, not fatal
    csv = tmp_path / "transactions_train.csv"
    frame.to_csv(csv, index=False)
    config = {"data": {"preset": "hm", "path": str(csv)}, "split": {"method": "time", "test_days": 7},
              "models": [{"type": "item_knn"}, {"name": "pop-7d", "type": "popularity", "params": {"window_days": 7}}]}
    out = tmp_path / "hm"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 0
    assert set(read_results(out)) == {"popularity", "item_knn", "pop-7d"}
    report = json.loads((out / "data_report.json").read_text())
    assert report["log"]["rows_dropped"] == {"missing user id": 2}
    assert report["log"]["rows_read"] == len(frame) and report["log"]["rows_kept"] == len(frame) - 2
    assert "map@12" in capsys.readouterr().out
    assert json.loads((out / "run.json").read_text())["skipped_metrics"] == {
        "diversity": "needs item embeddings: set bundle:"
    }


def test_space_ratings_with_bundle(tmp_path, monkeypatch):
    """A ratings DB plus a bundle (faked: the loader only needs item_ids / embeddings / labels). The bundle lacks
    some rated items; they are counted in the data report."""
    import sqlite3

    arrays = planted_arrays(200, 60, n_groups=3, mean_interactions=10, seed=4)
    items = item_id_strings(60)
    db = tmp_path / "ratings.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE ratings(user_id TEXT, item_id TEXT, stars INTEGER, updated_at REAL, "
                     "PRIMARY KEY(user_id, item_id))")  # fmt: skip
        rng = np.random.default_rng(0)
        rows = {(f"u{u}", items[i]): (int(rng.integers(3, 6)), float(t)) for u, i, t in
                zip(arrays.users, arrays.items, arrays.times)}  # fmt: skip
        conn.executemany("INSERT INTO ratings VALUES (?, ?, ?, ?)", [(*k, *v) for k, v in rows.items()])
    keep = np.arange(60) >= 5  # items 0–4 are not in the bundle
    fake = types.SimpleNamespace(
        item_ids=list(items[keep]), embeddings=planted_embeddings(arrays.item_group)[keep],
        labels=arrays.item_group[keep].astype(np.int64),
    )
    bundle_module = types.ModuleType("jewelrec.serving.bundle")
    bundle_module.Bundle = types.SimpleNamespace(load=lambda path: fake)
    bundle_module.read_config = lambda path: {}  # the evaluator's early check that the bundle is one
    monkeypatch.setitem(sys.modules, "jewelrec.serving.bundle", bundle_module)
    config = {"data": {"preset": "space-ratings", "path": str(db)}, "bundle": str(tmp_path / "bundle"),
              "split": {"method": "random", "test_fraction": 0.25}, "k": 5,
              "models": [{"type": "visual"}, {"type": "hybrid", "cf": {"type": "ease"}}]}  # fmt: skip
    out = tmp_path / "space"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 0
    results = read_results(out)
    assert set(results) == {"popularity", "visual", "hybrid"} and "diversity@5" in results["visual"]
    content = json.loads((out / "data_report.json").read_text())["content"]
    assert content["log_items_not_in_bundle"] == 5 and content["interactions_with_items_not_in_bundle"] > 0


@pytest.mark.parametrize(
    "config, message",
    [
        ({"data": {"path": "MISSING.csv"}, "models": [{"type": "als"}]}, "does not exist"),
        ({"data": {"synthetic": SYNTHETIC}, "models": [{"type": "visual"}]}, "needs item embeddings"),
        ({"data": {"synthetic": SYNTHETIC}, "models": [{"type": "als"}], "trackr": "none"}, "unknown keys"),
        ({"data": {"synthetic": SYNTHETIC}, "models": []}, "non-empty models"),
        ({"data": {"synthetic": SYNTHETIC}, "models": [{"type": "als"}, {"type": "als"}]}, "unique"),
    ],
)
def test_bad_configs_fail_with_a_clear_message(tmp_path, capsys, config, message):
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err


def test_missing_column_through_the_cli(tmp_path, capsys):
    csv = tmp_path / "log.csv"
    csv.write_text("customer,article\na,1\n")
    config = {"data": {"path": str(csv)}, "models": [{"type": "als"}]}
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "missing column(s) ['user_id', 'item_id']" in err and "data.columns" in err


@pytest.mark.parametrize("tracker", ["trackio", "wandb"])
def test_tracker_logs_offline_under_results(tmp_path, tracker):
    pytest.importorskip(tracker)
    config = {"name": "trk", "data": {"synthetic": {**SYNTHETIC, "n_users": 200}}, "project": "jewelrec-test",
              "tracker": tracker, "models": [{"type": "item_knn"}]}  # fmt: skip
    out = tmp_path / "results"
    env = {**os.environ, "JEWELREC_HOME": str(tmp_path / "home"), "HF_HOME": str(tmp_path / "hf"),
           "WANDB_DIR": str(tmp_path / "wandb-elsewhere"), "TRACKIO_DIR": ""}  # fmt: skip
    env.pop("TRACKIO_DIR")
    proc = subprocess.run(
        [sys.executable, "-m", "training.evaluate", "--config", write_eval_config(tmp_path, config), "--results-dir", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads((out / "run.json").read_text())["tracker"]
    assert info["tracker"] == tracker and info["runs"] == ["trk/popularity", "trk/item_knn"]
    if tracker == "trackio":
        import sqlite3

        db = out / "trackio" / "jewelrec-test.db"
        with sqlite3.connect(db) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            assert "metrics" in tables
            logged = [r[0] for r in conn.execute("SELECT metrics FROM metrics")]
        assert any(b"map@12" in (m.encode() if isinstance(m, str) else bytes(m)) for m in logged)
    else:
        runs = sorted((out / "wandb").glob("offline-run-*"))
        assert len(runs) == 2 and all(list(r.glob("*.wandb")) for r in runs)


def test_real_bundle_directory(tmp_path):
    """The loader reads a bundle written by jewelrec.serving.bundle.Bundle.save (embeddings + cluster labels)."""
    from jewelrec.serving.bundle import Bundle

    arrays = planted_arrays(300, 60, n_groups=3, mean_interactions=10, seed=5)
    embeddings = planted_embeddings(arrays.item_group)
    labels = arrays.item_group.astype(np.int64)
    centroids = np.stack([embeddings[labels == g].mean(axis=0) for g in range(3)])
    Bundle(
        items=pd.DataFrame({"item_id": item_id_strings(60)}), embeddings=embeddings, labels=labels,
        probs=np.eye(3, dtype=np.float32)[labels], centroids=centroids, coords2d=np.zeros((60, 2), np.float32),
    ).save(tmp_path / "bundle")  # fmt: skip
    frame = hm_frame(arrays)
    csv = tmp_path / "tx.csv"
    frame.to_csv(csv, index=False)
    config = {"data": {"preset": "hm", "path": str(csv)}, "bundle": str(tmp_path / "bundle"),
              "models": [{"type": "visual"}, {"name": "knn-sep", "type": "item_knn", "rerank": {"pool": 3}}]}
    out = tmp_path / "r"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 0
    results = read_results(out)
    assert set(results) == {"popularity", "visual", "knn-sep"}
    # the re-ranked lists stay inside the users' clusters far more than popularity's do: lower diversity
    assert results["knn-sep"]["diversity@12"] < results["popularity"]["diversity@12"]
    content = json.loads((out / "data_report.json").read_text())["content"]
    assert content["log_items_in_bundle"] == frame.article_id.nunique() and content["log_items_not_in_bundle"] == 0


def test_infinite_weights_are_dropped_and_a_failing_model_keeps_the_others(tmp_path, capsys):
    """#14 item 10: inf / 1e309 weights are dropped and counted (ALS used to fail with NaN factors), and a model
    that fails is reported while every other model's results are still written."""
    frame = hm_frame(planted_arrays(300, 80, n_groups=4, mean_interactions=10, n_days=30, seed=2)).assign(qty=1.0)
    frame.loc[:4, "qty"] = [np.inf, 1e309, -np.inf, np.inf, 1e309]
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    config = {
        "name": "t", "data": {"path": str(path), "columns": {"user": "customer_id", "item": "article_id",
                                                              "time": "t_dat", "weight": "qty"}},
        "split": {"method": "random", "test_fraction": 0.2, "seed": 0}, "k": 5,
        "models": [{"name": "als", "type": "als", "params": {"factors": 8, "iterations": 5}},
                   {"name": "ease-too-big", "type": "ease", "params": {"max_items": 3}}],
    }  # fmt: skip
    out = tmp_path / "results"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 0
    assert "model 'ease-too-big' failed" in capsys.readouterr().err
    results = read_results(out)
    assert set(results) == {"popularity", "als"} and np.isfinite(list(results["als"].values())).all()
    report = json.loads((out / "data_report.json").read_text())
    assert report["log"]["rows_dropped"]["non-finite weight"] == 5  # inf, 1e309 (read as inf) and -inf
    assert "ease-too-big" in report["failed_models"]


def test_items_only_in_the_test_week_are_not_hit_by_elimination(tmp_path):
    """Every shopper bought the whole catalog in training and only new arrivals in the test week: a collaborative
    model knows nothing of the new pieces, so it must not "find" them as the only unseen items left (popularity at
    count 0, ALS at zero factors, BPR at its random start and item-kNN at 0 did, with recall 1.0)."""
    rows = [(f"u{u}", f"i{i}", f"2024-01-{1 + i:02d}") for u in range(6) for i in range(10)]
    rows += [(f"u{u}", f"new{u % 2}", "2024-01-20") for u in range(6)]
    path = tmp_path / "log.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "t"]).to_csv(path, index=False)
    models = [{"name": "als", "type": "als", "params": {"factors": 4, "iterations": 3}},
              {"name": "bpr", "type": "bpr", "params": {"factors": 4, "iterations": 3}},
              {"name": "knn", "type": "item_knn"}, {"name": "ease", "type": "ease"}]
    config = {"data": {"path": str(path), "columns": {"time": "t"}}, "split": {"method": "time", "test_days": 3},
              "k": 5, "models": models}  # fmt: skip
    out = tmp_path / "results"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 0
    results = read_results(out)
    assert set(results) == {"popularity", "als", "bpr", "knn", "ease"}
    assert all(metrics["hit_rate@5"] == 0.0 for metrics in results.values()), results
    split = json.loads((out / "data_report.json").read_text())["split"]
    assert split["test_pairs_with_cold_item"] == split["test_pairs"] == 6


def test_a_typo_inside_data_synthetic_is_named(tmp_path, capsys):
    config = {"data": {"synthetic": {"n_user": 100}}, "models": [{"type": "als"}]}
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "r")]) == 2
    assert "data.synthetic has unknown keys ['n_user']; allowed keys are" in capsys.readouterr().err


@pytest.fixture(scope="module")
def space_log(tmp_path_factory):
    """A Space ratings database of simulated shoppers (1–5 stars, dislikes included) and a saved bundle of the
    catalog they rated, less its first five pieces."""
    from jewelrec import Recommender
    from jewelrec.evaluation.models.shipped import restrict
    from jewelrec.evaluation.synthetic_ratings import shopper_ratings, write_ratings_db
    from tests.conftest import make_synthetic_bundle

    root = tmp_path_factory.mktemp("space-log")
    catalog = make_synthetic_bundle(n_items=120)
    ratings = shopper_ratings(catalog.items, Recommender(catalog).rate_order, n_shoppers=150, browse=16, seed=1)
    db = write_ratings_db(ratings, root / "ratings.db")
    restrict(catalog, np.arange(5, 120)).save(root / "bundle")
    return db, root / "bundle", ratings


def test_the_shipped_recommender_next_to_als_in_one_results_json(tmp_path, capsys, space_log):
    db, bundle, ratings = space_log
    # relevant = a held-out 4–5★; the 1–3★ rows are no positive for ALS but reach jewelrec as raw stars
    data = {"preset": "space-ratings", "path": str(db), "rating_confidence": {1: 0, 2: 0, 3: 0, 4: 1, 5: 2}}
    config = {"data": data, "bundle": str(bundle),
              "split": {"method": "random", "test_fraction": 0.25, "seed": 0}, "k": 10,
              "models": [{"name": "als", "type": "als", "params": {"factors": 8, "iterations": 10}},
                         {"name": "jewelrec", "type": "jewelrec"},
                         {"name": "jewelrec-no-dislike-term", "type": "jewelrec", "params": {"dislike_weight": 0.0}}]}
    out = tmp_path / "results"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 0
    results = read_results(out)
    assert list(results) == ["popularity", "als", "jewelrec", "jewelrec-no-dislike-term"]
    assert set(results["jewelrec"]) == set(results["als"])  # the same metrics, diversity included
    assert results["jewelrec"]["ndcg@10"] > 1.5 * results["popularity"]["ndcg@10"]
    err = capsys.readouterr().err
    assert "note: model 'jewelrec': 5 log items" in err and "not in the bundle" in err
    record = json.loads((out / "run.json").read_text())["models"]
    assert record["jewelrec"]["log_items_not_in_bundle"] == 5 and record["jewelrec"]["ratings_not_in_bundle"] > 0
    assert record["jewelrec"]["training_dislikes"] > 0 and record["jewelrec-no-dislike-term"]["params"] == {
        "dislike_weight": 0.0}
    report = json.loads((out / "data_report.json").read_text())
    assert report["log"]["dislikes_kept_for_star_models"] == int((ratings.stars <= 3).sum())
    assert 0 < report["star_ratings"]["training_dislikes"] < report["log"]["dislikes_kept_for_star_models"]


def test_stars_read_as_weights_say_that_their_1_2_star_rows_are_positives(tmp_path, capsys, space_log):
    # a rating column without data.rating_confidence: every 1–2★ trained the collaborative models as a like and
    # counted as relevant, while the data report said dislikes were kept out
    import sqlite3

    db, bundle, ratings = space_log
    csv = tmp_path / "ratings.csv"
    with sqlite3.connect(db) as conn:
        pd.read_sql_query("SELECT user_id, item_id, stars, updated_at FROM ratings", conn).to_csv(csv, index=False)
    data = {"path": str(csv), "columns": {"user": "user_id", "item": "item_id", "rating": "stars",
                                          "time": "updated_at"}, "time_format": "unix"}
    config = {"data": data, "bundle": str(bundle), "split": {"method": "random", "test_fraction": 0.25}, "k": 5,
              "models": [{"type": "jewelrec"}]}
    out = tmp_path / "r"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 0
    assert "rated 1–2★ are positives" in capsys.readouterr().err
    report = json.loads((out / "data_report.json").read_text())["star_ratings"]
    counts = report["positive_dislikes"]
    assert counts["train"] + counts["test"] == int((ratings.stars <= 2).sum()) > 0
    assert "set data.rating_confidence" in report["note"]


def test_a_sweep_over_the_shipped_recommender_settings(tmp_path, space_log):
    """Sweeps carve a validation split from the training side; its star view (dislikes included) follows."""
    db, bundle, _ = space_log
    config = {"data": {"preset": "space-ratings", "path": str(db)}, "bundle": str(bundle), "run_mode": "sweep",
              "split": {"method": "random", "test_fraction": 0.25}, "k": 10, "sweep": {"metric": "ndcg@10"},
              "models": [{"name": "jewelrec", "type": "jewelrec", "params": {"dislike_weight": [0.0, 0.5]}}]}
    out = tmp_path / "sweep"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 0
    trials = pd.read_csv(out / "sweep.csv")
    assert trials.params.tolist() == ["dislike_weight=0.0", "dislike_weight=0.5"] and trials.best.sum() == 1
    assert set(json.loads((out / "best_params.json").read_text())["jewelrec"]) == {"dislike_weight"}
    assert json.loads((out / "data_report.json").read_text())["validation_split"]["evaluated_users"] > 0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"data": "hm"}, "reads 1–5 star ratings, and this log has none"),
        ({"filter_seen": False}, "set filter_seen: true"),
        ({"models": [{"type": "jewelrec", "rerank": {"pool": 3}}]}, "drop rerank"),
        ({"models": [{"type": "jewelrec", "params": {"dislike_wieght": 1}}]}, "allowed keys are"),
        ({"models": [{"type": "jewelrec", "params": {"query_weight": "high"}}]}, "query_weight must be a number"),
        ({"bundle": None}, "set its params.bundle or the config's bundle:"),
        ({"bundle": "NOWHERE"}, "NOWHERE"),
    ],
)
def test_the_jewelrec_model_fails_early_with_the_fix(tmp_path, capsys, space_log, change, message):
    db, bundle, _ = space_log
    config = {"data": {"preset": "space-ratings", "path": str(db)}, "bundle": str(bundle),
              "split": {"method": "random", "test_fraction": 0.25}, "models": [{"type": "jewelrec"}]}  # fmt: skip
    if change.get("data") == "hm":
        csv = tmp_path / "tx.csv"
        hm_frame(planted_arrays(50, 20, n_groups=2, seed=0)).to_csv(csv, index=False)
        change = {"data": {"preset": "hm", "path": str(csv)}}
    config.update(change)
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r" / "results.json").exists()



def test_a_validation_split_that_cannot_be_made_says_it_is_the_sweeps(tmp_path, capsys):
    """28 days, test_days 20: the test split works, but the sweep's validation split, carved from the 8 training
    days with the same test_days, cannot be; the message says which split failed, and its fix works."""
    log = {"synthetic": {"n_users": 150, "n_items": 40, "n_groups": 4, "n_days": 28, "seed": 0}}
    config = {"data": log, "split": {"method": "time", "test_days": 20}, "run_mode": "sweep", "k": 5,
              "models": [{"name": "ease", "type": "ease", "params": {"l2": [10, 100]}}, {"type": "item_knn"}]}
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "the sweep's validation split" in err and "covers the whole training part (it spans 8 days)" in err
    assert "sweep.select_on: test" in err and "covers the whole log" not in err
    config["sweep"] = {"select_on": "test"}  # the fix the message gives
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "t")]) == 0


@pytest.mark.parametrize("items_per_user, run_mode, source", [(1, "single", "log"), (2, "sweep", "training part")])
def test_a_random_split_without_repeat_users_names_the_cause(tmp_path, capsys, items_per_user, run_mode, source):
    rows = [(f"u{u}", f"i{(u + j) % 7}") for u in range(20) for j in range(items_per_user)]
    path = tmp_path / "log.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id"]).to_csv(path, index=False)
    config = {"data": {"path": str(path)}, "split": {"method": "random", "test_fraction": 0.5}, "k": 3,
              "run_mode": run_mode, "models": [{"type": "item_knn", "params": {"neighbours": [2, 5]}}
                                               if run_mode == "sweep" else {"type": "item_knn"}]}  # fmt: skip
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f"no user of the {source} has two or more distinct items" in err
    assert "a user with a single interaction always stays in training" in err and "split.method: time" in err
    assert "the test split is empty" not in err


def test_model_names_with_dollar_signs_are_drawn_as_written(tmp_path):
    """matplotlib read '$\\foo$' in a model name as TeX and raised while the figures were drawn — after results.json
    was replaced, so the folder held one run's results and the other's run.json."""
    config = {"data": {"synthetic": {"n_users": 200, "n_items": 50, "n_groups": 4, "mean_interactions": 8,
                                     "n_days": 20, "seed": 0}},
              "models": [{"name": "$\\foo$", "type": "item_knn"}, {"name": "$50 or $80", "type": "ease"}]}
    out = tmp_path / "results"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 0
    assert list(read_results(out)) == ["popularity", "$\\foo$", "$50 or $80"]
    assert json.loads((out / "run.json").read_text())["plots"] == ["metrics.png", "lift.png"]


def test_a_bundle_sharing_no_item_with_the_log_is_refused_naming_both_id_styles(tmp_path, monkeypatch, capsys):
    """visual / hybrid then scored exactly as popularity with no word, and the jewelrec model failed with a
    ZeroDivisionError; a bundle covering under half of the interactions gets a note."""
    arrays = planted_arrays(200, 60, n_groups=3, mean_interactions=10, seed=4)
    frame = pd.DataFrame({"user_id": [f"u{u}" for u in arrays.users], "item_id": [f"zz-{i}" for i in arrays.items]})
    frame.to_csv(tmp_path / "log.csv", index=False)
    bundle_ids = [f"jw-{i:04d}" for i in range(60)]
    fake = types.SimpleNamespace(item_ids=bundle_ids, embeddings=planted_embeddings(arrays.item_group),
                                 labels=arrays.item_group.astype(np.int64))
    bundle_module = types.ModuleType("jewelrec.serving.bundle")
    bundle_module.Bundle = types.SimpleNamespace(load=lambda path: fake)
    bundle_module.read_config = lambda path: {}  # the evaluator's early check that the bundle is one
    monkeypatch.setitem(sys.modules, "jewelrec.serving.bundle", bundle_module)
    config = {"data": {"path": str(tmp_path / "log.csv")}, "bundle": str(tmp_path / "bundle"),
              "split": {"method": "random", "test_fraction": 0.25}, "models": [{"type": "visual"}]}
    out = tmp_path / "r"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "none of the log's 60 items is in the bundle" in err and "'zz-" in err and "'jw-0000'" in err
    fake.item_ids = [f"zz-{i}" if i < 12 else f"jw-{i:04d}" for i in range(60)]  # a fifth of the catalog
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 0
    assert "of the log's interactions are with items in the bundle" in capsys.readouterr().err


def test_k_longer_than_the_catalog_is_refused_once_the_log_is_read(tmp_path, capsys):
    """k: 1000000000 reached every model and failed each with a MemoryError (834 GiB)."""
    config = {"data": {"synthetic": {"n_users": 200, "n_items": 50, "n_groups": 4, "mean_interactions": 8,
                                     "n_days": 20, "seed": 0}}, "k": 1_000_000_000, "models": [{"type": "item_knn"}]}
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "r")]) == 2
    assert "k: 1000000000 asks for longer lists than the log's 50 items; set k to at most 50" in capsys.readouterr().err


@pytest.mark.parametrize(("bundle", "models", "message"), [
    ("NO-SUCH-BUNDLE", [{"type": "visual"}], "bundle directory '.*NO-SUCH-BUNDLE' does not exist"),
    (None, [{"type": "als", "rerank": {}}], r"model 'als' \(als, rerank\) needs item embeddings: set `bundle: DIR`"),
    (None, [{"type": "jewelrec", "params": {"bundle": "EMPTY"}}], "EMPTY has no config.json"),
])  # fmt: skip
def test_a_missing_bundle_is_named_before_the_log_is_read(tmp_path, capsys, bundle, models, message):
    """A big log takes minutes to read; the bundle the models need was found missing only after it."""
    (tmp_path / "EMPTY").mkdir()
    models = [{**m, "params": {"bundle": str(tmp_path / m["params"]["bundle"])}} if "params" in m else m
              for m in models]
    config = {"data": {"path": str(tmp_path / "LOG-NOT-READ.csv")}, "models": models,
              **({"bundle": str(tmp_path / bundle)} if bundle else {})}
    out = tmp_path / "r"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "LOG-NOT-READ" not in err and not out.exists(), err


HAND_LOG = """user_id,item_id,ts
u1,a,2024-01-01
u1,b,2024-01-01
u2,a,2024-01-01
u2,c,2024-01-02
u3,a,2024-01-01
u3,b,2024-01-02
u3,d,2024-01-02
u4,e,2024-01-01
u1,c,2024-01-10
u1,f,2024-01-10
u2,b,2024-01-10
u2,d,2024-01-10
u3,e,2024-01-10
u4,a,2024-01-10
u5,a,2024-01-10
"""


def _hand_config(tmp_path: Path, **changes) -> dict:
    (tmp_path / "log.csv").write_text(HAND_LOG)
    return {"data": {"path": str(tmp_path / "log.csv"), "columns": {"time": "ts"}},
            "split": {"method": "time", "test_days": 1}, "k": 2, **changes}


def test_a_swept_model_whose_refit_fails_is_left_out_and_the_rest_is_written(tmp_path, capsys):
    # the validation side holds 3 items, the full training side 5: every EASE trial fits, the refit exceeds
    # max_items. The run died with KeyError 'ease' before writing anything, beside an older run's outputs.
    config = _hand_config(tmp_path, run_mode="sweep", models=[
        {"type": "popularity"}, {"name": "ease", "type": "ease", "params": {"l2": [1.0, 10.0], "max_items": 4}}])
    out = tmp_path / "r"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 0
    assert "model 'ease' failed" in capsys.readouterr().err
    results = read_results(out)
    assert set(results) == {"popularity"}
    assert not (out / "sweep.csv").exists()  # no trial of a model without results
    assert "ease" in json.loads((out / "data_report.json").read_text())["failed_models"]


def test_a_wandb_project_wandb_refuses_is_named_before_any_work(tmp_path, capsys):
    config = _hand_config(tmp_path, tracker="wandb", project="team/offline-eval", models=[{"type": "popularity"}])
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "project 'team/offline-eval' is not a name wandb takes" in err and "WANDB_ENTITY" in err
    assert not (tmp_path / "r").exists()  # it failed after the first model had trained, the folder left empty


def test_a_tracker_that_fails_mid_run_loses_no_result(tmp_path, capsys, monkeypatch):
    from jewelrec.evaluation import tracking

    def broken(self, name, config):
        raise RuntimeError("tracker database is locked")

    monkeypatch.setattr(tracking.Tracker, "start_run", broken)
    config = _hand_config(tmp_path, models=[{"type": "popularity"}, {"type": "item_knn"}])
    out = tmp_path / "r"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 0
    assert "tracker none failed and logs nothing more (RuntimeError: tracker database is locked)" in \
        capsys.readouterr().err
    assert set(read_results(out)) == {"popularity", "item_knn"}
    assert json.loads((out / "run.json").read_text())["tracker"]["failed"].startswith("RuntimeError")


@pytest.mark.parametrize(("data", "message"), [
    ({"synthetic": {"n_users": 50, "n_items": 20}},  # + path: the planted log won, run.json named the file
     r"data: has both synthetic: \(a planted demo log\) and \['columns', 'path'\]"),
    ({"columns": {"time": "ts", "user": "user_id", "item": "user_id"}},
     "data.columns maps user and item to the same column 'user_id'"),
    ({"columns": {"time": "ts", "weight": "ts"}}, "data.columns maps time and weight to the same column 'ts'"),
])
def test_a_data_block_that_says_two_things_is_refused_before_the_log_is_read(tmp_path, capsys, data, message):
    config = _hand_config(tmp_path, models=[{"type": "popularity"}])
    config["data"] = {**config["data"], **data}
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "r")]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_epoch_seconds_under_unix_ms_are_refused_not_read_as_1970(tmp_path, capsys):
    (tmp_path / "log.csv").write_text("user_id,item_id,ts\n" + "".join(
        f"u{i % 5},i{i % 7},{1704880800 + 3600 * i}\n" for i in range(40)))
    config = {"data": {"path": str(tmp_path / "log.csv"), "columns": {"time": "ts"}, "time_format": "unix_ms"},
              "models": [{"type": "popularity"}]}
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "r")]) == 2
    assert "look like epoch seconds: set data.time_format: unix" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["log.jsonl", "log.txt"])
def test_a_json_lines_log_is_named_as_json_with_the_conversion(tmp_path, capsys, name):
    (tmp_path / name).write_text('{"user_id": "u1", "item_id": "a"}\n{"user_id": "u2", "item_id": "b"}\n')
    config = {"data": {"path": str(tmp_path / name)}, "models": [{"type": "popularity"}]}
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "is JSON, which the evaluator does not read" in err and "pd.read_json(" in err and "data.sep" not in err


def test_extreme_model_settings_fail_one_model_or_run_not_the_process(tmp_path, capsys):
    # EASE at l2: 1e-300 on a log whose items are copies of each other segfaulted in scipy.linalg.inv; item-kNN at
    # 2**30 neighbours was killed for memory; 100,000 ALS threads crashed implicit
    config = _hand_config(tmp_path, models=[
        {"type": "popularity"}, {"name": "ease", "type": "ease", "params": {"l2": 1.0e-300}},
        {"name": "knn", "type": "item_knn", "params": {"neighbours": 2**30}},
        {"name": "als", "type": "als", "params": {"num_threads": 100000, "factors": 4, "iterations": 2}}])
    (tmp_path / "log.csv").write_text(HAND_LOG.replace("u3,d,2024-01-02\n", "u3,d,2024-01-02\nu1,d,2024-01-01\n"))
    out = tmp_path / "r"
    proc = subprocess.run([sys.executable, "-m", "training.evaluate", "--config", write_eval_config(tmp_path, config),
                           "--results-dir", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = read_results(out)
    assert set(results) == {"popularity", "knn", "als"}
    assert "not positive definite in floating point" in proc.stderr and "raise params.l2" in proc.stderr


def test_a_number_yaml_reads_as_text_says_how_to_write_it(tmp_path, capsys):
    config = _hand_config(tmp_path, models=[{"type": "ease", "params": {"l2": "1e3"}}])
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "r")]) == 2
    assert "YAML reads 1e3 as text: write it with a dot and a sign, 1.0e+03, or as 1000" in capsys.readouterr().err


def test_a_run_where_every_model_asked_for_fails_writes_nothing_and_keeps_the_last_results(tmp_path, capsys):
    """The popularity baseline the run adds always succeeds, so "every model failed" never fired: the run exited 0
    and replaced a complete results.json with the baseline alone."""
    out = tmp_path / "r"
    good = _hand_config(tmp_path, models=[{"name": "ease", "type": "ease"}])
    assert main(["--config", write_eval_config(tmp_path, good), "--results-dir", str(out)]) == 0
    before = {name: (out / name).read_bytes() for name in ("results.json", "results.csv", "run.json")}
    bad = _hand_config(tmp_path, models=[{"name": "ease", "type": "ease", "params": {"max_items": 2}}])
    assert main(["--config", write_eval_config(tmp_path, bad), "--results-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"every model failed, so nothing was written \(results already in .* are kept\): 'ease': "
                     r".*max_items", err), err
    assert {name: (out / name).read_bytes() for name in before} == before
    # the baseline listed by name is a model asked for: its results are written
    listed = _hand_config(tmp_path, models=[{"type": "popularity"}, {"name": "ease", "type": "ease",
                                                                    "params": {"max_items": 2}}])
    assert main(["--config", write_eval_config(tmp_path, listed), "--results-dir", str(out)]) == 0
    assert set(read_results(out)) == {"popularity"}


def test_a_windowed_popularity_named_popularity_is_not_taken_for_the_baseline(tmp_path):
    """An unnamed ``type: popularity`` with a window takes the name ``popularity``; the baseline becomes
    ``popularity-baseline``, and the plots' grey bar and lifts must be relative to it (they were relative to the
    windowed model)."""
    from jewelrec import plotting

    seen = {}
    original = plotting.plot_lift

    def spy(results, path, baseline="popularity"):
        seen["lift"] = baseline
        return original(results, path, baseline=baseline)

    config = _hand_config(tmp_path, models=[{"type": "popularity", "params": {"window_days": 3}},
                                            {"name": "ease", "type": "ease"}])
    out = tmp_path / "r"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plotting, "plot_lift", spy)
        assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 0
    assert list(read_results(out)) == ["popularity-baseline", "popularity", "ease"]
    assert seen["lift"] == "popularity-baseline"
    assert json.loads((out / "run.json").read_text())["baseline"] == "popularity-baseline"


def test_diversity_at_k_1_is_named_not_left_null(tmp_path, capsys):
    """A list of one has no pair to compare: diversity@1 was null in results.json with no word, and a sweep on it
    trained every trial, then dropped the model."""
    base = {"data": {"synthetic": {"n_users": 100, "n_items": 30, "seed": 0}}, "bundle": "synthetic", "k": 1,
            "models": [{"name": "ease", "type": "ease", "params": {"l2": [1.0, 10.0]}}]}
    out = tmp_path / "r"
    sweep = {**base, "run_mode": "sweep", "sweep": {"metric": "diversity@1"}}
    assert main(["--config", write_eval_config(tmp_path, sweep), "--results-dir", str(out)]) == 2
    assert "'diversity@1' is not computed (diversity needs lists of two or more: k ≥ 2)" in capsys.readouterr().err
    named = {**base, "metrics": ["map", "diversity"]}
    assert main(["--config", write_eval_config(tmp_path, named), "--results-dir", str(out)]) == 2
    assert "k: 1 lists one piece; set k: 2 or more, or drop diversity" in capsys.readouterr().err
    assert not out.exists()
    single = {**base, "models": [{"name": "ease", "type": "ease"}]}  # metrics left out: all that apply
    assert main(["--config", write_eval_config(tmp_path, single), "--results-dir", str(out)]) == 0
    assert not any(m.startswith("diversity") for m in read_results(out)["ease"])
    assert json.loads((out / "run.json").read_text())["skipped_metrics"] == {
        "diversity": "needs lists of two or more: k ≥ 2"}


def test_a_windowed_popularity_on_a_log_without_times_is_refused_before_any_model_trains(tmp_path, capsys):
    (tmp_path / "log.csv").write_text("user_id,item_id\n" + "".join(f"u{u},i{(u * 3 + j) % 9}\n" for u in range(8)
                                                                  for j in range(3)))
    config = {"data": {"path": str(tmp_path / "log.csv")}, "split": {"method": "random"}, "k": 2,
              "models": [{"name": "ease", "type": "ease"}, {"name": "pop-7d", "type": "popularity",
                                                            "params": {"window_days": 7}}]}
    out = tmp_path / "r"
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "model 'pop-7d' counts a window (window_days), which needs the log's times" in err
    assert "failed" not in err and not (out / "results.json").exists()  # stopped before EASE trained
