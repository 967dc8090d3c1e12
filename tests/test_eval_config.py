"""The evaluation config (``jewelrec.evaluation.eval_config``) through ``python -m training.evaluate``: every bad
setting stops the run before the log is read, with one line naming the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from jewelrec.evaluation.models.registry import ModelSpec
from tests.conftest import write_eval_config
from training.evaluate import main

REPO = Path(__file__).resolve().parents[1]
SMALL = {"n_users": 200, "n_items": 50, "n_groups": 4, "mean_interactions": 8, "n_days": 20, "seed": 0}


pytestmark = pytest.mark.usefixtures("eval_home")


@pytest.mark.parametrize("text, message", [
    ("data: {synthetic: {n_users: 100}\nmodels: [\n", "is not valid YAML at line 2, column 1"),
    ("data: /path.csv\nmodels: [{type: als}]\n", "data: must be a mapping, e.g. data: {path: FILE.csv}"),
    ("data: {synthetic: 5}\nmodels: [{type: als}]\n", "data.synthetic must be a mapping"),
    ("data: {path: x.csv}\nsplit: time\nmodels: [{type: als}]\n", "split: must be a mapping"),
    ("data: {path: x.csv}\nmodels: als\n", "models: must be a list"),
    ("data: {path: x.csv}\nmodels: [{type: als, params: 64}]\n", "params: must be a mapping"),
    ("data: {path: x.csv}\nmodels: [{type: hybrid, cf: {type: als, parms: {}}}]\n", "cf of 'hybrid' has unknown"),
])
def test_a_config_that_does_not_read_names_the_file_and_the_key(tmp_path, capsys, text, message):
    config = tmp_path / "config.yaml"
    config.write_text(text)
    assert main(["--config", str(config), "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err and f"config {str(config)!r}" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()  # refused before anything was made


def test_a_folder_as_config_or_a_file_as_results_dir_is_named(tmp_path, capsys):
    (tmp_path / "configs").mkdir()
    assert main(["--config", str(tmp_path / "configs"), "--results-dir", str(tmp_path / "r")]) == 2
    assert "is a folder; give the YAML file itself" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("mine")
    config = write_eval_config(tmp_path, {"data": {"synthetic": SMALL}, "models": [{"type": "item_knn"}]})
    assert main(["--config", config, "--results-dir", str(tmp_path / "notes.txt")]) == 2
    assert "--results-dir" in (err := capsys.readouterr().err) and "is a file, not a folder" in err
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("change, message", [
    ({"k": 0}, "k must be a whole number ≥ 1"), ({"k": "abc"}, "k must be a whole number ≥ 1"),
    ({"k": True}, "k must be a whole number ≥ 1"), ({"max_eval_users": 0}, "max_eval_users must be"),
    ({"filter_seen": "yes"}, "filter_seen must be true or false"),
    ({"models": [{"type": "item_knn", "params": {"neighbours": -3}}]}, "'item_knn': neighbours must be a whole"),
    ({"models": [{"type": "als", "params": {"factors": "abc"}}]}, "'als': factors must be a whole number"),
    ({"models": [{"type": "als", "params": {"regularization": float("nan")}}]}, "regularization must be a number"),
    ({"run_mode": "sweep", "models": [{"type": "bpr", "params": {"learning_rate": [0.1, -1]}}]}, "got -1"),
    ({"models": [{"type": "hybrid", "params": {"weight": 2}, "cf": {"type": "ease"}}]}, "weight must be a number"),
    ({"models": [{"type": "hybrid", "cf": {"type": "ease", "params": {"l2": 0}}}]}, "'hybrid.cf': l2 must be"),
    ({"models": [{"type": "item_knn", "rerank": {"pool": 0}}]}, "'item_knn.rerank': pool must be"),
    ({"models": [{"type": "popularity", "params": {"by": "sales"}}]}, "by must be 'users' or 'weight'"),
    ({"models": [{"type": "item_knn", "params": {"neighbours": [5, 10]}}]}, "use run_mode: sweep"),
    ({"split": {"test_days": "abc"}}, "split.test_days must be a whole number of days >= 1, got 'abc'"),
    ({"split": {"method": "random", "test_fraction": "half"}}, "split.test_fraction must be a number in (0, 1)"),
    ({"split": {"method": "random", "seed": -1}}, "split.seed must be a whole number >= 0"),
])
def test_bad_k_and_model_settings_stop_the_run_before_the_log_is_read(tmp_path, capsys, change, message):
    """The log named here does not exist: the setting's error coming first shows nothing was read or split."""
    config = {"data": {"path": str(tmp_path / "MISSING.csv")}, "models": [{"type": "als"}], **change}
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err and "MISSING" not in err and not (tmp_path / "r").exists()


def test_every_model_parameter_has_a_rule_and_every_shipped_config_loads():
    from jewelrec.evaluation.experiment import EvalConfig
    from jewelrec.evaluation.models import CF_MODELS, HybridModel, VisuallySeparated
    from jewelrec.evaluation.models.params import RULES, accepted_params

    wired = ("cf", "visual", "model", "item_ids", "labels", "column_item_ids")  # passed by the registry itself
    for cls in (*CF_MODELS.values(), HybridModel, VisuallySeparated):
        assert set(accepted_params(cls, wired)) <= set(RULES), cls.__name__
    for path in sorted((REPO / "training" / "configs").glob("*.yaml")):
        assert EvalConfig.from_yaml(path).models, path


SWEEP = {"run_mode": "sweep", "models": [{"name": "ease", "type": "ease", "params": {"l2": [10, 100]}}]}


@pytest.mark.parametrize("change, message", [
    ({**SWEEP, "models": [{"name": "ease", "type": "ease", "params": {"l2": []}}]},
     "models[0].params.l2: [] lists no values; give at least one"),
    ({**SWEEP, "models": [{"type": "item_knn"}, {"type": "item_knn", "name": "sep", "rerank": {"pool": []}}]},
     "models[1].rerank.pool: [] lists no values"),
    ({**SWEEP, "models": [{"type": "hybrid", "cf": {"type": "als", "params": {"factors": []}}}]},
     "models[0].cf.params.factors: [] lists no values"),
    ({**SWEEP, "k": 5, "sweep": {"metric": "map@10"}}, "sweep.metric 'map@10' is not computed; use one of ['map@5'"),
    ({**SWEEP, "metrics": ["ndcg"], "sweep": {"metric": "map@12"}}, "use one of ['ndcg@12']"),
    ({**SWEEP, "sweep": {"metric": "diversity@12"}}, "'diversity@12' is not computed (diversity needs item embeddings: set bundle:)"),
    ({**SWEEP, "sweep": {"metirc": "map@12"}}, "sweep block has unknown keys ['metirc']; allowed keys are"),
    ({"metrics": []}, "metrics: [] computes nothing"),
    ({"metrics": ["diversity"]}, "metrics: lists diversity, which needs item embeddings: set bundle:"),
    ({"metrics": ["map", "diversity"]}, "metrics: lists diversity, which needs item embeddings: set bundle:"),
    ({**SWEEP, "models": [{"name": "als", "type": "als", "params": {"factors": [8, 16, 32, 64, 128],
                                                                   "regularization": [0.01, 0.03, 0.1, 0.3, 1],
                                                                   "iterations": [5, 10, 15, 20, 30, 50],
                                                                   "alpha": [1, 2, 5, 10, 20]}}]},
     "model 'als' sweeps 750 trials (alpha × factors × iterations × regularization = 5 × 5 × 6 × 5), over "
     "sweep.max_trials: 200"),
    ({**SWEEP, "sweep": {"max_trials": 0}}, "sweep.max_trials must be a whole number ≥ 1"),
])
def test_sweep_and_metric_settings_stop_the_run_before_the_log_is_read(tmp_path, capsys, change, message):
    config = {"data": {"path": str(tmp_path / "MISSING.csv")}, "models": [{"type": "als"}], **change}
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err and "MISSING" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_a_large_grid_runs_once_max_trials_allows_it():
    from jewelrec.evaluation.eval_config import EvalConfig

    grid = {"factors": [8, 16, 32, 64, 128], "regularization": [0.01, 0.03, 0.1, 0.3, 1], "iterations": [5, 10, 15]}
    models = [ModelSpec(name="als", type="als", params=grid)]
    with pytest.raises(ValueError, match="sweeps 75 trials .* over sweep.max_trials: 50"):
        EvalConfig(data={"synthetic": SMALL}, models=list(models), run_mode="sweep", sweep={"max_trials": 50}).validate()
    EvalConfig(data={"synthetic": SMALL}, models=list(models), run_mode="sweep", sweep={"max_trials": 75}).validate()


def test_what_a_bundle_makes_computable_is_accepted():
    from jewelrec.evaluation.eval_config import EvalConfig

    config = EvalConfig(data={"synthetic": SMALL}, models=[], metrics=["diversity"], bundle="synthetic",
                        run_mode="sweep", sweep={"metric": "diversity@12"})
    config.validate()
    assert config.computed_metrics == ["diversity@12"]


@pytest.mark.parametrize("option, value, message", [
    ("n_users", "50", "data.synthetic.n_users must be a whole number ≥ 1"), ("n_users", 0, "n_users must be"),
    ("n_users", -5, "got -5"), ("n_items", 2.5, "data.synthetic.n_items must be a whole number ≥ 1"),
    ("n_groups", 0, "data.synthetic.n_groups must be a whole number ≥ 1"),
    ("n_groups", 80, "data.synthetic.n_groups=80 exceeds n_items=50"),
    ("mean_interactions", 0.5, "data.synthetic.mean_interactions must be a number ≥ 1"),
    ("taste", 1.5, "data.synthetic.taste must be a number from 0 to 1"),
    ("zipf", float("nan"), "data.synthetic.zipf must be a number ≥ 0"),
    ("n_days", 0, "data.synthetic.n_days must be a whole number of days ≥ 1"),
    ("seed", -1, "data.synthetic.seed must be a whole number ≥ 0"),
    ("dim", 0, "data.synthetic.dim must be a whole number ≥ 1"), ("dim", True, "dim must be"),
])
def test_bad_synthetic_options_are_named(tmp_path, capsys, option, value, message):
    config = {"data": {"synthetic": {**SMALL, option: value}}, "models": [{"type": "item_knn"}]}
    assert main(["--config", write_eval_config(tmp_path, config), "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


def test_the_popularity_baseline_takes_a_name_no_model_has(tmp_path):
    from jewelrec.evaluation.eval_config import EvalConfig

    models = [{"name": "popularity", "type": "ease"}, {"name": "popularity-baseline", "type": "item_knn"}]
    config = EvalConfig.from_yaml(write_eval_config(tmp_path, {"data": {"synthetic": SMALL}, "models": models}))
    config.validate()  # run() validates again: the baseline is neither added twice nor a clash then
    assert [m.name for m in config.models] == ["popularity-baseline-2", "popularity", "popularity-baseline"]
    assert config.models[0].type == "popularity"


def test_a_bundle_path_with_a_tilde_is_expanded_as_data_path_is(monkeypatch, tmp_path):
    from jewelrec.evaluation.eval_config import EvalConfig
    from jewelrec.evaluation.models.registry import bundle_of

    monkeypatch.setenv("HOME", str(tmp_path))
    config = EvalConfig(data={"synthetic": SMALL}, models=[ModelSpec("shipped", "jewelrec")], bundle="~/my_bundle")
    config.validate()
    assert config.bundle == str(tmp_path / "my_bundle")  # was looked up as ./~/my_bundle
    own = ModelSpec("other", "jewelrec", params={"bundle": "~/other"})
    assert bundle_of(own, None) == str(tmp_path / "other")
