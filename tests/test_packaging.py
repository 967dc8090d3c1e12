"""The package's shape: installable metadata, CLIs as thin doors, one name per idea, stable import paths."""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jewelrec"


def _modules() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text()) for path in PACKAGE.rglob("*.py")}


def test_no_library_module_imports_the_clis():
    offenders = []
    for path, tree in _modules().items():
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n == "training" or n.startswith("training.")]
    assert not offenders


def test_one_class_per_name_and_one_recommender():
    classes: dict[str, list[str]] = {}
    for path, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                classes.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    assert classes["Recommender"] == ["jewelrec/serving/recommender.py"]
    assert "CFModel" in classes
    duplicated = {name: where for name, where in classes.items() if len(where) > 1}
    assert not duplicated


def test_subpackages_follow_the_data_flow():
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert {"catalog", "encoders", "clustering", "serving", "space", "evaluation", "pipeline", "cli"} <= subpackages


def test_stable_import_paths():
    from jewelrec import Bundle, Recommender, hub
    from jewelrec.catalog import load_catalog
    from jewelrec.clustering import fit_clusters
    from jewelrec.encoders import load_encoder
    from jewelrec.ratings import RatingStore
    from jewelrec.sample import render_item
    from jewelrec.space import SpaceService

    assert callable(hub.push) and callable(hub.pull)
    assert hub is importlib.import_module("jewelrec.serving.hub")  # one module object under both names
    assert importlib.import_module("jewelrec.ratings") is importlib.import_module("jewelrec.space.ratings")
    for obj in (Bundle, Recommender, load_catalog, fit_clusters, load_encoder, RatingStore, render_item, SpaceService):
        assert obj.__module__.startswith("jewelrec.")



# Public names that moved when a file outgrew the ~400-line guide, by the module that held them before.
MOVED_NAMES = {
    "jewelrec.encoders.catalog_clip": ["CatalogClipConfig", "train_catalog_clip", "finetune_clip", "train_tokenizer",
                                       "catalog_pixels", "DualTrainer", "PairData", "pair_data", "augment",
                                       "multi_positive_loss", "PAD", "EOS"],
    "jewelrec.space.service": ["resolve_bundle", "sample_bundle_dir", "sample_needs_build", "BuildingPage",
                               "origin_text", "user_key", "browser_secret", "new_browser_id", "verify_browser_id"],
    "jewelrec.space.ratings": ["mount_type", "is_network_mount", "restore", "NETWORK_FS"],
    "jewelrec.pipeline.distributed": ["CatalogPlan", "plan_catalog", "CatalogDatasource", "validate_batch",
                                      "decide_rows", "training_catalog", "TRAIN_SAMPLE", "MAX_BLOCK_ROWS"],
}


def test_moved_names_stay_importable_where_they_were():
    missing = [f"{module}.{name}" for module, names in MOVED_NAMES.items() for name in names
               if not hasattr(importlib.import_module(module), name)]
    assert not missing
    from jewelrec.encoders import catalog_clip, catalog_clip_training

    assert catalog_clip.CatalogClipConfig is catalog_clip_training.CatalogClipConfig  # the same object, not a copy
    assert not hasattr(catalog_clip, "no_such_name")

def test_console_scripts_resolve_to_main_functions():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"jewelrec-fit", "jewelrec-evaluate", "jewelrec-compare", "jewelrec-space", "jewelrec-deploy-space",
            "jewelrec-update", "jewelrec-push"} <= set(scripts)
    for target in scripts.values():
        module, _, func = target.partition(":")
        assert callable(getattr(importlib.import_module(module), func))


def test_usage_names_the_command_that_was_run(monkeypatch, capsys):
    """``jewelrec-fit --help`` said ``usage: python -m training.fit``, a package a pip install does not have."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for script, target in scripts.items():
        module = importlib.import_module(target.partition(":")[0])
        if script == "jewelrec-space":
            continue  # not a training door: always jewelrec-space
        for argv0, usage in ((f"/venv/bin/{script}", script),
                             ("-m", f"python -m training.{module.__name__.rpartition('.')[2]}")):
            monkeypatch.setattr(sys, "argv", [argv0])
            with pytest.raises(SystemExit):
                module.main(["--help"])
            assert capsys.readouterr().out.startswith(f"usage: {usage} "), (script, argv0)


def test_the_commands_log_leaves_out_faiss_loader_chatter():
    """Every fit's log began with faiss's loader saying ``ModuleNotFoundError("No module named
    'faiss.swigfaiss_avx2'")`` at INFO, which reads as a fault; jewelrec's own INFO lines stay."""
    code = ("import logging; from jewelrec.cli.arguments import configure_logging; configure_logging(); "
            "import faiss; logging.getLogger('jewelrec.fit').info('load catalog ...')")
    err = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stderr
    assert "jewelrec.fit: load catalog ..." in err and "faiss" not in err, err


def test_fit_help_imports_nothing_heavy():
    """``--help`` must not pay for torch, transformers, umap or datasets (lazy imports)."""
    code = ("import sys; from jewelrec.cli.fit import build_parser; build_parser().format_help(); "
            "heavy = {'torch', 'transformers', 'umap', 'datasets', 'sklearn', 'gradio'} & set(sys.modules); "
            "print(sorted(heavy))")
    for cli in ("fit", "compare", "evaluate"):
        out = subprocess.run([sys.executable, "-c", code.replace(".fit import", f".{cli} import")], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.strip()
        assert out == "[]", f"jewelrec.cli.{cli} --help imported {out}"


def test_space_extra_leaves_out_training_and_evaluation_dependencies():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    space = " ".join(extras["space"]).lower()
    for name in ("umap", "implicit", "wandb", "trackio", "ray"):
        assert name not in space
    assert any(r.startswith("torch==") for r in extras["space"])  # pinned: an unpinned torch pulls CUDA


def test_help_defaults_match_the_registries():
    from jewelrec.clustering import METHODS
    from jewelrec.defaults import CLUSTER_METHODS, TRACKERS
    from jewelrec.evaluation.tracking import make_tracker  # noqa: F401  (imports its TRACKERS)

    assert set(CLUSTER_METHODS) == set(METHODS)
    assert TRACKERS[0] == "none"


def test_ray_is_imported_by_the_ray_engine_only():
    """Ray is the [train] extra's, for ``--engine ray``: the Ray engine's two modules import it, and nothing the Space
    loads."""
    importers = set()
    for path, tree in _modules().items():
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "ray" or n.startswith("ray.") for n in names):
                importers.add(path.relative_to(ROOT).as_posix())
    assert importers == {"jewelrec/pipeline/distributed.py", "jewelrec/pipeline/ray_catalog.py"}
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("ray[data]") for r in extras["train"])
    assert not any(r.startswith("ray") for r in extras["space"])
    assert "ray[data]==" in (ROOT / "requirements-dev.txt").read_text()


def _without(modules: list[str], code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where ``modules`` cannot be imported (as on an install without the extra
    that brings them)."""
    blocked = ("import sys\n"
               "class Absent:  # finds nothing for these names, as on an install without them\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               f"        if name.split('.')[0] in {modules!r}:\n"
               "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
               "sys.meta_path.insert(0, Absent())\n")
    env = {**os.environ, "HOME": str(tmp_path), "JEWELREC_HOME": str(tmp_path / "jr"),
           "JEWELREC_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-c", blocked + code], capture_output=True, text=True, timeout=300,
                          env=env, cwd=ROOT)


@pytest.mark.parametrize(("modules", "code", "extra"), [
    (["torch"], "from jewelrec.cli.fit import main; raise SystemExit(main(['--dataset', 'sample', '--out', 'OUT']))",
     "train"),
    (["gradio"], "from jewelrec.space.app import main; raise SystemExit(main([]))", "space"),
])  # fmt: skip
def test_a_command_without_its_extra_names_the_extra(tmp_path, modules, code, extra):
    """A core-only install ran into a bare ModuleNotFoundError traceback deep in an import."""
    done = _without(modules, code.replace("OUT", str(tmp_path / "out")), tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"install jewelrec's [{extra}] extra — pip install 'jewelrec[{extra}]'" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


def test_the_space_without_the_train_extra_says_so_before_building_the_sample(tmp_path):
    """A [space]-only install drew 720 pictures and trained for a minute, then died importing umap."""
    done = _without(["umap"], "from jewelrec.space.bundle_source import resolve_bundle; resolve_bundle()", tmp_path)
    assert "the built-in sample is built with jewelrec's [train] extra, and ['umap'] are not installed" in done.stderr
    assert not (tmp_path / "jr").exists() or not any((tmp_path / "jr").rglob("*.parquet"))


def test_an_evaluation_without_implicit_runs_the_models_that_do_not_need_it(tmp_path):
    """_versions imported implicit for every run: a popularity-only evaluation died after writing half its files."""
    config = tmp_path / "pop.yaml"
    config.write_text("data: {synthetic: {n_users: 100, n_items: 30, n_groups: 3, mean_interactions: 6}}\n"
                      "models: [{name: popularity, type: popularity}, {name: als, type: als}]\n")
    code = (f"from jewelrec.cli.evaluate import main; raise SystemExit(main(['--config', {str(config)!r}, "
            f"'--results-dir', {str(tmp_path / 'r')!r}]))")
    done = _without(["implicit"], code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "model 'als' failed" in done.stderr and "install jewelrec's [eval] extra" in done.stderr
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["versions"]["implicit"] is None and "popularity" in json.loads((tmp_path / "r" / "results.json").read_text())
