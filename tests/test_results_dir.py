"""Where ``python -m training.evaluate`` writes (``jewelrec.evaluation.results_dir``): never over files jewelrec did
not write; a folder it wrote takes the next run."""

from __future__ import annotations

import os

import pytest

from tests.conftest import read_results, write_eval_config
from training.evaluate import main

SMALL = {"n_users": 200, "n_items": 50, "n_groups": 4, "mean_interactions": 8, "n_days": 20, "seed": 0}


pytestmark = pytest.mark.usefixtures("eval_home")


def test_results_are_never_written_over_files_jewelrec_did_not_write(tmp_path, capsys):
    config = write_eval_config(tmp_path, {"data": {"synthetic": SMALL}, "models": [{"type": "item_knn"}]})
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "results.json").write_text('{"my": "numbers"}')
    (mine / "results.csv").write_text("my,table\n")
    assert main(["--config", config, "--results-dir", str(mine)]) == 2
    assert "holds ['results.csv', 'results.json']" in capsys.readouterr().err
    assert (mine / "results.json").read_text() == '{"my": "numbers"}' and sorted(os.listdir(mine)) == [
        "results.csv", "results.json"]
    # a folder jewelrec wrote takes the next run (files of other names in it are kept), and so does one from
    # before the marker existed (its run.json says jewelrec wrote it)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    assert main(["--config", config, "--results-dir", str(out)]) == 0
    assert main(["--config", config, "--results-dir", str(out)]) == 0
    (out / ".jewelrec-results").unlink()
    assert main(["--config", config, "--results-dir", str(out)]) == 0
    assert set(read_results(out)) == {"popularity", "item_knn"} and (out / "notes.txt").read_text() == "keep"


def test_a_later_run_removes_the_outputs_it_does_not_write(tmp_path):
    """A sweep, then a single run into the same folder: the sweep's files must not sit beside the new results as if
    this run wrote them; files of other names stay, and a failed run removes nothing."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    sweep = {"data": {"synthetic": SMALL}, "run_mode": "sweep", "split": {"method": "random"}, "k": 5,
             "models": [{"type": "item_knn", "params": {"neighbours": [2, 5]}}]}
    assert main(["--config", write_eval_config(tmp_path, sweep), "--results-dir", str(out)]) == 0
    assert {"sweep.csv", "sweep.png", "best_params.json"} <= set(os.listdir(out))
    failing = {**sweep, "run_mode": "single", "split": {"method": "time", "test_days": 30}, "models": [{"type": "als"}]}
    assert main(["--config", write_eval_config(tmp_path, failing), "--results-dir", str(out)]) == 2  # fails at the split
    assert {"sweep.csv", "sweep.png", "best_params.json"} <= set(os.listdir(out))
    single = {**sweep, "run_mode": "single", "models": [{"type": "item_knn"}]}
    assert main(["--config", write_eval_config(tmp_path, single), "--results-dir", str(out)]) == 0
    assert sorted(os.listdir(out)) == [".jewelrec-results", "data_report.json", "lift.png", "metrics.png",
                                       "notes.txt", "results.csv", "results.json", "run.json"]
    assert (out / "notes.txt").read_text() == "keep"


def test_stale_outputs_are_removed_only_in_a_folder_jewelrec_owns(tmp_path):
    from jewelrec.evaluation.results_dir import mark_results_dir, remove_stale_outputs

    (tmp_path / "sweep.csv").write_text("mine")
    (tmp_path / "sweep.csv.bak").write_text("mine too")
    assert remove_stale_outputs(tmp_path, ["results.json"]) == [] and (tmp_path / "sweep.csv").exists()
    mark_results_dir(tmp_path)
    assert remove_stale_outputs(tmp_path, ["results.json"]) == ["sweep.csv"]
    assert sorted(os.listdir(tmp_path)) == [".jewelrec-results", "sweep.csv.bak"]


def test_a_results_dir_in_a_bundle_or_read_only_is_refused_before_the_log_is_read(tmp_path, capsys, monkeypatch,
                                                                                   sample_bundle_dir):
    """Results written into a bundle left it holding files it does not list (it then refused to load); a folder
    that cannot be written was found only after every model had trained."""
    import errno
    import shutil
    import tempfile

    from jewelrec.serving.bundle import Bundle

    bundle = shutil.copytree(sample_bundle_dir, tmp_path / "bundle")
    config = write_eval_config(tmp_path, {"data": {"path": str(tmp_path / "MISSING.csv")}, "models": [{"type": "als"}]})
    for out in (bundle, bundle / "eval", bundle / "report"):
        assert main(["--config", config, "--results-dir", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"is in the jewelrec bundle {str(bundle.resolve())!r}" in err and "MISSING" not in err
    Bundle.load(bundle)
    assert main(["--config", config, "--results-dir", ""]) == 2
    assert "--results-dir is empty" in capsys.readouterr().err

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    assert main(["--config", config, "--results-dir", str(tmp_path / "ro")]) == 2
    err = capsys.readouterr().err
    assert "cannot be written to: Read-only file system; give a folder this user can write" in err
    assert "MISSING" not in err


def test_an_output_name_that_is_a_symbolic_link_is_refused(tmp_path, capsys):
    """A link named results.csv — dangling (``exists()`` is false) or to a file elsewhere, in a fresh folder or one
    jewelrec wrote — had the run write its table into the file the link names, outside --results-dir."""
    config = write_eval_config(tmp_path, {"data": {"synthetic": SMALL}, "models": [{"type": "item_knn"}]})
    victim = tmp_path / "elsewhere" / "victim.csv"
    victim.parent.mkdir()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "results.csv").symlink_to(victim)  # dangling
    assert main(["--config", config, "--results-dir", str(fresh)]) == 2
    assert "holds ['results.csv'] as symbolic links" in capsys.readouterr().err and not victim.exists()
    ours = tmp_path / "ours"
    assert main(["--config", config, "--results-dir", str(ours)]) == 0
    victim.write_text("mine\n")
    (ours / "results.json").unlink()
    (ours / "results.json").symlink_to(victim)
    assert main(["--config", config, "--results-dir", str(ours)]) == 2
    assert "holds ['results.json'] as symbolic links" in capsys.readouterr().err
    assert victim.read_text() == "mine\n" and (ours / "results.json").is_symlink()
