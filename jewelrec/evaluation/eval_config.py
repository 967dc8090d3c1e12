"""The offline evaluation's config (``training/configs/*.yaml``): :class:`EvalConfig`, read and checked in full
before any log is loaded, so a typo, a wrong type or a bad model setting stops the run at once with the file, the
key and the fix. See README "Offline evaluation" for the format."""

from __future__ import annotations

import inspect
import itertools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jewelrec.config_keys import check_keys
from jewelrec.evaluation.interactions import InteractionsConfig
from jewelrec.evaluation.metrics import ALL_METRICS
from jewelrec.evaluation.models import STAR_MODELS
from jewelrec.evaluation.models.params import is_number, is_whole
from jewelrec.evaluation.models.registry import ModelSpec, check_spec
from jewelrec.evaluation.splits import SplitConfig
from jewelrec.evaluation.synthetic_logs import planted_arrays
from jewelrec.evaluation.tracking import TRACKERS, check_tracker

TOP_KEYS = {"name", "run_mode", "data", "split", "k", "metrics", "filter_seen", "max_eval_users", "seed", "bundle",
            "tracker", "project", "sweep", "models"}  # fmt: skip
DATA_EXAMPLE = "data: {path: FILE.csv} (or {preset: hm, path: ...}, or {synthetic: {n_users: 500}})"
SWEEP_KEYS = {"metric", "select_on", "max_trials"}
MAX_TRIALS = 200  # per swept model: a grid beyond this is more often a typo'd list than a plan (sweep.max_trials)
# data.synthetic option → (accepts the value, what a good value is), from planted_arrays / planted_embeddings
SYNTHETIC_RULES = {
    "n_users": (lambda v: is_whole(v) and v >= 1, "a whole number ≥ 1 (shoppers)"),
    "n_items": (lambda v: is_whole(v) and v >= 1, "a whole number ≥ 1 (catalog size)"),
    "n_groups": (lambda v: is_whole(v) and v >= 1, "a whole number ≥ 1 (taste groups, at most n_items)"),
    "mean_interactions": (lambda v: is_number(v) and v >= 1, "a number ≥ 1 (every shopper has at least one)"),
    "taste": (lambda v: is_number(v) and 0 <= v <= 1, "a number from 0 to 1 (share of in-group picks)"),
    "zipf": (lambda v: is_number(v) and v >= 0, "a number ≥ 0 (popularity skew; 0 = uniform)"),
    "n_days": (lambda v: is_whole(v) and v >= 1, "a whole number of days ≥ 1"),
    "seed": (lambda v: is_whole(v) and v >= 0, "a whole number ≥ 0"),
    "dim": (lambda v: is_whole(v) and v >= 1, "a whole number ≥ 1 (embedding size)"),
}


@dataclass
class EvalConfig:
    data: dict[str, Any]  # InteractionsConfig fields, or {synthetic: {...}} for a planted demo log
    models: list[ModelSpec]
    name: str = "offline-eval"
    run_mode: str = "single"  # "single" | "sweep" (grid over list-valued params)
    split: SplitConfig = field(default_factory=SplitConfig)
    k: int = 12  # H&M scored 12 recommendations per customer
    metrics: list[str] = field(default_factory=lambda: list(ALL_METRICS))
    filter_seen: bool = True  # never recommend what the user already has in train
    max_eval_users: int | None = None  # seeded subsample of test users, for quick looks at huge logs
    seed: int = 0
    bundle: str | None = None  # jewelrec bundle dir (embeddings + clusters) for visual / hybrid / rerank / jewelrec
    tracker: str = "none"  # "none" | "trackio" | "wandb"
    project: str = "jewelrec-offline-eval"
    sweep: dict[str, Any] = field(default_factory=dict)  # {metric: map@12, select_on: validation | test}
    # the name validate() gave the popularity baseline it added (None: the models listed one); not a YAML key
    added_baseline: str | None = field(default=None, init=False)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> EvalConfig:
        """Read and check an evaluation YAML. ``overrides`` (CLI flags such as ``run_mode="sweep"``; None: keep the
        file's) replace top-level keys before the checks. Every error is a ValueError naming the file."""
        where = f"config {str(path)!r}"
        raw = _read_yaml(Path(path), where)
        if not isinstance(raw, dict):
            raise ValueError(f"{where} must be a YAML mapping with data:, split:, models: …")
        check_keys(raw, TOP_KEYS, where)
        try:
            raw.update({key: value for key, value in overrides.items() if value is not None})
            if "data" not in raw or not raw.get("models"):
                raise ValueError("a data: block and a non-empty models: list are required")
            for key, kind, example in (("data", dict, DATA_EXAMPLE), ("split", dict, "split: {method: time}"),
                                       ("sweep", dict, "sweep: {metric: map@12}"),
                                       ("models", list, "models: [{type: als}, {type: ease}]")):
                if raw.get(key) is not None and not isinstance(raw[key], kind):
                    raise ValueError(f"{key}: must be a {'mapping' if kind is dict else 'list'}, e.g. {example}; "
                                     f"got {raw[key]!r}")
            raw["models"] = [ModelSpec.from_dict(m) for m in raw["models"]]
            raw["split"] = SplitConfig.from_dict(raw.get("split"))
            raw["sweep"] = raw.get("sweep") or {}
            if isinstance(raw.get("metrics"), list) and "diversity" in raw["metrics"] and not raw.get("bundle"):
                # asked for by name, so not skipped quietly (as it is when metrics: is left out)
                raise ValueError("metrics: lists diversity, which needs item embeddings: set bundle: (a bundle "
                                 "directory, or bundle: synthetic with data: {synthetic: ...}) or drop diversity")
            if isinstance(raw.get("metrics"), list) and "diversity" in raw["metrics"] and raw.get("k") == 1 \
                    and not isinstance(raw.get("k"), bool):
                raise ValueError("metrics: lists diversity, which compares the pieces of one list, and k: 1 lists one "
                                 "piece; set k: 2 or more, or drop diversity")
            config = cls(**raw)
            config.validate()
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: {err}") from None
        return config

    def validate(self) -> None:
        """Check every setting (no data is read); adds the popularity baseline when the models lack one."""
        if self.run_mode not in ("single", "sweep"):
            raise ValueError(f"run_mode must be 'single' or 'sweep', got {self.run_mode!r}")
        if self.tracker not in TRACKERS:
            raise ValueError(f"tracker must be one of {list(TRACKERS)}, got {self.tracker!r}")
        _whole("k", self.k, 1, "(the length of each recommendation list, e.g. k: 12)")
        if self.max_eval_users is not None:
            _whole("max_eval_users", self.max_eval_users, 1, "or null (every test user)")
        _whole("seed", self.seed, 0, "")
        for key in ("filter_seen",):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"{key} must be true or false, got {getattr(self, key)!r}")
        for key in ("name", "project"):
            if not isinstance(getattr(self, key), str):
                raise ValueError(f"{key} must be a string, got {getattr(self, key)!r}")
        check_tracker(self.tracker, self.project)
        if self.bundle is not None and not isinstance(self.bundle, str):
            raise ValueError(f"bundle must be a bundle directory (or 'synthetic'), got {self.bundle!r}")
        if self.bundle and self.bundle != "synthetic":
            self.bundle = os.path.expanduser(self.bundle)  # ~/bundle as data.path takes it
        if not isinstance(self.metrics, list) or not all(isinstance(m, str) for m in self.metrics):
            raise ValueError(f"metrics must be a list of names from {list(ALL_METRICS)}, got {self.metrics!r}")
        check_data(self.data)
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique (they key results.json); got {names}")
        if set(self.metrics) - set(ALL_METRICS):
            raise ValueError(f"unknown metrics {sorted(set(self.metrics) - set(ALL_METRICS))}; use {list(ALL_METRICS)}")
        self._check_metrics()
        self._check_sweep()
        if not self.filter_seen and self.star_models:
            raise ValueError(f"models {[m.name for m in self.star_models]} (jewelrec) never recommend a piece the "
                             "user rated; set filter_seen: true (the default) to evaluate them")
        for i, spec in enumerate(self.models):  # every model's settings, before any log is read
            _no_empty_lists(i, spec)
            self._check_grid_size(spec)
            check_spec(spec, sweep=self.run_mode == "sweep")
        if not any(_is_baseline(m) for m in self.models):
            self.added_baseline = _free_name("popularity", names)
            self.models.insert(0, ModelSpec(name=self.added_baseline, type="popularity"))

    @property
    def baseline(self) -> str:
        """The model the plots and lifts compare with: the plain all-time popularity, whatever its name (a windowed
        ``type: popularity`` listed first takes the name ``popularity``; the baseline is then ``popularity-baseline``).
        Only after :meth:`validate`, which adds it when the models lack one."""
        return next(m.name for m in self.models if _is_baseline(m))

    @property
    def computed_metrics(self) -> list[str]:
        """The metric names results.json will hold (``map@12``…): diversity only with a bundle's embeddings and
        lists of two or more (at k: 1 a list has no pair to compare); the other beyond-accuracy metrics need only
        the training data."""
        return [f"{m}@{self.k}" for m in self.metrics if m != "diversity" or (self.bundle and self.k >= 2)]

    def skipped_metric_reason(self, metric: str) -> str | None:
        """Why ``metric`` (a name of metrics:, no @k) is not computed; None when it is."""
        if f"{metric}@{self.k}" in self.computed_metrics:
            return None
        if metric not in self.metrics:
            return "not in metrics:"
        if metric == "diversity":
            return "needs item embeddings: set bundle:" if not self.bundle else "needs lists of two or more: k ≥ 2"
        return "inputs missing"

    def _check_metrics(self) -> None:
        if not self.metrics:
            raise ValueError(f"metrics: [] computes nothing; list some of {list(ALL_METRICS)} (or drop the key for "
                             "all of them)")
        if not self.computed_metrics and self.bundle:
            raise ValueError("metrics: diversity compares the pieces of one list, so it needs k ≥ 2; set k: or add "
                             "metrics such as map")
        if not self.computed_metrics:
            raise ValueError("metrics: diversity needs bundle: (item embeddings: a bundle directory, or bundle: "
                             "synthetic with data: {synthetic: ...}); set bundle: or add metrics such as map")

    def _check_sweep(self) -> None:
        check_keys(self.sweep, SWEEP_KEYS, "sweep block")
        if self.sweep.get("select_on", "validation") not in ("validation", "test"):
            raise ValueError("sweep.select_on must be 'validation' or 'test'")
        _whole("sweep.max_trials", self.max_trials, 1, f"(the most trials one swept model may run; default "
                                                       f"{MAX_TRIALS})")
        # the sweep ranks its trials by this metric, so one that is never computed would drop the swept model
        if self.run_mode == "sweep" and self.sweep_metric not in self.computed_metrics:
            reason = self.skipped_metric_reason(self.sweep_metric.split("@")[0]) if "@" in self.sweep_metric else None
            hint = f" ({self.sweep_metric.split('@')[0]} {reason})" if reason and reason != "inputs missing" else ""
            raise ValueError(f"sweep.metric {self.sweep_metric!r} is not computed{hint}; use one of "
                             f"{self.computed_metrics} (the metrics: list at k: {self.k})")

    def _check_grid_size(self, spec: ModelSpec) -> None:
        """A grid is the product of its lists: refuse one over ``sweep.max_trials`` before a trial is trained."""
        lists = {k: len(v) for k, v in spec.flat_params().items() if isinstance(v, list)}
        trials = math.prod(lists.values())
        if self.run_mode == "sweep" and trials > self.max_trials:
            raise ValueError(f"model {spec.name!r} sweeps {trials} trials ({' × '.join(lists)} = "
                             f"{' × '.join(map(str, lists.values()))}), over sweep.max_trials: {self.max_trials}; "
                             "shorten its lists, or raise sweep.max_trials if that many trials are meant")

    @property
    def max_trials(self) -> int:
        return self.sweep.get("max_trials", MAX_TRIALS)

    @property
    def star_models(self) -> list[ModelSpec]:
        return [m for m in self.models if m.type in STAR_MODELS]

    @property
    def sweep_metric(self) -> str:
        return str(self.sweep.get("metric", f"map@{self.k}"))


def synthetic_options(data: dict[str, Any]) -> dict[str, Any]:
    """The ``data.synthetic`` block (keyword arguments of ``planted_arrays`` plus ``dim``), checked."""
    opts = data["synthetic"] or {}
    if not isinstance(opts, dict):
        raise ValueError(f"data.synthetic must be a mapping such as {{n_users: 500, n_items: 120}}, got {opts!r}")
    check_keys(opts, [*inspect.signature(planted_arrays).parameters, "dim"], "data.synthetic")
    for key, value in opts.items():
        accepts, wanted = SYNTHETIC_RULES.get(key, (lambda v: True, ""))
        if not accepts(value):
            raise ValueError(f"data.synthetic.{key} must be {wanted}, got {value!r}")
    defaults = {k: p.default for k, p in inspect.signature(planted_arrays).parameters.items()}
    n_items, n_groups = opts.get("n_items", defaults["n_items"]), opts.get("n_groups", defaults["n_groups"])
    if n_groups > n_items:
        raise ValueError(f"data.synthetic.n_groups={n_groups} exceeds n_items={n_items}; every group needs an item, "
                         "so lower n_groups or raise n_items")
    return dict(opts)


def check_data(data: Any) -> None:
    """The ``data:`` block must describe a log (read nothing yet): a mapping of InteractionsConfig fields, or
    ``synthetic:``."""
    if not isinstance(data, dict):
        raise ValueError(f"data: must be a mapping, e.g. {DATA_EXAMPLE}; got {data!r}")
    if "synthetic" in data:
        others = sorted(set(data) - {"synthetic"})
        if others:  # a planted log and a file: the planted one won, silently, while run.json named the file
            raise ValueError(f"data: has both synthetic: (a planted demo log) and {others} (a log file); keep "
                             "synthetic: alone for the demo, or delete it to evaluate the file")
        synthetic_options(data)
    else:
        InteractionsConfig.from_dict(data)


def _no_empty_lists(index: int, spec: ModelSpec) -> None:
    """A swept ``[]`` would leave the grid with no candidate at all (the model then failed mid-run)."""
    for key, value in spec.flat_params().items():
        if isinstance(value, list) and not value:
            path = f"cf.params.{key[3:]}" if key.startswith("cf.") else key if "." in key else f"params.{key}"
            raise ValueError(f"models[{index}].{path}: [] lists no values; give at least one")


def _whole(key: str, value: Any, low: int, hint: str) -> None:
    if not is_whole(value) or value < low:
        raise ValueError(f"{key} must be a whole number ≥ {low} {hint}".rstrip() + f", got {value!r}")


def _is_baseline(spec: ModelSpec) -> bool:
    return spec.type == "popularity" and not spec.params and not spec.rerank


def _free_name(name: str, taken: list[str]) -> str:
    """``name``, else ``name-baseline``, ``name-baseline-2``… : the first one no model uses."""
    candidates = itertools.chain([name, f"{name}-baseline"], (f"{name}-baseline-{i}" for i in itertools.count(2)))
    return next(c for c in candidates if c not in taken)


def _read_yaml(path: Path, where: str) -> Any:
    """The parsed YAML, or a ValueError naming the file, the line and column, and the fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{where} does not exist; give the path of an evaluation YAML (see training/configs/)") \
            from None
    except IsADirectoryError:
        raise ValueError(f"{where} is a folder; give the YAML file itself, e.g. training/configs/als.yaml") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{where} is not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    except OSError as err:
        raise ValueError(f"{where} cannot be read: {err.strerror or err}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"{where} is not valid YAML{at}: {problem}; check the indentation, the ':' after each key "
                         "and that every quote and bracket is closed") from None
