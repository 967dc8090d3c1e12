"""The offline experiment: interaction logs → split → models → metrics, plots and a tracker.

    run(EvalConfig.from_yaml("training/configs/compare.yaml"), "results/")   # python -m training.evaluate

Writes ``results.json`` ({model: {metric: value}}), ``results.csv``, ``metrics.png`` / ``lift.png``,
``data_report.json`` (rows read, dropped per reason, split and cold-start counts), ``run.json`` (resolved config,
versions, timings, tracker) and, for ``run_mode: sweep``, ``sweep.csv`` / ``sweep.png`` / ``best_params.json``.
It writes into a new folder or one it wrote before, never over files it did not write
(:mod:`jewelrec.evaluation.results_dir`). The popularity baseline is always evaluated. ``type: jewelrec`` runs the
shipped recommender on the log's raw stars (:mod:`jewelrec.evaluation.models.shipped`). See README "Offline evaluation" for the config format.
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from jewelrec import jsonio, plotting
from jewelrec.evaluation.eval_config import TOP_KEYS, EvalConfig, synthetic_options  # noqa: F401  (importable here)
from jewelrec.evaluation.interactions import (
    InteractionLog,
    InteractionsConfig,
    aggregate_pairs,
    load_interactions,
    log_summary,
)
from jewelrec.evaluation.metrics import evaluate_ranking
from jewelrec.evaluation.models import CFModel, PopularityModel, align_to_columns
from jewelrec.evaluation.models.registry import (
    ItemContent,
    ModelSpec,
    build_model,
    bundle_of,
    expand_grid,
    load_bundle_content,
    swept_keys,
)
from jewelrec.evaluation.models.shipped import NO_STARS, check_star_range
from jewelrec.evaluation.results_dir import check_results_dir, mark_results_dir, remove_stale_outputs
from jewelrec.evaluation.splits import Split, make_split, split_report
from jewelrec.evaluation.stars import StarRatings, training_stars
from jewelrec.evaluation.synthetic_logs import item_id_strings, planted_arrays, planted_embeddings, user_id_strings
from jewelrec.evaluation.tracking import GuardedTracker, make_tracker
from jewelrec.extras import missing_extra


@dataclass
class EvalData:
    """Everything a model is trained and scored on, for one split."""

    train: sp.csr_matrix  # (n_users, n_items) summed weights
    days_ago: sp.csr_matrix | None  # same pattern, 1 + age in days at the split time
    users: np.ndarray  # (n_eval,) evaluated users (≥ 1 test item)
    relevant: sp.csr_matrix  # (n_eval, n_items) test items of each evaluated user
    warm: np.ndarray  # (n_eval,) bool: user has training interactions
    fallback: PopularityModel  # all-time popularity on train: the cold-start path
    report: dict[str, Any]
    stars: StarRatings | None = None  # raw training stars, dislikes included, for star models (jewelrec)


def load_log(data: dict[str, Any]) -> tuple[InteractionLog, ItemContent | None]:
    """Read the configured log; ``data: {synthetic: {...}}`` builds a planted demo log (+ its embeddings)."""
    if "synthetic" in data:
        opts = synthetic_options(data)
        dim = int(opts.pop("dim", 16))
        arrays = planted_arrays(**opts)
        log = InteractionLog(
            user_ids=user_id_strings(arrays.n_users), item_ids=item_id_strings(arrays.n_items),
            users=arrays.users, items=arrays.items, weights=np.ones(len(arrays.users), np.float32),
            times=arrays.times, n_rows_read=len(arrays.users),
        )  # fmt: skip
        embeddings = planted_embeddings(arrays.item_group, dim=dim, seed=int(opts.get("seed", 0)))
        content = ItemContent(log.item_ids, embeddings, arrays.item_group.astype(np.int64), "synthetic")
        return log, content
    return load_interactions(InteractionsConfig.from_dict(data)), None


def relevant_pairs(test: InteractionLog) -> tuple[sp.csr_matrix, int]:
    """(the test side's (n_users, n_items) weights, with every pair whose latest rating is a later dislike
    removed — 5★, then 1★ on a second look, is no relevant piece: a log of repeat ratings counted it —; how many
    were removed)."""
    dislikes = test.dislikes
    if dislikes is None or not len(dislikes) or test.times is None or dislikes.times is None:
        return test.to_csr(), 0
    matrix, latest = aggregate_pairs(test.users, test.items, test.weights, test.times, test.n_users, test.n_items)
    users = pd.Index(test.user_ids).get_indexer(dislikes.user_ids[dislikes.users])  # (n_dislikes,) -1: none
    items = pd.Index(test.item_ids).get_indexer(dislikes.item_ids[dislikes.items])
    known = (users >= 0) & (items >= 0)
    users, items, times = users[known], items[known], dislikes.times[known]
    positive_time = np.asarray(latest[users, items]).ravel() if len(users) else np.zeros(0)  # 0: no positive
    later = (positive_time > 0) & (times > positive_time)
    if not later.any():
        return matrix, 0
    matrix = matrix.tolil()
    matrix[users[later], items[later]] = 0
    matrix = matrix.tocsr()
    matrix.eliminate_zeros()
    return matrix, int(len(set(zip(users[later].tolist(), items[later].tolist()))))


def prepare(split: Split, config: EvalConfig) -> EvalData:
    if split.train.times is None:
        train, days_ago = split.train.to_csr(), None
    else:  # "now" for recency: the start of the test period (time split) or just after the last training event
        now = split.cutoff if split.cutoff is not None else int(split.train.times.max()) + 1
        train, days_ago = split.train.to_csr_with_age(now)
    test, undone = relevant_pairs(split.test)
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    n_test_users = len(users)
    if config.max_eval_users and len(users) > config.max_eval_users:
        rng = np.random.default_rng(config.seed)
        users = np.sort(rng.choice(users, size=config.max_eval_users, replace=False))
    if len(users) == 0:
        raise ValueError("the test split is empty; check split.test_days / split.test_fraction against the log")
    relevant = test[users]
    relevant.data[:] = 1.0
    warm = np.diff(train.indptr)[users] > 0
    report = {**split_report(split), "evaluated_users": len(users), "test_users_total": n_test_users,
              "cold_users_get_popularity": int((~warm).sum()),
              **({"test_pairs_rated_down_later": undone} if undone else {})}  # fmt: skip
    stars = training_stars(split.train) if config.star_models else None
    return EvalData(train, days_ago, users, relevant, warm, PopularityModel().fit(train), report, stars)


def recommend_for(model: CFModel, data: EvalData, k: int, filter_seen: bool):
    """(n_eval, k) ranked ids. Cold users — and users the model returns nothing for — get the popularity list; for
    a star-reading model a user with only dislikes in training is not cold."""
    ranked = np.full((len(data.users), k), -1, dtype=np.int64)
    warm = data.warm
    if getattr(model, "reads_stars", False) and data.stars is not None:
        # a user whose training ratings are all dislikes has no positive row but has told the model something:
        # the popularity list gave them back the very pieces they rated 1★
        warm = warm | (np.diff(data.stars.matrix.indptr)[data.users] > 0)
    warm = np.flatnonzero(warm)
    if len(warm):
        ranked[warm], _ = model.recommend(data.users[warm], data.train[data.users[warm]], k, filter_seen=filter_seen)
    empty = np.flatnonzero((ranked < 0).all(axis=1))
    if len(empty):
        ranked[empty], _ = data.fallback.recommend(data.users[empty], data.train[data.users[empty]], k, filter_seen)
    return ranked, len(empty)


def score_model(spec: ModelSpec, data: EvalData, config: EvalConfig, ctx: dict[str, Any]) -> tuple[dict, dict]:
    """Fit ``spec`` on ``data.train`` and return (metrics, timings/info)."""
    model = build_model(spec, ctx["content"], ctx["item_ids"], bundles=ctx["bundles"], default_bundle=config.bundle)
    t0 = time.perf_counter()
    if getattr(model, "reads_stars", False):
        model.fit(data.train, days_ago=data.days_ago, stars=data.stars)
    else:
        model.fit(data.train, days_ago=data.days_ago)
    t1 = time.perf_counter()
    ranked, n_fallback = recommend_for(model, data, config.k, config.filter_seen)
    t2 = time.perf_counter()
    item_users = np.bincount(data.train.indices, minlength=data.train.shape[1])
    metrics = evaluate_ranking(
        data.relevant, ranked, config.k, metrics=[m for m in config.metrics if not config.skipped_metric_reason(m)],
        n_items=data.train.shape[1], item_users=item_users,
        n_train_users=int((np.diff(data.train.indptr) > 0).sum()),
        embeddings=ctx["embeddings"], has_embedding=ctx["has_embedding"],
    )  # fmt: skip
    info = {"type": spec.type, "params": spec.flat_params(), "fit_seconds": round(t1 - t0, 3),
            "recommend_seconds": round(t2 - t1, 3), "fallback_users": n_fallback,
            **getattr(model, "report_", {})}  # fmt: skip
    return metrics, info


def run(config: EvalConfig, results_dir: str | Path) -> dict[str, dict[str, float]]:
    """Run the whole evaluation; returns the results map that is also written to ``results.json``. The config and
    ``results_dir`` (:func:`~jewelrec.evaluation.results_dir.check_results_dir`) are checked before any work."""
    config.validate()
    check_bundles(config)
    out = check_results_dir(results_dir)
    started = time.time()
    log, synthetic_content = load_log(config.data)
    if config.k > log.n_items:  # a list longer than the catalog is padding (and at k: 1e9, a MemoryError)
        raise ValueError(f"k: {config.k} asks for longer lists than the log's {log.n_items} items; set k to at most "
                         f"{log.n_items} (H&M's is 12)")
    content = None
    if config.bundle == "synthetic":  # the planted log's own embeddings: a demo without a bundle
        if synthetic_content is None:
            raise ValueError("bundle: synthetic only works with data: {synthetic: ...}; give a bundle directory")
        content = synthetic_content
    elif config.bundle:
        content = load_bundle_content(config.bundle)
    bundles = _star_model_bundles(config, log, content)  # the log's stars first: their error says more
    if content is not None and config.bundle != "synthetic":
        check_overlap(log, content.item_ids, config.bundle)
    split = make_split(log, config.split)
    ctx: dict[str, Any] = {"content": content, "item_ids": log.item_ids, "embeddings": None, "has_embedding": None,
                           "bundles": bundles}  # fmt: skip
    data_report: dict[str, Any] = {"log": log_summary(log)}
    if content is not None:
        embeddings, _, has = align_to_columns(content.item_ids, content.embeddings, content.labels, log.item_ids)
        ctx["embeddings"], ctx["has_embedding"] = embeddings, has
        train_users_with_content = np.zeros(log.n_users, dtype=bool)
        train_users_with_content[split.train.users[has[split.train.items]]] = True
        data_report["content"] = {
            "source": content.source, "bundle_items": len(content.item_ids), "log_items_in_bundle": int(has.sum()),
            "log_items_not_in_bundle": int((~has).sum()),
            "interactions_with_items_not_in_bundle": int((~has[log.items]).sum()),
            "train_users_without_any_bundle_item": int(np.unique(split.train.users).size
                                                       - train_users_with_content.sum()),
            "rule": "visual model: items outside the bundle are neither profiled nor recommended; users with no "
                    "in-bundle history get the popularity list",
        }  # fmt: skip
    test_data = prepare(split, config)
    data_report["split"] = test_data.report
    if test_data.stars is not None:
        data_report["star_ratings"] = {
            "training_ratings": int(test_data.stars.matrix.nnz), "training_dislikes": test_data.stars.n_dislikes,
            "dislikes_of_users_without_a_positive": test_data.stars.n_dislikes_of_unknown_users,
            "rule": "jewelrec model: raw stars of the training side, 1–2★ included; collaborative models see only "
                    "the positive rows; dislikes follow the split (time: cutoff; random: a re-rated pair's on its pair's "
                    "side, the rest held back at the same share)",
        }  # fmt: skip
        low = [int((part.stars <= 2).sum()) if part.stars is not None else 0 for part in (split.train, split.test)]
        if sum(low):  # no rating_confidence: the stars are the weights, and a 1★ is a (light) positive
            note = (f"{low[0]} training and {low[1]} test rows rated 1–2★ are positives (no data.rating_confidence "
                    "maps them to 0, so the star is the weight): the collaborative models learn them as liked and "
                    "they count as relevant; set data.rating_confidence, e.g. {1: 0, 2: 0, 3: 0, 4: 1, 5: 2}, to "
                    "keep dislikes out of both")
            data_report["star_ratings"].update(positive_dislikes={"train": low[0], "test": low[1]}, note=note)
            print(f"note: {note}", file=sys.stderr)
    datasets = {"test": test_data}
    if config.run_mode == "sweep" and config.sweep.get("select_on", "validation") == "validation":
        if any(swept_keys(m) for m in config.models):
            datasets["validation"] = _validation_data(split, config)
            data_report["validation_split"] = datasets["validation"].report

    tracker = GuardedTracker(make_tracker(config.tracker, config.project, out))  # its failure loses no result
    results: dict[str, dict[str, float]] = {}
    infos: dict[str, dict[str, Any]] = {}
    trials: list[dict[str, Any]] = []
    for spec in config.models:  # what needs the data (bundles, embeddings) is checked before the first one trains
        for candidate in expand_grid(spec):
            model = build_model(candidate, ctx["content"], ctx["item_ids"], bundles=bundles,
                                default_bundle=config.bundle)
            if getattr(model, "needs_times", False) and log.times is None:  # it failed after the others trained
                raise ValueError(f"model {spec.name!r} counts a window (window_days), which needs the log's times; "
                                 "set data.columns.time (or a preset with times) or drop window_days")
    failed: dict[str, str] = {}
    for spec in tqdm(config.models, desc="models", disable=None):
        chosen, model_trials = spec, []  # a model's trials join sweep.csv only when its refit is scored too
        try:
            if config.run_mode == "sweep" and swept_keys(spec):
                chosen = _sweep(spec, datasets.get("validation", test_data), config, ctx, tracker, model_trials)
            metrics, info = score_model(chosen, test_data, config, ctx)
        except Exception as err:  # one model failing must not lose the other models' results
            fix = missing_extra(err) if isinstance(err, ModuleNotFoundError) else None
            failed[spec.name] = fix or f"{type(err).__name__}: {err}"
            print(f"warning: model {spec.name!r} failed and is left out of results.json: {failed[spec.name]}",
                  file=sys.stderr)
            continue
        results[spec.name] = {k: float(v) for k, v in metrics.items()}
        infos[spec.name] = info
        trials.extend(model_trials)
        if info.get("note"):
            print(f"note: model {spec.name!r}: {info['note']}", file=sys.stderr)
        tracker.start_run(f"{config.name}/{spec.name}", {"model": spec.name, "type": spec.type, **info["params"]})
        tracker.log({**results[spec.name], "fit_seconds": info["fit_seconds"]})
        tracker.finish_run()

    if failed:
        data_report["failed_models"] = failed
        if set(results) <= {config.added_baseline}:  # the baseline it added answers nothing that was asked
            reasons = "; ".join(f"{name!r}: {why}" for name, why in failed.items())
            raise ValueError(f"every model failed, so nothing was written (results already in {out} are kept): "
                             f"{reasons}")
    _write_outputs(out, config, results, infos, trials, data_report, tracker.info(), started)
    return results


def check_bundles(config: EvalConfig) -> None:
    """Every bundle the models need is named and is a bundle directory (its config.json read), before the log is
    loaded — a big log takes minutes, and a typo in ``bundle:`` would be found only after them."""
    from jewelrec.serving.bundle import read_config

    for spec in config.models:
        if spec.needs_content and not config.bundle:  # build_model's words, said before the log is read
            raise ValueError(f"model {spec.name!r} ({spec.type}{', rerank' if spec.rerank else ''}) needs item "
                             "embeddings: set `bundle: DIR` (a jewelrec bundle from python -m training.fit) in the config")
    paths = [config.bundle] if config.bundle and config.bundle != "synthetic" else []
    paths += [bundle_of(spec, config.bundle) for spec in config.star_models]
    for path in dict.fromkeys(paths):
        read_config(Path(path))


def _star_model_bundles(config: EvalConfig, log: InteractionLog, content: ItemContent | None) -> dict[str, Any]:
    """Check the log can drive the jewelrec models (raw 1–5 stars) and load each of their bundles once."""
    if not config.star_models:
        return {}
    if log.stars is None:
        raise ValueError(f"models {[m.name for m in config.star_models]}: {NO_STARS}")
    stars = log.stars if log.dislikes is None else np.concatenate([log.stars, log.dislikes.stars])
    for spec in config.star_models:
        check_star_range(stars, spec.name)
    from jewelrec.serving.bundle import Bundle

    bundles: dict[str, Any] = {}
    if content is not None and content.bundle is not None:
        bundles[str(config.bundle)] = content.bundle
    for spec in config.star_models:
        path = bundle_of(spec, config.bundle)
        if path not in bundles:
            bundles[path] = Bundle.load(path)
            check_overlap(log, bundles[path].item_ids, path)
    return bundles


def check_overlap(log: InteractionLog, bundle_item_ids: Sequence[str], bundle: str) -> None:
    """Refuse a bundle that shares no item with the log (every score would be the fallback's, or a division by
    zero), naming both id styles; note on stderr when it covers under half of the log's interactions."""
    known = set(map(str, bundle_item_ids))
    has = np.fromiter((str(i) in known for i in log.item_ids), bool, count=len(log.item_ids))  # (n_items,)
    if not has.any():
        raise ValueError(f"none of the log's {len(log.item_ids)} items is in the bundle {bundle!r} (log ids look "
                         f"like {[str(i) for i in log.item_ids[:3]]}, the bundle's like "
                         f"{[str(i) for i in list(bundle_item_ids)[:3]]}); use the bundle fitted on the catalog the "
                         "log's items come from")
    covered = float(has[log.items].mean()) if len(log.items) else 1.0
    if covered < 0.5:
        print(f"note: only {covered:.0%} of the log's interactions are with items in the bundle {bundle!r}; models "
              "that need the bundle see only those (counts in data_report.json)", file=sys.stderr)


def _validation_data(split: Split, config: EvalConfig) -> EvalData:
    """The sweep's validation split: ``split:`` applied again to the training part. Its errors say so, since the
    test split of the same settings worked."""
    try:
        return prepare(make_split(split.train, config.split, source="training part"), config)
    except ValueError as err:
        raise ValueError(f"the sweep's validation split (split: applied again to the training part): {err}; or set "
                         "sweep.select_on: test to pick the best trial on the test split") from None


def _sweep(spec, data, config, ctx, tracker, trials) -> ModelSpec:
    metric, keys = config.sweep_metric, swept_keys(spec)
    best, best_value = None, -np.inf
    rows = []
    for i, candidate in enumerate(tqdm(expand_grid(spec), desc=f"sweep {spec.name}", leave=False, disable=None)):
        metrics, info = score_model(candidate, data, config, ctx)
        if metric not in metrics:
            raise ValueError(f"sweep.metric {metric!r} is not computed; computed metrics are {sorted(metrics)}")
        label = ",".join(f"{k}={candidate.flat_params()[k]}" for k in keys)
        rows.append({"model": spec.name, "trial": i, "params": label, **metrics, "fit_seconds": info["fit_seconds"],
                     "best": False, "_spec": candidate})  # fmt: skip
        tracker.start_run(f"{config.name}/{spec.name}/trial{i}", {"model": spec.name, **candidate.flat_params()})
        tracker.log({f"{data_name(config)}/{k}": v for k, v in metrics.items()})
        tracker.finish_run()
        if metrics[metric] > best_value:
            best, best_value = candidate, metrics[metric]
    if best is None:  # no trial scored above -inf (an empty grid, or the metric NaN every time)
        raise ValueError(f"the sweep of {spec.name!r} found no best trial by {metric}; check its listed values")
    for row in rows:
        row["best"] = row["_spec"] is best
        trials.append({k: v for k, v in row.items() if k != "_spec"})
    return best


def data_name(config: EvalConfig) -> str:
    return "validation" if config.sweep.get("select_on", "validation") == "validation" else "test"


def _versions() -> dict[str, str | None]:
    """The versions the run used (implicit: None when the [eval] extra is not installed — popularity, EASE and the
    jewelrec model run without it)."""
    import scipy

    import jewelrec

    try:
        import implicit as cf_library

        implicit = cf_library.__version__
    except ImportError:
        implicit = None
    return {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
            "pandas": pd.__version__, "implicit": implicit, "jewelrec": jewelrec.__version__}  # fmt: skip


def _write_outputs(out, config, results, infos, trials, data_report, tracker_info, started) -> None:
    mark_results_dir(out)
    # the figures first: the step most likely to fail (odd names, fonts), before any earlier result is replaced
    plots = [plotting.plot_eval_metrics(results, out / "metrics.png", baseline=config.baseline),
             plotting.plot_lift(results, out / "lift.png", baseline=config.baseline)]
    if trials:
        plots.append(plotting.plot_sweep(trials, config.sweep_metric, out / "sweep.png"))
    jsonio.write(out / "results.json", results, sort_keys=False)  # config order: baseline first
    rows = [{"model": m, **v, "fit_seconds": infos[m]["fit_seconds"], "recommend_seconds": infos[m]["recommend_seconds"]}
            for m, v in results.items()]  # fmt: skip
    pd.DataFrame(rows).to_csv(out / "results.csv", index=False)
    jsonio.write(out / "data_report.json", data_report)
    if trials:
        pd.DataFrame(trials).to_csv(out / "sweep.csv", index=False)
        best = {t["model"]: infos[t["model"]]["params"] for t in trials if t["best"]}
        jsonio.write(out / "best_params.json", best)
    config_dict = asdict(config)
    config_dict.pop("added_baseline", None)  # not a setting: the record's "baseline" says which model it is
    computed = {m.split("@")[0] for values in results.values() for m in values}
    skipped = {m: config.skipped_metric_reason(m) or "inputs missing" for m in config.metrics if m not in computed}
    record = {
        "config": config_dict, "baseline": config.baseline, "started_at": started, "duration_seconds": round(time.time() - started, 3),
        "models": infos, "sweep_selected_on": data_name(config) if trials else None, "tracker": tracker_info, "skipped_metrics": skipped,
        "versions": _versions(), "plots": [str(p.name) for p in plots if p is not None],
    }  # fmt: skip
    jsonio.write(out / "run.json", record)
    written = ["results.json", "results.csv", "data_report.json", "run.json", *record["plots"]]
    remove_stale_outputs(out, [*written, *(["sweep.csv", "best_params.json"] if trials else [])])


def summary_table(results: dict[str, dict[str, float]], k: int) -> str:
    frame = pd.DataFrame(results).T
    head = [c for c in (f"map@{k}", f"ndcg@{k}", f"recall@{k}", f"hit_rate@{k}", f"coverage@{k}") if c in frame]
    return frame[head].round(4).to_string()
