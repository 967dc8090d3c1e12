"""The Space's crowd model, kept fresh in the background while it serves.

:class:`CrowdRefresher` owns the current :class:`~jewelrec.serving.collaborative.CollaborativeModel`. A daemon
thread refreshes it from the rating store every ``every_ratings`` new writes (ratings or clears) or ``every_s``
seconds (when anything was written since), whichever comes first. Requests only read ``refresher.model`` — one
reference, replaced whole when a refresh is done (an atomic assignment in CPython), so a request never waits for
a refresh and never sees half of one. A refresh that raises is logged and the last good model stays.

Incremental refreshes. The first refresh is a full fit: every current rating, read by SQLite into integer columns
(:meth:`~jewelrec.space.ratings.RatingStore.rating_codes`), summed into
:class:`~jewelrec.serving.collaborative.CoRatingTotals` and finished into a model. Later refreshes read only what
changed: in one read transaction, the shoppers who rated or cleared since the last refresh, their logs and their
current ratings (:meth:`~jewelrec.space.ratings.RatingStore.changes_since`); each one's ratings then and now are
replayed from the log (history rows plus logged clears), and the totals move by ``now - then``. The totals are
whole numbers, so the result equals a full refit exactly, array for array. Anything odd — the log does not replay
to the ``ratings`` table, a total would go negative, the counter went down or another row sits where the last
refresh stopped (a restored backup, a replaced file) — or any error makes that refresh a full fit instead; if the
full fit fails too, the last good model stays. The totals hold pairs below the privacy threshold, so they stay in
this object: they are never served, logged or saved (the model requests read is cut at ``min_shoppers``).

Settings (environment, read by :meth:`CrowdSettings.from_env`): ``JEWELREC_CROWD`` (1; 0 turns the crowd off),
``JEWELREC_CROWD_EVERY_RATINGS`` (25), ``JEWELREC_CROWD_EVERY_S`` (30), ``JEWELREC_CROWD_MIN_SHOPPERS`` (5, the
k-anonymity threshold of :mod:`~jewelrec.serving.collaborative`), ``JEWELREC_CROWD_INCREMENTAL`` (1; 0 refits in
full every time, as before incremental refreshes: a switch for comparisons or if an update is ever in doubt).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jewelrec.serving.collaborative import MIN_SHOPPERS, CollaborativeModel, CoRatingTotals
from jewelrec.space.env_settings import env_flag, env_number
from jewelrec.space.ratings import RatingLogRewound, RatingStore, replay

log = logging.getLogger(__name__)


@dataclass
class CrowdSettings:
    enabled: bool = True
    every_ratings: int = 25  # new ratings that trigger a refit: a few shoppers' worth, so picks follow the crowd
    every_s: float = 30.0  # at most this long between a rating and the refit that includes it
    min_shoppers: int = MIN_SHOPPERS  # k-anonymity threshold per pair (see collaborative.py)
    poll_s: float = 1.0  # how often the thread looks at the store's write counter between nudges
    incremental: bool = True  # update from the changed shoppers only (exact); False: a full refit every time

    @classmethod
    def from_env(cls) -> CrowdSettings:
        return cls(enabled=env_flag("JEWELREC_CROWD"), incremental=env_flag("JEWELREC_CROWD_INCREMENTAL"),
                   every_ratings=int(env_number("JEWELREC_CROWD_EVERY_RATINGS", cls.every_ratings, int)),
                   every_s=float(env_number("JEWELREC_CROWD_EVERY_S", cls.every_s, float)),
                   min_shoppers=int(env_number("JEWELREC_CROWD_MIN_SHOPPERS", cls.min_shoppers, int)))


class CrowdRefresher:
    """Holds ``model`` (None until the first fit succeeds) and refreshes it in the background once started.
    ``fit`` (optional) replaces the built-in refresh with a full refit by that function every time."""

    def __init__(self, store: RatingStore, item_ids: Sequence[str], settings: CrowdSettings | None = None, *,
                 fit: Callable[[RatingStore, Sequence[str]], CollaborativeModel] | None = None):
        self.store = store
        self.item_ids = list(item_ids)
        self.settings = settings or CrowdSettings()
        self._fit = fit
        self.model: CollaborativeModel | None = None
        self.refreshes = 0  # successful refreshes, full or incremental
        self.full_refits = 0
        self.incremental_refits = 0
        self.fallbacks = 0  # incremental refreshes that turned into a full refit (see the module docstring)
        self.failures = 0
        self.last_error: str | None = None
        self.last_kind: str | None = None  # "full" or "incremental"
        self.last_refresh_ms: float | None = None
        self.refreshing = False  # a refresh is running now
        self.fitted_writes = -1  # the store's write counter the current model includes
        self._totals: CoRatingTotals | None = None  # what the model was finished from; never leaves this object
        self._mark: tuple | None = None  # the log's row at fitted_writes, to notice a replaced database
        self._wake, self._stop = threading.Event(), threading.Event()
        self._lock = threading.Lock()  # one refresh at a time (the thread and refresh() from a test)
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Refresh now (on the calling thread). True when a new model is in place; on failure the old one stays."""
        with self._lock:
            started = time.perf_counter()
            self.refreshing = True
            try:
                if self._fit is not None:
                    writes = self.store.writes()
                    model, totals, mark, kind = self._fit(self.store, self.item_ids), None, None, "full"
                else:
                    model, totals, writes, mark, kind = self._update()
            except Exception as err:  # noqa: BLE001  keep serving the last good model, whatever went wrong
                self.failures += 1
                self.last_error = f"{type(err).__name__}: {err}"
                log.warning("crowd model refresh failed (%s); keeping the previous model", self.last_error)
                return False
            finally:
                self.refreshing = False
            self.model = model  # one reference swap: readers see the old model or the new, never a mix
            self._totals, self._mark, self.fitted_writes = totals, mark, writes
            self.refreshes += 1
            self.full_refits += kind == "full"
            self.incremental_refits += kind == "incremental"
            self.last_kind = kind
            self.last_refresh_ms = (time.perf_counter() - started) * 1000
            return True

    def _new_model(self) -> CollaborativeModel:
        return CollaborativeModel(self.item_ids, min_shoppers=self.settings.min_shoppers)

    def _update(self) -> tuple[CollaborativeModel, CoRatingTotals, int, tuple | None, str]:
        """(model, totals, write counter, log mark, kind): incremental when possible, else a full refit."""
        if self.settings.incremental and self._totals is not None:
            try:
                return (*self._incremental(), "incremental")
            except Exception as err:  # noqa: BLE001  any doubt about the update: the full refit decides
                self.fallbacks += 1
                log.warning("incremental crowd refresh not possible (%s: %s); refitting in full",
                            type(err).__name__, err)
        model = self._new_model()
        totals, codes = model.store_totals(self.store)
        return model.finish(totals), totals, codes.high_water, codes.mark, "full"

    def _incremental(self) -> tuple[CollaborativeModel, CoRatingTotals, int, tuple | None]:
        since = self.fitted_writes
        changes = self.store.changes_since(since, self._mark)
        if not changes.users and self.model is not None:  # nothing was written since: the model stands
            return self.model, self._totals, changes.high_water, changes.mark
        history: dict[str, list[tuple[int, str, int]]] = {u: [] for u in changes.users}
        clears: dict[str, list[tuple[int, int]]] = {u: [] for u in changes.users}
        current: dict[str, dict[str, int]] = {u: {} for u in changes.users}
        for user, row_id, item, stars in changes.history:
            history[user].append((row_id, item, stars))
        for user, row_id, upto in changes.clears:
            clears[user].append((row_id, upto))
        for user, item, stars in changes.current:
            current[user][item] = int(stars)
        before, now = ([], [], []), ([], [], [])  # (users, items, stars) of the changed shoppers, then and now
        for user in changes.users:
            then_state = replay(history[user], clears[user], since)
            now_state = replay(history[user], clears[user], changes.high_water)
            if now_state != current[user]:
                raise RatingLogRewound("a shopper's logged writes do not replay to their current ratings (rows "
                                       "written outside RatingStore, or clears from before they were logged)")
            for columns, state in ((before, then_state), (now, now_state)):
                columns[0].extend([user] * len(state))
                columns[1].extend(state)
                columns[2].extend(state.values())
        model = self._new_model()
        totals = self._totals.update(model.totals(now[1], now[0], now[2]),
                                     model.totals(before[1], before[0], before[2]))
        return model.finish(totals), totals, changes.high_water, changes.mark

    def nudge(self) -> None:
        """A rating was saved: let the thread check the counter now rather than at its next poll."""
        self._wake.set()

    def due(self, now: float, last: float) -> bool:
        new = self.store.writes() - self.fitted_writes
        if new < 0:  # the counter went down (a restored backup): refresh now, it will be a full refit
            return True
        return new > 0 and (new >= self.settings.every_ratings or now - last >= self.settings.every_s)

    def start(self) -> CrowdRefresher:
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()

        def loop() -> None:
            last = time.monotonic()
            said, said_at = None, -math.inf  # the failure last logged, and when: a lasting one is logged once a minute
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
                    now = time.monotonic()
                    if str(err) != said or now - said_at >= 60:
                        log.warning("crowd refresher could not read the rating store (trying again every %.0f s; "
                                    "the last model is kept): %s", self.settings.poll_s, err)
                        said, said_at = str(err), now

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
