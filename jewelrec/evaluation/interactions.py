"""Interaction logs (purchases, ratings) → compact integer arrays → sparse user×item matrices.

A log is read once into :class:`InteractionLog`: user and item ids are factorised into ``int32`` codes (one
vocabulary for the whole log, so train and test share it), times become unix seconds and every row carries a
positive confidence weight. Rows that cannot be used are counted per reason in ``log.dropped``; problems that
make the whole file unusable (missing columns, an empty file, unparseable times by default) raise ``ValueError``
naming the fix.

Sources: any delimited text file or parquet file pandas reads (column mapping in :class:`InteractionsConfig`),
plus two presets — ``hm`` (the H&M Kaggle ``transactions_train.csv`` schema) and ``space-ratings`` (the Space's
SQLite ratings database). A SQLite or parquet file is known by its first bytes, whatever its name; text rows with
more fields than the header are skipped and counted (``dropped["malformed line"]``).
"""

from __future__ import annotations

import codecs
import math
import numbers
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from jewelrec.config_keys import check_keys
from jewelrec.evaluation.log_files import MALFORMED, MALFORMED_HINT, _id_strings, _read_frame

HM_COLUMNS = ("t_dat", "customer_id", "article_id", "price", "sales_channel_id")
SPACE_RATINGS_TABLE = "ratings"
# Stars → confidence for the Space preset: 1–2 stars are dislikes, not weak likes, so they carry no positive
# signal for implicit-feedback models (left out of their log and counted, but kept aside in ``log.dislikes`` for
# models that read raw stars); 5 stars count twice as much as 4.
DEFAULT_STARS_CONFIDENCE = {1: 0.0, 2: 0.0, 3: 1.0, 4: 2.0, 5: 4.0}
SECONDS_PER_DAY = 86_400
# field → allowed values; anything else would be silently read as one of them (on_bad_time: skip acted as error)
CHOICES = {"format": ("csv", "parquet", "sqlite", "auto"), "on_bad_time": ("error", "drop")}
COLUMN_SHORTHAND = {"user_col": "user", "item_col": "item", "time_col": "time", "weight_col": "weight",
                    "rating_col": "rating"}  # fmt: skip


@dataclass
class InteractionsConfig:
    """Where a log lives and how its columns map onto user / item / time / weight / rating."""

    path: str
    preset: str | None = None  # "hm" | "space-ratings" | None; from_dict fills the fields below from it
    format: str = "auto"  # "csv" | "parquet" | "sqlite" | "auto" (by signature, then suffix; .tsv means tab)
    sep: str = ","  # delimiter of text files
    header: bool = True  # False: the file has no header row and `names` lists its columns
    names: list[str] | None = None
    user_col: str = "user_id"
    item_col: str = "item_id"
    time_col: str | None = None  # optional; needed by the time split and recent popularity
    time_format: str | None = None  # strftime format, "unix" (seconds), "unix_ms" or None for ISO-8601
    weight_col: str | None = None  # optional numeric weight per row (quantity, dwell time …); default 1
    rating_col: str | None = None  # optional explicit rating; mapped through rating_confidence
    rating_confidence: dict[int, float] | None = None  # stars → confidence; None: the rating is the weight
    encoding: str = "utf-8"  # of a CSV/TSV log; latin-1 / cp1252 for spreadsheets exported on Windows
    on_bad_time: str = "error"  # "error" | "drop" (count the row under dropped["unparseable time"])
    table: str = SPACE_RATINGS_TABLE  # sqlite only

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> InteractionsConfig:
        """Build from the ``data:`` block of an evaluation YAML; ``columns: {user, item, time, weight, rating}``
        is accepted as a shorthand for the ``*_col`` fields. Preset defaults fill whatever is not given."""
        raw = dict(raw)
        columns = raw.pop("columns", None) or {}
        if not isinstance(columns, dict):
            raise ValueError(f"data.columns must be a mapping such as {{user: customer_id, item: article_id}}, "
                             f"got {columns!r}")
        check_keys(columns, ("user", "item", "time", "weight", "rating"), "data.columns")
        for short, value in columns.items():
            raw[f"{short}_col"] = value
        check_keys(raw, cls, "data block")
        if "path" not in raw:
            raise ValueError("data block needs `path:` (a CSV/TSV/parquet file or the Space's ratings .sqlite)")
        preset = raw.get("preset")
        merged = {**_preset_defaults(preset), **raw}
        return cls(**merged)

    def __post_init__(self) -> None:
        # Checked here, not when the file is read: a bad value must stop the run before minutes of loading, and a
        # wrong type must not be silently coerced (header: 'no' is truthy and would eat the first row).
        if isinstance(self.path, os.PathLike):
            self.path = os.fspath(self.path)
        if not isinstance(self.path, str) or not self.path:
            raise ValueError(f"data.path must be a file path (string), got {self.path!r}")
        _preset_defaults(self.preset)  # an unknown preset is refused however the config was built
        for key, allowed in CHOICES.items():
            value = getattr(self, key)
            if value not in allowed:
                raise ValueError(f"data.{key} must be one of {', '.join(allowed)}; got {value!r}")
        if not isinstance(self.header, bool):
            raise ValueError(f"data.header must be true or false (a YAML boolean, unquoted), got {self.header!r}")
        if not isinstance(self.sep, str) or not self.sep:
            raise ValueError(f"data.sep must be a non-empty string such as ',' or ';' (tab: \"\\t\"), "
                             f"got {self.sep!r}")
        if self.time_format == "":  # not quietly ISO-8601: an empty value is more likely a format left out
            raise ValueError("data.time_format is empty; give a strftime format such as '%Y-%m-%d', 'unix', "
                             "'unix_ms', or null for ISO-8601")
        if self.time_format is not None and not isinstance(self.time_format, str):
            raise ValueError(f"data.time_format must be a strftime format such as '%Y-%m-%d', 'unix', 'unix_ms', "
                             f"or null for ISO-8601; got {self.time_format!r}")
        if self.names is not None and (not isinstance(self.names, list)
                                       or not all(isinstance(n, str) for n in self.names)):
            raise ValueError(f"data.names must be a list of column names (strings), got {self.names!r}")
        for key, short in COLUMN_SHORTHAND.items():
            value = getattr(self, key)
            optional = key not in ("user_col", "item_col")
            if not (isinstance(value, str) and value) and not (optional and value is None):
                quote = f" (YAML reads {value} as a number: quote it, '{value}')" if isinstance(value, (int, float)) \
                    and not isinstance(value, bool) else ""
                raise ValueError(f"data.{key} (data.columns.{short}) must be a column name (string), got "
                                 f"{value!r}{quote}")
        roles: dict[str, list[str]] = {}
        for key, short in COLUMN_SHORTHAND.items():
            if getattr(self, key) is not None:
                roles.setdefault(getattr(self, key), []).append(short)
        shared = {column: names for column, names in roles.items() if len(names) > 1}
        if shared:  # one column read as two things: a pandas traceback after the whole log was read
            column, names = next(iter(shared.items()))
            raise ValueError(f"data.columns maps {' and '.join(names)} to the same column {column!r}; each role needs "
                             "its own column (leave an optional one out rather than repeat a column)")
        if not isinstance(self.table, str) or not self.table:
            raise ValueError(f"data.table must be a table name (string), got {self.table!r}")
        self._check_encoding()
        if self.rating_confidence is not None:
            self.rating_confidence = _stars_to_confidence(self.rating_confidence)
            if self.rating_col is None:  # it maps a ratings column: without one it would be silently ignored
                raise ValueError("data.rating_confidence maps stars, but no stars column is named; set "
                                 "data.columns.rating (or drop rating_confidence)")

    def _check_encoding(self) -> None:
        hint = "e.g. utf-8, latin-1, cp1252"
        if not isinstance(self.encoding, str):
            raise ValueError(f"data.encoding must be a text encoding name ({hint}), got {self.encoding!r}")
        try:
            info = codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(f"data.encoding {self.encoding!r} is not an encoding Python knows; {hint}") from None
        if not getattr(info, "_is_text_encoding", True):  # base64, rot13 …: codecs, but not of text files
            raise ValueError(f"data.encoding {self.encoding!r} is not a text encoding; {hint}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stars_to_confidence(raw: Any) -> dict[int, float]:
    """``data.rating_confidence`` checked: whole stars (JSON keys are strings, so '4' and 4.0 count) → finite
    confidence ≥ 0. A 3.5 key would have been truncated to 3, a negative value silently read as a dislike."""
    example = "{1: 0, 2: 0, 3: 1, 4: 2, 5: 4}"
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"data.rating_confidence must be a non-empty mapping of stars to confidence such as "
                         f"{example}, or null to use the rating as the weight; got {raw!r}")
    mapping: dict[int, float] = {}
    for key, value in raw.items():
        star = key
        if isinstance(key, str):
            try:
                star = float(key)
            except ValueError:
                star = None
        if isinstance(star, bool) or not isinstance(star, numbers.Real) or not math.isfinite(star) or star != int(star):
            raise ValueError(f"data.rating_confidence key {key!r} is not a whole star value; use whole stars such "
                             f"as {example}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
            raise ValueError(f"data.rating_confidence[{key!r}] = {value!r}: the confidence must be a finite number "
                             "≥ 0 (0 marks the rating as a dislike)")
        if int(star) in mapping:
            raise ValueError(f"data.rating_confidence lists star {int(star)} twice; keep one entry per star")
        mapping[int(star)] = float(value)
    return mapping


def _preset_defaults(preset: str | None) -> dict[str, Any]:
    if preset is None:
        return {}
    if preset == "hm":
        # Every transaction row is one purchase (weight 1); repeated purchases add up in the matrix.
        return {"user_col": "customer_id", "item_col": "article_id", "time_col": "t_dat", "time_format": "%Y-%m-%d"}
    if preset == "space-ratings":
        return {
            "format": "sqlite", "table": SPACE_RATINGS_TABLE, "user_col": "user_id", "item_col": "item_id",
            "rating_col": "stars", "time_col": "updated_at", "time_format": "unix",
            "rating_confidence": dict(DEFAULT_STARS_CONFIDENCE),
        }  # fmt: skip
    raise ValueError(f"unknown data preset {preset!r}; use 'hm', 'space-ratings' or leave it out")


@dataclass
class InteractionLog:
    """One row per interaction, ids factorised. Codes index ``user_ids`` / ``item_ids``."""

    user_ids: np.ndarray  # (n_users,) object/str
    item_ids: np.ndarray  # (n_items,) object/str
    users: np.ndarray  # (n,) int32
    items: np.ndarray  # (n,) int32
    weights: np.ndarray  # (n,) float32, > 0
    times: np.ndarray | None = None  # (n,) int64 unix seconds, or None when the log has no time column
    n_rows_read: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    stars: np.ndarray | None = None  # (n,) float32 raw rating of each row, when the log has a rating column
    # rows whose rating maps to zero confidence (the 1–2★ dislikes of the Space preset), with their own id
    # vocabularies: never part of the rows above (so collaborative models never see them), kept for models that
    # read raw stars (``jewelrec``); the splits put each one on the train or the test side
    dislikes: InteractionLog | None = None
    ids_stripped: int = 0  # rows whose user or item id had whitespace around it: read as the stripped id, not dropped
    # rows whose id was written as a whole float ("7.0") in a column of whole numbers: read as "7", not dropped
    ids_whole_float: int = 0

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, mask: np.ndarray, dislikes: InteractionLog | None = None) -> InteractionLog:
        """Rows where ``mask`` (n,) is true; vocabularies are kept so codes stay comparable. ``dislikes`` are
        not rows of this log, so the caller says which of them go with the subset (default none)."""
        return InteractionLog(
            self.user_ids, self.item_ids, self.users[mask], self.items[mask], self.weights[mask],
            None if self.times is None else self.times[mask], self.n_rows_read, dict(self.dropped),
            None if self.stars is None else self.stars[mask], dislikes, self.ids_stripped, self.ids_whole_float,
        )  # fmt: skip

    def to_csr(self) -> sp.csr_matrix:
        """(n_users, n_items) float32 CSR; duplicate user–item rows are summed into one weight."""
        matrix, _ = aggregate_pairs(self.users, self.items, self.weights, None, self.n_users, self.n_items)
        return matrix

    def to_csr_with_age(self, now: int) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
        """Weights as in :meth:`to_csr`, plus a CSR of the same pattern holding, per pair, ``1 +`` whole days
        between its latest interaction and ``now`` (unix seconds) — the ``days_ago`` models may use."""
        matrix, last = aggregate_pairs(self.users, self.items, self.weights, self.times, self.n_users, self.n_items)
        if last is None:
            return matrix, None
        age = sp.csr_matrix(
            (1.0 + np.maximum(0, (now - last.data) // SECONDS_PER_DAY).astype(np.float32), last.indices, last.indptr),
            shape=last.shape,
        )
        return matrix, age


def aggregate_pairs(
    users: np.ndarray, items: np.ndarray, weights: np.ndarray, times: np.ndarray | None, n_users: int, n_items: int
) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
    """Sum weights per (user, item) and, when ``times`` is given, keep each pair's latest time.

    Returns a float32 CSR (n_users, n_items) with sorted indices and an int64-valued CSR of the same pattern
    (or None). One sort of an int64 key; no Python loop over rows.
    """
    key = users.astype(np.int64) * n_items + items.astype(np.int64)  # (n,)
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]]) if len(key) else np.zeros(0, np.int64)
    pair_keys = key_sorted[starts]  # (n_pairs,)
    pair_users = (pair_keys // n_items).astype(np.int64)
    indices = (pair_keys % n_items).astype(np.int32)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(pair_users, minlength=n_users), out=indptr[1:])
    summed = np.add.reduceat(weights[order].astype(np.float64), starts) if len(key) else np.zeros(0)
    matrix = sp.csr_matrix((summed.astype(np.float32), indices, indptr), shape=(n_users, n_items))
    if times is None:
        return matrix, None
    latest = np.maximum.reduceat(times[order], starts) if len(key) else np.zeros(0, np.int64)
    return matrix, sp.csr_matrix((latest, indices.copy(), indptr.copy()), shape=(n_users, n_items))


def load_interactions(config: InteractionsConfig) -> InteractionLog:
    """Read ``config.path`` into an :class:`InteractionLog`; counts dropped rows per reason."""
    frame, dropped_on_read = _read_frame(config)
    return frame_to_log(frame, config, dropped_on_read=dropped_on_read)


def frame_to_log(frame: pd.DataFrame, config: InteractionsConfig, *,
                 dropped_on_read: dict[str, int] | None = None) -> InteractionLog:
    """Validate, map weights/ratings, parse times and factorise ids of an already-read frame. Ids lose the
    whitespace around them (counted in ``ids_stripped``); ``dropped_on_read``: rows the reader already skipped,
    per reason (not in ``frame``, but counted as read and dropped)."""
    n_read = len(frame)
    dropped: dict[str, int] = dict(dropped_on_read or {})
    n_rows_read = n_read + sum(dropped.values())
    keep = np.ones(n_read, dtype=bool)

    def drop(mask: np.ndarray, reason: str) -> None:
        newly = mask & keep
        if newly.any():
            dropped[reason] = dropped.get(reason, 0) + int(newly.sum())
            keep[newly] = False

    users, user_stripped = _stripped_ids(frame[config.user_col])
    items, item_stripped = _stripped_ids(frame[config.item_col])
    if frame.attrs.get("text_ids"):  # a CSV / TSV log; a parquet's or the Space's database's ids are kept as typed
        users, user_float = _whole_number_ids(users)
        items, item_float = _whole_number_ids(items)
    else:
        user_float = item_float = np.zeros(n_read, dtype=bool)
    drop(users.isna().to_numpy() | (users == "").fillna(False).to_numpy(dtype=bool), "missing user id")
    drop(items.isna().to_numpy() | (items == "").fillna(False).to_numpy(dtype=bool), "missing item id")
    ids_stripped = int((keep & (user_stripped | item_stripped)).sum())  # of the rows that have both ids
    ids_whole_float = int((keep & (user_float | item_float)).sum())

    weights = np.ones(n_read, dtype=np.float64)
    if config.weight_col:
        raw = pd.to_numeric(frame[config.weight_col], errors="coerce").to_numpy(dtype=np.float64)
        drop(np.isnan(raw), "unparseable weight")
        drop(np.isinf(raw), "non-finite weight")  # inf / 1e309: one such row turns ALS factors into NaN
        drop(~np.isnan(raw) & (raw <= 0), "non-positive weight")
        weights = np.where(np.isnan(raw), 0.0, raw)
    rating, aside = None, np.zeros(n_read, dtype=bool)
    if config.rating_col:
        rating = pd.to_numeric(frame[config.rating_col], errors="coerce").to_numpy(dtype=np.float64)
        drop(np.isnan(rating), "unparseable rating")
        drop(np.isinf(rating), "non-finite weight")  # before the dislikes are set aside: -inf is no 1★
        confidence = _rating_to_confidence(rating, config.rating_confidence, drop)
        aside = keep & ~np.isnan(confidence) & (confidence <= 0)  # dislikes: out of this log, kept beside it
        drop(aside, "rating maps to zero confidence")
        weights = weights * np.nan_to_num(confidence, nan=0.0, posinf=0.0)
    # the models work in float32 and sum squared weights (item-kNN's norms, ALS' Gram matrix): a weight past
    # √(float32 max / rows) — 1.8e16 at a million rows — is a data error that would overflow to inf, not a quantity
    limit = math.sqrt(float(np.finfo(np.float32).max) / max(n_read, 1))
    drop(~np.isnan(weights) & (weights > limit), "weight too large")

    times = None
    if config.time_col:
        times, bad = _parse_times(frame[config.time_col], config.time_format)
        if bad.any() and config.on_bad_time != "drop":
            rows = np.flatnonzero(bad)[:3]
            examples = ["<missing>" if pd.isna(value) else str(value) for value in frame[config.time_col].iloc[rows]]
            if pd.api.types.is_datetime64_any_dtype(frame[config.time_col]):  # no format to fix: the times are gaps
                raise ValueError(
                    f"{int(bad.sum())} of {n_read} values in time column {config.time_col!r} are missing timestamps "
                    f"(NaT; e.g. rows {rows.tolist()}); set data.on_bad_time: drop to skip those rows (time_format "
                    "does not apply to a column of timestamps)")
            raise ValueError(
                f"{int(bad.sum())} of {n_read} values in time column {config.time_col!r} cannot be parsed with "
                f"time_format={config.time_format!r} (e.g. rows {rows.tolist()}: {examples})."
                f"{_time_hint(frame[config.time_col], bad, config.time_format)} Fix data.time_format (a strftime "
                "format, 'unix' (seconds), 'unix_ms', or null for ISO-8601) or set data.on_bad_time: drop to skip them."
            )
        drop(bad, "unparseable time")
        aside &= ~bad
        if config.time_format == "unix_ms" and (~bad).any():
            typical = float(np.median(np.abs(times[~bad])))
            if 0 < typical < MAX_UNIX_SECONDS * 1e-3:  # 1e11 ms is March 1973: epoch seconds read as milliseconds
                raise ValueError(
                    f"time column {config.time_col!r} read under time_format: unix_ms lands in 1970–73 (median "
                    f"{np.datetime64(int(typical), 's')}); its values look like epoch seconds: set data.time_format: "
                    "unix")

    if not keep.any():
        hint = MALFORMED_HINT if MALFORMED in dropped else ""
        raise ValueError(f"no usable rows in {config.path!r}: all {n_rows_read} were dropped ({dropped}){hint}")
    dislikes = None
    if aside.any():
        dislikes = _factorised(users, items, aside, np.ones(n_read), times, rating, n_rows_read, {})
    log = _factorised(users, items, keep, weights, times, rating, n_rows_read, dropped, dislikes)
    log.ids_stripped, log.ids_whole_float = ids_stripped, ids_whole_float
    return log


def _stripped_ids(column: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Ids without the whitespace around them (" u1", "u1 " and "u1" are one user) and which (n,) bool changed;
    an id that is blank once stripped is missing, not changed."""
    if not pd.api.types.is_string_dtype(column):
        column = _id_strings(column)
    stripped = column.str.strip()
    changed = ((stripped != column) & (stripped != "")).fillna(False).to_numpy(dtype=bool)
    return stripped, changed


# a whole number, optionally written as a float with zeros after the point ("7", "-3", "7.0", "7.00")
WHOLE_NUMBER = r"[+-]?\d+(?:\.0*)?"


def _whole_number_ids(column: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Ids of a column that holds only whole numbers with "7.0" written for some — what pandas writes for an int
    column with a gap, or a spreadsheet for a number cell — as "7" (the same rule that reads a float parquet column),
    and which (n,) bool changed. A column with any other id ("7.5", "A7") is left as it is: there "7.0" may be a
    real id of its own."""
    unchanged = np.zeros(len(column), dtype=bool)
    present = column.notna() & (column != "")
    values = column[present]
    if not len(values) or not values.str.contains(".", regex=False).any():
        return column, unchanged
    if not values.str.fullmatch(WHOLE_NUMBER).all():
        return column, unchanged
    whole = values.str.replace(r"\.0*$", "", regex=True)
    changed = unchanged.copy()
    changed[present.to_numpy(dtype=bool)] = (whole != values).to_numpy(dtype=bool)
    column = column.copy()
    column[present] = whole
    return column, changed


def _factorised(users: pd.Series, items: pd.Series, rows: np.ndarray, weights: np.ndarray, times, rating,
                n_read: int, dropped: dict[str, int], dislikes: InteractionLog | None = None) -> InteractionLog:
    """The ``rows`` (len(users),) bool of a read frame as a log with its own id vocabularies; ``n_read``: rows
    read from the source, those skipped by the reader included."""
    user_codes, user_vocab = pd.factorize(users[rows], sort=False)
    item_codes, item_vocab = pd.factorize(items[rows], sort=False)
    return InteractionLog(
        user_ids=np.asarray(user_vocab, dtype=object), item_ids=np.asarray(item_vocab, dtype=object),
        users=user_codes.astype(np.int32), items=item_codes.astype(np.int32),
        weights=weights[rows].astype(np.float32), times=None if times is None else times[rows],
        n_rows_read=n_read, dropped=dropped, stars=None if rating is None else rating[rows].astype(np.float32),
        dislikes=dislikes,
    )  # fmt: skip


def _rating_to_confidence(rating: np.ndarray, mapping: dict[int, float] | None, drop) -> np.ndarray:
    if mapping is None:
        return rating
    stars = np.array(sorted(mapping), dtype=np.float64)
    values = np.array([mapping[int(s)] for s in stars], dtype=np.float64)
    pos = np.clip(np.searchsorted(stars, rating), 0, len(stars) - 1)
    known = ~np.isnan(rating) & (stars[pos] == rating)
    drop(~np.isnan(rating) & ~known, "rating not in rating_confidence")
    return np.where(known, values[pos], np.nan)


# |unix seconds| at or past this (year 5138) is no time of a real log: in a seconds column it is a millisecond
# (or microsecond) epoch, an overflow or a placeholder, so the row is unparseable rather than taken as-is
MAX_UNIX_SECONDS = 1e11
UNIX_SCALES = {"unix": 1.0, "unix_ms": 1e-3}  # time_format → factor to seconds


def _parse_times(column: pd.Series, time_format: str | None) -> tuple[np.ndarray, np.ndarray]:
    """→ (unix seconds int64 (n,), unparseable (n,) bool). Naive times are taken as UTC; a column that already
    holds datetimes (parquet timestamps) is used as it is, whatever ``time_format`` says."""
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = pd.to_datetime(column, utc=True)
    elif time_format in UNIX_SCALES:
        seconds = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64) * UNIX_SCALES[time_format]
        with np.errstate(invalid="ignore"):
            bad = ~(np.abs(seconds) < MAX_UNIX_SECONDS)  # NaN, ±inf and out-of-range values
        return np.where(bad, 0, np.floor(np.where(bad, 0, seconds))).astype(np.int64), bad
    else:
        if pd.api.types.is_numeric_dtype(column):  # 20240315 for %Y%m%d: parse its digits (pandas 4 would read a
            column = _id_strings(column)             # number given a format as an epoch instead)
        parsed = pd.to_datetime(column, format=time_format or "ISO8601", errors="coerce", utc=True)
    bad = parsed.isna().to_numpy()
    seconds = parsed.dt.tz_localize(None).to_numpy().astype("datetime64[s]").astype(np.int64)
    return np.where(bad, 0, seconds), bad


def _time_hint(column: pd.Series, bad: np.ndarray, time_format: str | None) -> str:
    """What the unparseable values of a time column look like, as a fix (or "")."""
    numbers = pd.to_numeric(column[bad], errors="coerce").to_numpy(dtype=np.float64)
    numbers = numbers[np.isfinite(numbers)]
    if len(numbers) * 2 <= int(bad.sum()):  # mostly not numbers: the format is the fix, said below
        return ""
    typical = float(np.median(np.abs(numbers)))
    if time_format == "unix" and MAX_UNIX_SECONDS <= typical < MAX_UNIX_SECONDS * 1e3:
        return " They look like epoch milliseconds: set data.time_format: unix_ms."
    # an epoch of this century is ≥ 1e9 s (2001); a bad value in a digits-only format (20241399 for %Y%m%d) is not
    if time_format not in UNIX_SCALES and typical >= 1e9:
        return " They are numbers: for epoch seconds set data.time_format: unix (milliseconds: unix_ms)."
    return ""


def log_summary(log: InteractionLog) -> dict[str, Any]:
    """Counts for the data report: rows read / kept / dropped per reason, users, items, time range."""
    summary: dict[str, Any] = {
        "rows_read": log.n_rows_read, "rows_kept": len(log), "rows_dropped": dict(log.dropped),
        "users": log.n_users, "items": log.n_items,
    }  # fmt: skip
    if log.dislikes is not None:
        summary["dislikes_kept_for_star_models"] = len(log.dislikes)  # of the rows under "rating maps to zero …"
    if log.ids_stripped:  # a note, not a drop: rows whose ids had stray whitespace, read as the stripped ids
        summary["ids_stripped"] = log.ids_stripped
    if log.ids_whole_float:  # a note too: "7.0" beside "7" (a spreadsheet's or pandas' float export) is one id
        summary["ids_whole_float"] = log.ids_whole_float
    if log.times is not None and len(log):
        summary["time_min"] = str(np.datetime64(int(log.times.min()), "s"))
        summary["time_max"] = str(np.datetime64(int(log.times.max()), "s"))
    return summary
