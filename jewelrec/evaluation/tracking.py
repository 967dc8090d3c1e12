"""Experiment trackers for the offline evaluation: ``none`` (default), ``trackio`` (local-first) or ``wandb``
(offline mode). Each evaluated model — and each sweep trial — is one tracker run named ``<experiment>/<model>``
with its parameters as config and its metrics logged once, so the tracker's run table is the comparison.

Both real trackers write under the results directory (``<results>/trackio`` or ``<results>/wandb``) and never
reach the network: trackio keeps a local SQLite database, wandb runs with ``mode="offline"`` (sync later with
``wandb sync <results>/wandb/offline-run-*`` if wanted).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from jewelrec.defaults import TRACKERS


class Tracker:
    """No-op tracker; the interface the others implement."""

    kind = "none"

    def start_run(self, name: str, config: dict[str, Any]) -> None:
        pass

    def log(self, metrics: dict[str, float]) -> None:
        pass

    def finish_run(self) -> None:
        pass

    def info(self) -> dict[str, Any]:
        """Where the runs went, for the run record."""
        return {"tracker": self.kind}


class TrackioTracker(Tracker):
    kind = "trackio"

    def __init__(self, project: str, results_dir: Path):
        self.project = project
        wanted = Path(results_dir) / "trackio"
        # trackio fixes its storage directory when first imported; point it at the results dir before that.
        if "trackio" not in sys.modules:
            previous = os.environ.get("TRACKIO_DIR")
            os.environ["TRACKIO_DIR"] = str(wanted)
            try:
                import trackio  # noqa: F401
            finally:
                if previous is None:
                    os.environ.pop("TRACKIO_DIR", None)
                else:
                    os.environ["TRACKIO_DIR"] = previous
        import trackio.utils

        self.directory = Path(trackio.utils.TRACKIO_DIR)
        self._runs: list[str] = []

    def start_run(self, name: str, config: dict[str, Any]) -> None:
        import trackio

        trackio.init(
            project=self.project, name=name, config=config, embed=False, auto_log_gpu=False, auto_log_cpu=False
        )
        self._runs.append(name)

    def log(self, metrics: dict[str, float]) -> None:
        import trackio

        trackio.log(dict(metrics))

    def finish_run(self) -> None:
        import trackio

        trackio.finish()

    def info(self) -> dict[str, Any]:
        return {
            "tracker": self.kind, "project": self.project, "directory": str(self.directory), "runs": self._runs,
            "view": f'TRACKIO_DIR="{self.directory}" trackio show --project "{self.project}"',
        }  # fmt: skip


class WandbTracker(Tracker):
    kind = "wandb"

    def __init__(self, project: str, results_dir: Path):
        check_tracker(self.kind, project)  # the config's own check, for a tracker made without one
        self.project = project
        self.directory = Path(results_dir)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._run = None
        self._runs: list[str] = []
        self._run_dirs: list[str] = []

    def start_run(self, name: str, config: dict[str, Any]) -> None:
        import wandb

        os.environ["WANDB_MODE"] = "offline"  # never reach the network; `wandb sync` can upload later
        os.environ.setdefault("WANDB_SILENT", "true")
        self._run = wandb.init(
            project=self.project, name=name, config=config, dir=str(self.directory), mode="offline",
            reinit="finish_previous",
        )  # fmt: skip
        self._runs.append(name)
        self._run_dirs.append(str(self._run.dir))

    def log(self, metrics: dict[str, float]) -> None:
        self._run.log(dict(metrics))

    def finish_run(self) -> None:
        if self._run is not None:
            self._run.finish()
            self._run = None

    def info(self) -> dict[str, Any]:
        return {
            "tracker": self.kind, "project": self.project, "directory": str(self.directory / "wandb"),
            "runs": self._runs, "run_dirs": self._run_dirs, "mode": "offline",
        }  # fmt: skip


class GuardedTracker(Tracker):
    """Another tracker whose first failure (a project name its service refuses, a full disk, a tracker bug) is
    one warning: the evaluation goes on and writes its results without it; ``info()`` says what failed."""

    def __init__(self, inner: Tracker):
        self.inner, self.kind, self.error = inner, inner.kind, None

    def _call(self, method: str, *args: Any) -> None:
        if self.error is not None:
            return
        try:
            getattr(self.inner, method)(*args)
        except Exception as err:  # noqa: BLE001 - any tracker failure; the results matter more than the log of them
            self.error = f"{type(err).__name__}: {err}"
            print(f"warning: tracker {self.kind} failed and logs nothing more ({self.error}); the results are still "
                  "written", file=sys.stderr)

    def start_run(self, name: str, config: dict[str, Any]) -> None:
        self._call("start_run", name, config)

    def log(self, metrics: dict[str, float]) -> None:
        self._call("log", metrics)

    def finish_run(self) -> None:
        self._call("finish_run")

    def info(self) -> dict[str, Any]:
        info = self.inner.info()
        return info if self.error is None else {**info, "failed": self.error}


# what wandb refuses in a project name (wandb.sdk.wandb_setup: "cannot contain characters ...") and its length cap
WANDB_PROJECT_FORBIDDEN = "/\\#?%:"
WANDB_PROJECT_MAX = 128


def check_tracker(kind: str, project: str) -> None:
    """Refuse, before any work, a tracker that would fail on its first run: wandb not installed, or a project name
    wandb refuses (the "entity/project" habit: the entity is set with WANDB_ENTITY)."""
    if kind != "wandb":
        return
    if importlib.util.find_spec("wandb") is None:
        raise ValueError("tracker: wandb needs the wandb package (pip install 'jewelrec[eval]'), or use tracker: trackio")
    bad = sorted(set(project) & set(WANDB_PROJECT_FORBIDDEN))
    if bad or not project or len(project) > WANDB_PROJECT_MAX:
        hint = " (for 'entity/project' set WANDB_ENTITY=entity and project: the rest)" if "/" in bad else ""
        raise ValueError(f"project {project!r} is not a name wandb takes: 1–{WANDB_PROJECT_MAX} characters, none of "
                         f"{' '.join(WANDB_PROJECT_FORBIDDEN)}{hint}")


def make_tracker(kind: str, project: str, results_dir: str | Path) -> Tracker:
    """Build the configured tracker; ``kind`` is one of :data:`TRACKERS`."""
    if kind in (None, "none"):
        return Tracker()
    if kind == "trackio":
        return TrackioTracker(project, Path(results_dir))
    if kind == "wandb":
        return WandbTracker(project, Path(results_dir))
    raise ValueError(f"tracker {kind!r} is not one of {list(TRACKERS)}")
