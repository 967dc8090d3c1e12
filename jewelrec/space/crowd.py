"""The Space's crowd model, kept fresh in the background while it serves.

:class:`CrowdRefresher` owns the current :class:`~jewelrec.serving.collaborative.CollaborativeModel`. A daemon
thread refits it from the rating store every ``every_ratings`` new ratings or ``every_s`` seconds (when anything
was rated since), whichever comes first. Requests only read ``refresher.model`` — one reference, replaced whole
when a refit is done (an atomic assignment in CPython), so a request never waits for a refit and never sees half
of one. A refit that raises is logged and the last good model stays.

Settings (environment, read by :meth:`CrowdSettings.from_env`): ``JEWELREC_CROWD`` (1; 0 turns the crowd off),
``JEWELREC_CROWD_EVERY_RATINGS`` (25), ``JEWELREC_CROWD_EVERY_S`` (30), ``JEWELREC_CROWD_MIN_SHOPPERS`` (5, the
k-anonymity threshold of :mod:`~jewelrec.serving.collaborative`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jewelrec.serving.collaborative import MIN_SHOPPERS, CollaborativeModel
from jewelrec.space.ratings import RatingStore

log = logging.getLogger(__name__)


@dataclass
class CrowdSettings:
    enabled: bool = True
    every_ratings: int = 25  # new ratings that trigger a refit: a few shoppers' worth, so picks follow the crowd
    every_s: float = 30.0  # at most this long between a rating and the refit that includes it
    min_shoppers: int = MIN_SHOPPERS  # k-anonymity threshold per pair (see collaborative.py)
    poll_s: float = 1.0  # how often the thread looks at the store's write counter between nudges

    @classmethod
    def from_env(cls) -> CrowdSettings:
        def number(name: str, default: float, kind: type) -> float:
            raw = os.environ.get(name)
            if raw in (None, ""):
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a number; set it to e.g. {default} or unset it") from None
            if value <= 0:
                raise ValueError(f"{name}={raw!r} must be positive; set it to e.g. {default} or unset it")
            return value

        return cls(enabled=os.environ.get("JEWELREC_CROWD", "1").strip().lower() not in ("0", "false", "off", "no"),
                   every_ratings=int(number("JEWELREC_CROWD_EVERY_RATINGS", cls.every_ratings, int)),
                   every_s=float(number("JEWELREC_CROWD_EVERY_S", cls.every_s, float)),
                   min_shoppers=int(number("JEWELREC_CROWD_MIN_SHOPPERS", cls.min_shoppers, int)))


class CrowdRefresher:
    """Holds ``model`` (None until the first fit succeeds) and refits it in the background once started."""

    def __init__(self, store: RatingStore, item_ids: Sequence[str], settings: CrowdSettings | None = None, *,
                 fit: Callable[[RatingStore, Sequence[str]], CollaborativeModel] | None = None):
        self.store = store
        self.item_ids = list(item_ids)
        self.settings = settings or CrowdSettings()
        self._fit = fit or (lambda s, ids: CollaborativeModel.from_store(
            s, ids, min_shoppers=self.settings.min_shoppers))
        self.model: CollaborativeModel | None = None
        self.refreshes = 0  # successful refits
        self.failures = 0
        self.last_error: str | None = None
        self.last_refresh_ms: float | None = None
        self.fitted_writes = -1  # the store's write counter the current model includes
        self._wake, self._stop = threading.Event(), threading.Event()
        self._lock = threading.Lock()  # one refit at a time (the thread and refresh() from a test)
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Refit now (on the calling thread). True when a new model is in place; on failure the old one stays."""
        with self._lock:
            writes = self.store.writes()
            started = time.perf_counter()
            try:
                model = self._fit(self.store, self.item_ids)
            except Exception as err:  # noqa: BLE001  keep serving the last good model, whatever went wrong
                self.failures += 1
                self.last_error = f"{type(err).__name__}: {err}"
                log.warning("crowd model refresh failed (%s); keeping the previous model", self.last_error)
                return False
            self.model = model  # one reference swap: readers see the old model or the new, never a mix
            self.fitted_writes = writes
            self.refreshes += 1
            self.last_refresh_ms = (time.perf_counter() - started) * 1000
            return True

    def nudge(self) -> None:
        """A rating was saved: let the thread check the counter now rather than at its next poll."""
        self._wake.set()

    def due(self, now: float, last: float) -> bool:
        new = self.store.writes() - self.fitted_writes
        return new > 0 and (new >= self.settings.every_ratings or now - last >= self.settings.every_s)

    def start(self) -> CrowdRefresher:
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()

        def loop() -> None:
            last = time.monotonic()
            while not self._stop.is_set():
                self._wake.wait(self.settings.poll_s)
                self._wake.clear()
                if self._stop.is_set():
                    break
                try:
                    if self.due(time.monotonic(), last):
                        self.refresh()
                        last = time.monotonic()
                except Exception as err:  # noqa: BLE001  the store hiccuped: try again at the next poll
                    log.warning("crowd refresher could not read the rating store: %s", err)

        self._thread = threading.Thread(target=loop, name="crowd-refresh", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
