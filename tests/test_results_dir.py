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
