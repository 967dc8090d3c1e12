"""Collaborative-filtering benchmarks; prints one JSON document.

    python bench/bench_cf.py                      # all three stages, each in its own process (own peak RSS)
    python bench/bench_cf.py --only als           # ALS fit on 1M interactions (target ≤ 30 s on 2 cores)
    python bench/bench_cf.py --only eval          # evaluate 100k users at k=12 (target ≤ 30 s)
    python bench/bench_cf.py --only hm --hm-scale 1.0   # H&M-shaped log: 31.8M rows, 1.37M users, 105k items

Logs come from the planted generator (jewelrec.evaluation.synthetic_logs), integer arrays straight into the pipeline's
InteractionLog; ``--csv-rows`` additionally times the CSV loader (H&M preset) on a file of that many rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jewelrec.cli.arguments import positive_number, whole_number  # noqa: E402
from jewelrec.evaluation.interactions import InteractionLog, InteractionsConfig, load_interactions  # noqa: E402
from jewelrec.evaluation.metrics import evaluate_ranking  # noqa: E402
from jewelrec.evaluation.models import ALSModel, PopularityModel  # noqa: E402
from jewelrec.evaluation.splits import SplitConfig, random_split, split_report, time_split  # noqa: E402
from jewelrec.evaluation.synthetic_logs import hm_frame, planted_arrays  # noqa: E402

HM = {"rows": 31_788_324, "users": 1_371_980, "items": 105_542, "days": 734}


N_GROUPS = 50  # planted taste groups: every log needs at least one item per group

def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


def _log(n_users: int, n_items: int, per_user: float, n_days: int, seed: int = 0) -> InteractionLog:
    arrays = planted_arrays(n_users, n_items, n_groups=N_GROUPS, mean_interactions=per_user, n_days=n_days,
                            seed=seed)
    ids = np.arange(max(n_users, n_items)).astype(str).astype(object)
    return InteractionLog(ids[:n_users], ids[:n_items], arrays.users, arrays.items,
                          np.ones(len(arrays.users), np.float32), arrays.times, len(arrays.users))  # fmt: skip


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - start, 2)


def stage_als(factors: int, iterations: int) -> dict:
    log = _log(100_000, 20_000, 10.0, 60)
    matrix = log.to_csr()
    model, seconds = _timed(lambda: ALSModel(factors, iterations=iterations).fit(matrix))
    return {"stage": "als_fit_1M", "interactions": len(log), "nnz": int(matrix.nnz), "users": log.n_users,
            "items": log.n_items, "factors": factors, "iterations": iterations, "fit_seconds": seconds,
            "target_seconds": 30, "peak_rss_gib": round(peak_rss_gib(), 2)}  # fmt: skip


def _evaluate(model, train, test, users, k):
    ids, _ = model.recommend(users, train[users], k)
    relevant = test[users]
    item_users = np.bincount(train.indices, minlength=train.shape[1])
    return evaluate_ranking(relevant, ids, k, n_items=train.shape[1], item_users=item_users,
                            n_train_users=train.shape[0])  # fmt: skip


def stage_eval(factors: int, k: int) -> dict:
    log = _log(110_000, 20_000, 12.0, 60)
    split = random_split(log, 0.2, seed=0)  # every user with ≥ 2 items lands on both sides
    train, test = split.train.to_csr(), split.test.to_csr()
    users = np.flatnonzero((np.diff(train.indptr) > 0) & (np.diff(test.indptr) > 0))[:100_000]
    als = ALSModel(factors, iterations=5).fit(train)
    result = {"stage": "evaluate_100k_users", "users": len(users), "items": log.n_items, "k": k, "factors": factors,
              "target_seconds": 30}  # fmt: skip
    for name, model in (("als", als), ("popularity", PopularityModel().fit(train))):
        metrics, seconds = _timed(partial(_evaluate, model, train, test, users, k))
        result[f"{name}_recommend_and_metrics_seconds"] = seconds
        result[f"{name}_map@{k}"] = round(metrics[f"map@{k}"], 4)
    result["peak_rss_gib"] = round(peak_rss_gib(), 2)
    return result


def stage_hm(scale: float, factors: int, iterations: int, k: int, max_eval_users: int | None) -> dict:
    n_users, n_items = max(1, int(HM["users"] * scale)), max(N_GROUPS, int(HM["items"] * scale))
    per_user = HM["rows"] / HM["users"]
    out: dict = {"stage": "hm_shaped", "scale": scale, "factors": factors, "iterations": iterations, "k": k}
    log, out["generate_seconds"] = _timed(lambda: _log(n_users, n_items, per_user, HM["days"]))
    out.update(rows=len(log), users=log.n_users, items=log.n_items)
    split, out["split_seconds"] = _timed(partial(time_split, log, SplitConfig().test_days))
    report = split_report(split)
    out.update(train_rows=report["train_rows"], test_users=report["test_users"])
    log = None  # free the row arrays before the matrices are built; only the split's halves are needed
    train, out["train_csr_seconds"] = _timed(split.train.to_csr)
    test, out["test_csr_seconds"] = _timed(split.test.to_csr)
    split = None
    out["train_nnz"] = int(train.nnz)
    pop, out["popularity_fit_seconds"] = _timed(lambda: PopularityModel().fit(train))
    als, out["als_fit_seconds"] = _timed(lambda: ALSModel(factors, iterations=iterations).fit(train))
    users = np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(train.indptr) > 0))
    if max_eval_users and len(users) > max_eval_users:
        users = np.sort(np.random.default_rng(0).choice(users, max_eval_users, replace=False))
    out["evaluated_users"] = len(users)
    for name, model in (("popularity", pop), ("als", als)):
        metrics, out[f"{name}_evaluate_seconds"] = _timed(partial(_evaluate, model, train, test, users, k))
        out[f"{name}_map@{k}"] = round(metrics[f"map@{k}"], 4)
    out["peak_rss_gib"] = round(peak_rss_gib(), 2)
    return out


def stage_csv(rows: int) -> dict:
    n_users = max(1, int(rows / (HM["rows"] / HM["users"])))
    arrays = planted_arrays(n_users, max(N_GROUPS, int(HM["items"] * rows / HM["rows"])), n_groups=N_GROUPS,
                            mean_interactions=HM["rows"] / HM["users"], n_days=HM["days"])  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "transactions_train.csv"
        frame = hm_frame(arrays)
        frame.to_csv(path, index=False)
        size = path.stat().st_size
        del frame
        log, seconds = _timed(lambda: load_interactions(InteractionsConfig.from_dict({"preset": "hm", "path": str(path)})))
    return {"stage": "hm_csv_load", "rows": len(log), "file_mib": round(size / 2**20, 1), "load_seconds": seconds,
            "rows_per_second": int(len(log) / seconds), "peak_rss_gib": round(peak_rss_gib(), 2)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    parser.add_argument("--only", choices=["als", "eval", "hm", "csv"], default=None)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--k", type=int, default=12)
    parser.add_argument("--hm-scale", type=positive_number, default=1.0, help="fraction of H&M users/items/rows")
    parser.add_argument("--hm-max-eval-users", type=int, default=None, help="subsample evaluated users")
    parser.add_argument("--csv-rows", type=whole_number(1), default=2_000_000)
    args = parser.parse_args(argv)
    if args.only is None:
        stages = []
        for only in ("als", "eval", "csv", "hm"):
            cmd = [sys.executable, __file__, "--only", only, "--factors", str(args.factors), "--iterations",
                   str(args.iterations), "--k", str(args.k), "--hm-scale", str(args.hm_scale),
                   "--csv-rows", str(args.csv_rows)]  # fmt: skip
            if args.hm_max_eval_users:
                cmd += ["--hm-max-eval-users", str(args.hm_max_eval_users)]
            stages.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
        result = {"machine": _machine(), "stages": stages}
    elif args.only == "als":
        result = stage_als(args.factors, args.iterations)
    elif args.only == "eval":
        result = stage_eval(args.factors, args.k)
    elif args.only == "csv":
        result = stage_csv(args.csv_rows)
    else:
        result = stage_hm(args.hm_scale, args.factors, args.iterations, args.k, args.hm_max_eval_users)
    if args.only is not None:
        result["machine"] = _machine()
    print(json.dumps(result, indent=2))
    return 0


def _machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "load_avg_1m": round(os.getloadavg()[0], 2)}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
