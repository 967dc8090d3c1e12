"""Reading interaction logs: H&M schema, Space ratings DB, generic files, and clear errors on bad input."""

from __future__ import annotations

import sqlite3
import warnings

import numpy as np
import pandas as pd
import pytest

from jewelrec.evaluation.interactions import InteractionsConfig, aggregate_pairs, load_interactions, log_summary
from jewelrec.evaluation.synthetic_logs import hm_frame, planted_arrays


@pytest.fixture
def hm_csv(tmp_path):
    """A small H&M-schema transactions CSV (generated, same columns and id formats as the Kaggle file)."""
    arrays = planted_arrays(60, 40, n_groups=4, mean_interactions=6, n_days=21, seed=3)
    frame = hm_frame(arrays)
    path = tmp_path / "transactions_train.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_hm_preset_reads_schema(hm_csv):
    path, frame = hm_csv
    log = load_interactions(InteractionsConfig.from_dict({"preset": "hm", "path": str(path)}))
    assert len(log) == len(frame) and log.dropped == {}
    assert log.n_users == frame.customer_id.nunique() and log.n_items == frame.article_id.nunique()
    assert all(len(i) == 10 and i.startswith("0") for i in log.item_ids)  # leading zeros survive
    days = pd.to_datetime(frame.t_dat).to_numpy().astype("datetime64[s]").astype(np.int64)
    np.testing.assert_array_equal(np.sort(log.times), np.sort(days))
    assert log.weights.dtype == np.float32 and (log.weights == 1).all()


def test_duplicates_sum_into_weights(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id\na,x\na,x\na,y\nb,x\n")
    log = load_interactions(InteractionsConfig(path=str(path)))
    matrix = log.to_csr()
    a, b = list(log.user_ids).index("a"), list(log.user_ids).index("b")
    x, y = list(log.item_ids).index("x"), list(log.item_ids).index("y")
    assert matrix[a, x] == 2 and matrix[a, y] == 1 and matrix[b, x] == 1 and matrix.nnz == 3


def test_aggregate_pairs_keeps_latest_time():
    users, items = np.array([0, 0, 1, 0]), np.array([1, 1, 0, 0])
    weights, times = np.array([1, 2, 5, 1], np.float32), np.array([10, 30, 20, 5])
    matrix, latest = aggregate_pairs(users, items, weights, times, 2, 2)
    assert matrix[0, 1] == 3 and latest[0, 1] == 30 and latest[1, 0] == 20 and latest[0, 0] == 5


def test_space_ratings_db_maps_stars(tmp_path):
    path = tmp_path / "space ratings #1.sqlite"  # URI-special characters in the path
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE ratings(user_id TEXT, item_id TEXT, stars INTEGER, updated_at REAL, "
            "PRIMARY KEY(user_id, item_id))"
        )
        rows = [("u1", "i1", 5, 1.7e9), ("u1", "i2", 1, 1.7e9 + 60), ("u2", "i1", 3, 1.7e9 + 120),
                ("u2", "i3", 4, 1.7e9 + 180), ("u3", "i2", 2, 1.7e9 + 240)]  # fmt: skip
        conn.executemany("INSERT INTO ratings VALUES (?, ?, ?, ?)", rows)
    log = load_interactions(InteractionsConfig.from_dict({"preset": "space-ratings", "path": str(path)}))
    assert log.dropped == {"rating maps to zero confidence": 2}  # the 1- and 2-star rows
    got = {(log.user_ids[u], log.item_ids[i]): w for u, i, w in zip(log.users, log.items, log.weights)}
    assert got == {("u1", "i1"): 4.0, ("u2", "i1"): 1.0, ("u2", "i3"): 2.0}
    assert log.times.min() == 1_700_000_000
    custom = InteractionsConfig.from_dict(
        {"preset": "space-ratings", "path": str(path), "rating_confidence": {1: 0.5, 2: 1, 3: 2, 4: 3, 5: 4}}
    )
    assert len(load_interactions(custom)) == 5


def test_space_ratings_keep_dislikes_beside_the_positive_rows(tmp_path):
    """The 1–2★ rows stay out of the rows collaborative models train on (same vocabularies and counts as if
    they were gone) but are kept, with their raw stars, for models that read stars."""
    path = tmp_path / "ratings.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE ratings(user_id TEXT, item_id TEXT, stars INTEGER, updated_at REAL)")
        conn.executemany("INSERT INTO ratings VALUES (?, ?, ?, ?)", [
            ("u1", "i1", 5, 1.7e9), ("u1", "i2", 1, 1.7e9 + 60), ("u2", "i1", 3, 1.7e9 + 120),
            ("u3", "i4", 2, 1.7e9 + 240), ("u2", "i2", 4, 1.7e9 + 300), ("", "i9", 1, 1.7e9)])  # fmt: skip
    log = load_interactions(InteractionsConfig.from_dict({"preset": "space-ratings", "path": str(path)}))
    assert list(log.user_ids) == ["u1", "u2"] and list(log.item_ids) == ["i1", "i2"]  # u3, i4: dislikes only
    assert log.weights.tolist() == [4.0, 1.0, 2.0] and log.stars.tolist() == [5.0, 3.0, 4.0]
    assert log.dropped == {"missing user id": 1, "rating maps to zero confidence": 2}
    dislikes = log.dislikes
    got = {(dislikes.user_ids[u], dislikes.item_ids[i]): s for u, i, s in zip(dislikes.users, dislikes.items,
                                                                              dislikes.stars)}  # fmt: skip
    assert got == {("u1", "i2"): 1.0, ("u3", "i4"): 2.0}  # the row without a user id is not among them
    assert dislikes.times.tolist() == [1_700_000_060, 1_700_000_240]
    assert log_summary(log)["dislikes_kept_for_star_models"] == 2
    every_star_counts = {"preset": "space-ratings", "path": str(path), "rating_confidence": {s: 1 for s in range(1, 6)}}
    log = load_interactions(InteractionsConfig.from_dict(every_star_counts))
    assert log.dislikes is None and sorted(log.stars.tolist()) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_space_db_without_ratings_table(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE likes(a TEXT)")
    with pytest.raises(ValueError, match="no table 'ratings'"):
        load_interactions(InteractionsConfig.from_dict({"preset": "space-ratings", "path": str(path)}))


def test_generic_tsv_parquet_and_headerless(tmp_path):
    frame = pd.DataFrame({"uid": ["1", "2", "2"], "sku": ["007", "008", "007"], "qty": [1, 3, 2]})
    tsv = tmp_path / "log.tsv"
    frame.to_csv(tsv, sep="\t", index=False)
    config = {"path": str(tsv), "columns": {"user": "uid", "item": "sku", "weight": "qty"}}
    log = load_interactions(InteractionsConfig.from_dict(config))
    assert sorted(log.item_ids) == ["007", "008"] and log.weights.sum() == 6
    parquet = tmp_path / "log.parquet"
    frame.to_parquet(parquet)
    assert len(load_interactions(InteractionsConfig.from_dict({**config, "path": str(parquet)}))) == 3
    raw = tmp_path / "log.txt"
    frame.to_csv(raw, sep=";", index=False, header=False)
    headerless = {**config, "path": str(raw), "sep": ";", "header": False, "names": ["uid", "sku", "qty"]}
    assert len(load_interactions(InteractionsConfig.from_dict(headerless))) == 3


def test_bad_rows_are_counted(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,w\na,x,1\n,x,1\nb,,1\nc,y,-2\nd,y,abc\ne,z,2\n")
    log = load_interactions(InteractionsConfig.from_dict({"path": str(path), "columns": {"weight": "w"}}))
    assert len(log) == 2 and log.n_rows_read == 6
    assert log.dropped == {"missing user id": 1, "missing item id": 1, "non-positive weight": 1,
                           "unparseable weight": 1}  # fmt: skip


def test_missing_columns_name_the_fix(hm_csv):
    path, _ = hm_csv
    with pytest.raises(ValueError, match=r"missing column\(s\) \['user_id'\].*customer_id"):
        load_interactions(InteractionsConfig.from_dict({"path": str(path), "columns": {"item": "article_id"}}))


def test_unparseable_times_error_or_drop(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,t\na,x,2020-09-01\nb,y,yesterday\nc,z,2020-09-03\n")
    config = {"path": str(path), "columns": {"time": "t"}, "time_format": "%Y-%m-%d"}
    with pytest.raises(ValueError, match=r"1 of 3 values in time column 't'.*yesterday.*on_bad_time"):
        load_interactions(InteractionsConfig.from_dict(config))
    log = load_interactions(InteractionsConfig.from_dict({**config, "on_bad_time": "drop"}))
    assert len(log) == 2 and log.dropped == {"unparseable time": 1}


def test_epoch_milliseconds_are_named_and_read_with_unix_ms(tmp_path):
    """A millisecond epoch under time_format: unix is year 50,000+: refused with the option that reads it."""
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,t\na,x,1598918400000\nb,y,1599004800000\n")
    config = {"path": str(path), "columns": {"time": "t"}, "time_format": "unix"}
    with pytest.raises(ValueError, match=r"2 of 2 values.*epoch milliseconds: set data.time_format: unix_ms"):
        load_interactions(InteractionsConfig.from_dict(config))
    log = load_interactions(InteractionsConfig.from_dict({**config, "time_format": "unix_ms"}))
    np.testing.assert_array_equal(np.sort(log.times), [1598918400, 1599004800])
    with pytest.raises(ValueError, match=r"They are numbers: for epoch seconds set data.time_format: unix"):
        load_interactions(InteractionsConfig.from_dict({**config, "time_format": "%Y-%m-%d"}))


@pytest.mark.parametrize("time_format", ["unix", "unix_ms", "%Y-%m-%d", None])
def test_a_parquet_timestamp_column_is_used_as_it_is(tmp_path, time_format):
    """A column that already holds datetimes is not re-read as numbers (to_numeric gives microseconds)."""
    path = tmp_path / "log.parquet"
    frame = pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"],
                          "t": pd.to_datetime(["2020-09-01T00:00", "2020-09-02T12:00"])})
    frame.to_parquet(path)
    log = load_interactions(InteractionsConfig.from_dict({"path": str(path), "columns": {"time": "t"},
                                                          "time_format": time_format}))
    np.testing.assert_array_equal(np.sort(log.times), [1598918400, 1599048000])



def test_an_unknown_preset_is_refused_however_the_config_is_built(tmp_path):
    for build in (lambda: InteractionsConfig.from_dict({"path": "log.csv", "preset": "H&M"}),
                  lambda: InteractionsConfig(path="log.csv", preset="H&M")):
        with pytest.raises(ValueError, match="unknown data preset 'H&M'; use 'hm', 'space-ratings' or leave it out"):
            build()


def test_digit_dates_a_csv_reads_as_numbers_are_parsed_by_their_format(tmp_path):
    """20200901 under %Y%m%d is read from its digits (pandas 4 would take a number with a format as an epoch; 3
    warns), also when a gap makes the column float."""
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,t\na,x,20200901\nb,y,20200902\nc,z,\n")
    config = {"path": str(path), "columns": {"time": "t"}, "time_format": "%Y%m%d", "on_bad_time": "drop"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FutureWarning / Pandas4Warning included
        log = load_interactions(InteractionsConfig.from_dict(config))
    np.testing.assert_array_equal(np.sort(log.times), [1598918400, 1599004800])
    assert log.dropped == {"unparseable time": 1}


def test_time_hints_name_the_right_fix(tmp_path):
    """Missing parquet timestamps are not 'numbers' (NaT reads as -9.2e18), nor is a bad %Y%m%d value an epoch."""
    path = tmp_path / "log.parquet"
    pd.DataFrame({"user_id": ["a", "b", "c"], "item_id": ["x", "y", "z"],
                  "t": pd.to_datetime(["2020-09-01T00:00", None, None])}).to_parquet(path)
    with pytest.raises(ValueError, match=r"2 of 3 values in time column 't' are missing timestamps \(NaT; e.g. rows "
                                         r"\[1, 2\]\); set data.on_bad_time: drop") as caught:
        load_interactions(InteractionsConfig.from_dict({"path": str(path), "columns": {"time": "t"}}))
    assert "time_format: unix" not in str(caught.value)
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,t\na,x,20240101\nb,y,20241399\n")
    with pytest.raises(ValueError, match=r"1 of 2 values.*20241399") as caught:
        load_interactions(InteractionsConfig.from_dict({"path": str(path), "columns": {"time": "t"},
                                                        "time_format": "%Y%m%d"}))
    assert "They are numbers" not in str(caught.value)


@pytest.mark.parametrize("content", ["", "user_id,item_id\n"])
def test_empty_files(tmp_path, content):
    path = tmp_path / "log.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match="empty"):
        load_interactions(InteractionsConfig(path=str(path)))


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown keys"):
        InteractionsConfig.from_dict({"path": "x.csv", "user": "u"})
    with pytest.raises(ValueError, match="unknown data preset"):
        InteractionsConfig.from_dict({"path": "x.csv", "preset": "movielens"})
    with pytest.raises(ValueError, match="does not exist"):
        load_interactions(InteractionsConfig(path=str(tmp_path / "nope.csv")))


def test_a_non_utf8_log_names_the_file_line_and_the_option(tmp_path):
    from jewelrec.evaluation.interactions import InteractionsConfig, load_interactions

    path = tmp_path / "log.csv"
    path.write_bytes("user,item\nu1,i1\nu2,caf\xe9-ring\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"log.csv.*is not utf-8 text: byte \d+ \(line 3\).*data.encoding"):
        load_interactions(InteractionsConfig(path=str(path), user_col="user", item_col="item"))
    log = load_interactions(InteractionsConfig(path=str(path), user_col="user", item_col="item", encoding="latin-1"))
    assert "café-ring" in set(log.item_ids)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"rating_confidence": [1, 2]}, r"data.rating_confidence must be a non-empty mapping"),
        ({"rating_confidence": {}}, r"data.rating_confidence must be a non-empty mapping"),
        ({"rating_confidence": {"a": 1}}, r"data.rating_confidence key 'a' is not a whole star"),
        ({"rating_confidence": {3.5: 1}}, r"data.rating_confidence key 3.5 is not a whole star"),
        ({"rating_confidence": {True: 1}}, r"data.rating_confidence key True is not a whole star"),
        ({"rating_confidence": {1: "x"}}, r"data.rating_confidence\[1\] = 'x'.*finite number ≥ 0"),
        ({"rating_confidence": {1: -1}}, r"data.rating_confidence\[1\] = -1.*finite number ≥ 0"),
        ({"rating_confidence": {1: float("nan")}}, r"data.rating_confidence\[1\] = nan"),
        ({"rating_confidence": {3: 1, "3": 2}}, r"data.rating_confidence lists star 3 twice"),
        ({"encoding": "utf-9"}, r"data.encoding 'utf-9' is not an encoding Python knows; e.g. utf-8, latin-1"),
        ({"encoding": "base64"}, r"data.encoding 'base64' is not a text encoding"),
        ({"encoding": 8}, r"data.encoding must be a text encoding name"),
        ({"sep": 5}, r"data.sep must be a non-empty string"),
        ({"sep": ""}, r"data.sep must be a non-empty string"),
        ({"time_format": 5}, r"data.time_format must be a strftime format.*unix_ms.*null"),
        ({"header": "no"}, r"data.header must be true or false"),
        ({"header": 0}, r"data.header must be true or false"),
        ({"on_bad_time": "skip"}, r"data.on_bad_time must be one of error, drop; got 'skip'"),
        ({"format": "xlsx"}, r"data.format must be one of csv, parquet, sqlite, auto; got 'xlsx'"),
        ({"names": "a,b"}, r"data.names must be a list of column names"),
        ({"columns": {"user": 7}}, r"data.user_col \(data.columns.user\) must be a column name"),
        ({"columns": ["user"]}, r"data.columns must be a mapping"),
        ({"path": 5}, r"data.path must be a file path"),
        ({"columns": {"item": 2020}}, r"data.item_col .* got 2020 \(YAML reads 2020 as a number: quote it, '2020'\)"),
        ({"time_format": ""}, r"data.time_format is empty"),
        ({"rating_confidence": {1: 0, 5: 2}}, r"data.rating_confidence maps stars, but no stars column is named; set "
                                              r"data.columns.rating"),
    ],
)
def test_bad_data_settings_are_named_when_the_config_is_read(bad, message):
    """Each refused before any file is read (the path does not exist), naming the data.<key> and the fix."""
    with pytest.raises(ValueError, match=message):
        InteractionsConfig.from_dict({"path": "no-such-log.csv", **bad})


def test_rating_confidence_takes_whole_stars_in_any_spelling():
    """JSON keys are strings and YAML may give 4.0: all are the same whole star."""
    config = InteractionsConfig.from_dict({"path": "x.sqlite", "columns": {"rating": "stars"},
                                           "rating_confidence": {"1": 0, 2.0: 0.5, 3: 1}})
    assert config.rating_confidence == {1: 0.0, 2: 0.5, 3: 1.0}


def test_whole_number_float_ids_read_like_the_csv(tmp_path):
    """A float-typed id column (0.0, 1.0; a NaN forces pandas ints to float) gives the ids '0', '1' a CSV gives."""
    frame = pd.DataFrame({"user_id": [0.0, 1.0, np.nan, 2.0], "item_id": [10.0, 11.0, 10.0, 12.0]})
    parquet = tmp_path / "log.parquet"
    frame.to_parquet(parquet)
    log = load_interactions(InteractionsConfig(path=str(parquet)))
    assert sorted(log.user_ids) == ["0", "1", "2"] and sorted(log.item_ids) == ["10", "11", "12"]
    assert log.dropped == {"missing user id": 1}
    csv = tmp_path / "log.csv"
    frame.astype("Int64").to_csv(csv, index=False)
    assert sorted(load_interactions(InteractionsConfig(path=str(csv))).item_ids) == sorted(log.item_ids)
    fractional = tmp_path / "fractional.parquet"
    pd.DataFrame({"user_id": ["a", "b"], "item_id": [1.5, 2.0]}).to_parquet(fractional)
    assert sorted(load_interactions(InteractionsConfig(path=str(fractional))).item_ids) == ["1.5", "2.0"]


@pytest.mark.parametrize("first_row", ["a,x,1,EXTRA", "a,x,1,E,F,G,H,I"])
@pytest.mark.parametrize("header", [True, False])
def test_rows_with_extra_fields_are_skipped_and_counted(tmp_path, first_row, header):
    """A row pandas cannot split into the header's fields is counted under "malformed line", wherever it is (the
    first data row sets pandas' row width) and however many extras it has; an empty trailing field is harmless."""
    path = tmp_path / "log.csv"
    rows = [first_row, "b,y,2", "c,z,3,4,5,6,7,8,9,10", "d,y,1,", "e,Ring, gold,2", "f,x,1", "g,x,1,E,F"]
    path.write_text(("user_id,item_id,w\n" if header else "") + "\n".join(rows) + "\n")
    config = {"path": str(path), "columns": {"weight": "w"}}
    if not header:
        config.update(header=False, names=["user_id", "item_id", "w"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas' "Skipping line" warnings are counted, not passed on
        log = load_interactions(InteractionsConfig.from_dict(config))
    assert log.dropped == {"malformed line": 4} and log.n_rows_read == 7
    assert list(log.user_ids) == ["b", "d", "f"] and list(log.item_ids) == ["y", "x"]
    assert log.weights.tolist() == [2.0, 1.0, 1.0]
    assert log_summary(log)["rows_dropped"] == {"malformed line": 4}


def test_an_unclosed_quote_is_one_line_naming_the_file_the_line_and_the_fix(tmp_path):
    path = tmp_path / "log.csv"
    good = [f"u{i},{i:04d},2024-01-05 00:00:00,1,3" for i in range(100)]
    path.write_text("\n".join(["user_id,item_id,t,w,s", *good, 'u1,"0001,2024-01-05 00:00:00,1,3', *good]) + "\n")
    with pytest.raises(ValueError, match=r"log.csv'.*quote.*line 102.*never closed.*quoting.*data.sep") as caught:
        load_interactions(InteractionsConfig(path=str(path)))
    assert "\n" not in str(caught.value) and "Error tokenizing" not in str(caught.value)


def test_headerless_names_that_do_not_fit_the_file_name_it_and_the_fix(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("a;x;1\nb;y;2\n")
    config = {"path": str(path), "sep": ";", "header": False}
    with pytest.raises(ValueError, match=r"log.txt'.*3 fields in its first row.*data.names lists 4.*data.sep"):
        load_interactions(InteractionsConfig.from_dict({**config, "names": ["user_id", "item_id", "w", "t"]}))
    with pytest.raises(ValueError, match=r"log.txt'.*all 2 were malformed.*data.sep and data.names"):
        load_interactions(InteractionsConfig.from_dict({**config, "names": ["user_id", "item_id"]}))


def test_a_gzip_log_needs_its_gz_suffix(tmp_path):
    import gzip

    text = "user_id\titem_id\nu1\ti1\nu2\ti2\n"
    misnamed = tmp_path / "log.tsv"
    misnamed.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(ValueError, match=r"log.tsv' is gzip-compressed.*rename it to log.tsv.gz") as caught:
        load_interactions(InteractionsConfig(path=str(misnamed)))
    assert "utf-8" not in str(caught.value)
    named = tmp_path / "log.tsv.gz"
    named.write_bytes(gzip.compress(text.encode()))
    assert sorted(load_interactions(InteractionsConfig(path=str(named))).item_ids) == ["i1", "i2"]  # tab from .tsv


def _ratings_db(path):
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE ratings(user_id TEXT, item_id TEXT, stars INTEGER, updated_at REAL)")
        conn.executemany("INSERT INTO ratings VALUES (?, ?, ?, ?)", [("u1", "i1", 5, 1.7e9), ("u2", "i2", 4, 1.7e9)])
    conn.close()
    return path


@pytest.mark.parametrize("name", ["ratings.sqlite3", "ratings.csv", "ratings"])
def test_a_sqlite_log_is_known_by_its_signature_whatever_its_name(tmp_path, name):
    path = _ratings_db(tmp_path / name)
    log = load_interactions(InteractionsConfig.from_dict({"preset": "space-ratings", "path": str(path),
                                                          "format": "auto"}))
    assert sorted(log.user_ids) == ["u1", "u2"]
    with pytest.raises(ValueError, match=rf"{name}' is a sqlite file, but data.format is 'csv'; set data.format: "
                                         "sqlite"):
        load_interactions(InteractionsConfig(path=str(path), format="csv"))


def test_a_locked_ratings_db_says_who_holds_it_and_how_to_copy_it(tmp_path, monkeypatch):
    from jewelrec.evaluation import log_files

    monkeypatch.setattr(log_files, "SQLITE_BUSY_TIMEOUT_S", 0.05)
    path = _ratings_db(tmp_path / "ratings.sqlite")
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")  # as the Space holds it while writing
        with pytest.raises(ValueError, match=r"ratings.sqlite' is locked by another process.*running Space.*retry"
                                             r".*sqlite3 .*ratings.sqlite.*\.backup .*ratings-copy.sqlite"):
            load_interactions(InteractionsConfig.from_dict({"preset": "space-ratings", "path": str(path)}))
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_file_that_is_not_parquet_and_a_folder_name_the_fix(tmp_path):
    fake = tmp_path / "log.parquet"
    fake.write_text("user_id,item_id\nu1,i1\n")
    with pytest.raises(ValueError, match=r"log.parquet' is not a readable parquet file.*set data.format: csv"):
        load_interactions(InteractionsConfig(path=str(fake)))
    folder = tmp_path / "log"
    folder.mkdir()
    pd.DataFrame({"user_id": ["u1"], "item_id": ["i1"]}).to_parquet(folder / "part-0.parquet")
    with pytest.raises(ValueError, match=r"'.*log' is a directory; set data.path to one file such as .*part-0.parquet"
                                         r".*partitioned parquet folder is not supported") as caught:
        load_interactions(InteractionsConfig(path=str(folder)))
    assert "Errno" not in str(caught.value)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_ids_lose_surrounding_whitespace_and_the_rows_are_counted(tmp_path, suffix):
    frame = pd.DataFrame({"user_id": [" u1", "u1 ", "u1", "  ", "u2", "u2"],
                          "item_id": ["i1", "i1", "\ti1\t", "i2", "i2 ", "i2"]})
    path = tmp_path / f"log{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    log = load_interactions(InteractionsConfig(path=str(path)))
    assert list(log.user_ids) == ["u1", "u2"] and list(log.item_ids) == ["i1", "i2"]
    assert log.to_csr().toarray().tolist() == [[3.0, 0.0], [0.0, 2.0]]
    assert log.dropped == {"missing user id": 1}  # blank once stripped: still missing, not "stripped"
    assert log.ids_stripped == 4 and log_summary(log)["ids_stripped"] == 4
    assert log.subset(log.users == 0).ids_stripped == 4


def test_ids_spelled_like_pandas_na_words_are_ids_not_missing(tmp_path):
    """Only an empty field is a missing id: a user "NA" (a country code) or a SKU "NULL" / "None" was read as
    missing by pandas' default NA words and its rows dropped. The rating column still reads "NA" as no rating."""
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,stars\nNA,NULL,5\nNA,None,4\nnan,NULL,5\n,x,5\nb,,5\nb,y,NA\nb,y,\nc,n/a,3\n")
    config = {"path": str(path), "columns": {"rating": "stars"}, "rating_confidence": {3: 1, 4: 1, 5: 1}}
    log = load_interactions(InteractionsConfig.from_dict(config))
    assert sorted(log.user_ids) == ["NA", "c", "nan"] and sorted(log.item_ids) == ["NULL", "None", "n/a"]
    assert len(log) == 4 and log.dropped == {"missing user id": 1, "missing item id": 1, "unparseable rating": 2}


def test_whole_float_ids_in_a_text_log_are_the_whole_numbers(tmp_path):
    """'7' and '7.0' in one CSV column (concatenated exports, an int column with a gap) are one item, as the same
    column read from parquet is; a column with any other id keeps its '7.0' as an id of its own, and so do the
    Space's database and a parquet's text column, which hold ids as they were typed."""
    csv = tmp_path / "log.csv"
    csv.write_text("user_id,item_id\nu1,7\nu1,8.0\nu2,7.0\nu2,8\nu3, 9.00\n")
    log = load_interactions(InteractionsConfig(path=str(csv)))
    assert sorted(log.item_ids) == ["7", "8", "9"] and len(log) == 5
    summary = log_summary(log)
    assert summary["ids_whole_float"] == 3 and summary["ids_stripped"] == 1 and summary["rows_dropped"] == {}
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("user_id,item_id\nu1,7\nu1,7.0\nu2,A7\n")
    log = load_interactions(InteractionsConfig(path=str(mixed)))
    assert sorted(log.item_ids) == ["7", "7.0", "A7"] and "ids_whole_float" not in log_summary(log)
    db = tmp_path / "ratings.db"  # the Space wrote the bundle's own ids: kept as they are
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE ratings(user_id TEXT, item_id TEXT, stars INTEGER, updated_at REAL, "
                     "PRIMARY KEY(user_id, item_id))")
        conn.executemany("INSERT INTO ratings VALUES (?, ?, ?, ?)", [("u1", "7.0", 5, 1.7e9), ("u1", "8", 4, 1.7e9),
                                                                      ("u2", "7.0", 5, 1.7e9)])
    log = load_interactions(InteractionsConfig.from_dict({"preset": "space-ratings", "path": str(db)}))
    assert sorted(log.item_ids) == ["7.0", "8"] and "ids_whole_float" not in log_summary(log)
    typed = tmp_path / "typed.parquet"  # a parquet's text ids are text: "1.0" is an id (its floats are numbers)
    pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["1.0", "2.0", "1.0"]}).to_parquet(typed)
    assert sorted(load_interactions(InteractionsConfig(path=str(typed))).item_ids) == ["1.0", "2.0"]


def test_weights_past_what_float32_sums_hold_are_dropped_and_counted(tmp_path):
    """1e39 is finite in float64 and inf in the float32 the models use (ALS failed with NaN factors, item-kNN
    wrote metrics of inf / inf); three 3e38 rows of one pair overflow when summed."""
    path = tmp_path / "log.csv"
    rows = [f"u{u},i{i},1" for u in range(5) for i in range(4)] + ["u0,i0,1e39", "u1,i1,3e38", "u1,i1,3e38",
                                                                    "u2,i2,1e6"]
    path.write_text("user_id,item_id,w\n" + "\n".join(rows) + "\n")
    log = load_interactions(InteractionsConfig.from_dict({"path": str(path), "columns": {"weight": "w"}}))
    assert log.dropped == {"weight too large": 3}
    assert np.isfinite(log.to_csr().toarray()).all() and log.weights.max() == 1e6  # a big real quantity stays


def test_a_header_row_read_under_header_false_is_refused(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("User_ID, item_id,QTY\nu1,a,1\nu2,b,2\n")  # its header, in another case and spacing
    names = ["user_id", "item_id", "qty"]
    with pytest.raises(ValueError, match=r"starts with a header row .* data.header is false.*set data.header: true"):
        load_interactions(InteractionsConfig.from_dict({"path": str(path), "header": False, "names": names}))
    headerless = tmp_path / "headerless.csv"
    headerless.write_text("u1,a,1\nu2,b,2\n")  # no header: read as before
    log = load_interactions(InteractionsConfig.from_dict({"path": str(headerless), "header": False,
                                                          "names": ["user_id", "item_id", "qty"]}))
    assert len(log) == 2


def test_a_utf16_or_zipped_log_is_named_for_what_it_is(tmp_path):
    """Excel's "Unicode text" (UTF-16 with a byte-order mark) was told to try latin-1, which reads every column
    name with NUL bytes in it; an .xlsx (a zip) got the same advice."""
    text = "user_id\titem_id\nu1\ta\nu2\tb\n"
    utf16 = tmp_path / "log.tsv"
    utf16.write_bytes(text.encode("utf-16"))
    with pytest.raises(ValueError, match=r"byte-order mark of utf-16.*set data.encoding: utf-16"):
        load_interactions(InteractionsConfig(path=str(utf16)))
    assert len(load_interactions(InteractionsConfig(path=str(utf16), encoding="utf-16"))) == 2
    sheet = tmp_path / "log.xlsx"
    sheet.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xff\xfe\x00\x00")
    with pytest.raises(ValueError, match=r"zip archive .*export the sheet as CSV"):
        load_interactions(InteractionsConfig(path=str(sheet)))


def test_an_infinite_rating_is_dropped_not_kept_aside_as_a_dislike(tmp_path):
    """-inf maps to a confidence ≤ 0, so it was set aside with the 1–2★ dislikes (counted as "rating maps to zero
    confidence") before the non-finite check could drop it."""
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,stars\nu1,a,5\nu1,b,-inf\nu2,a,inf\nu2,b,1\nu2,c,4\n")
    for mapping in (None, {1: 0, 2: 0, 3: 1, 4: 2, 5: 4}):
        log = load_interactions(InteractionsConfig.from_dict({"path": str(path), "columns": {"rating": "stars"},
                                                              "rating_confidence": mapping}))
        assert log.dropped["non-finite weight"] == 2, mapping
        assert log.dislikes is None or np.isfinite(log.dislikes.stars).all()


def test_a_zip_of_several_logs_and_a_parquet_with_missing_timestamps_name_the_fix(tmp_path):
    import zipfile

    (tmp_path / "a.csv").write_text("user_id,item_id\nu1,a\nu2,b\n")
    for name, members in (("two.csv.zip", ["a.csv", "a.csv"]), ("empty.csv.zip", [])):
        with zipfile.ZipFile(tmp_path / name, "w") as archive:
            for i, member in enumerate(members):
                archive.write(tmp_path / member, f"{i}-{member}")
    with pytest.raises(ValueError, match=r"two.csv.zip' is a zip archive that holds 2 files \(\['0-a.csv', '1-a.csv'\]\)"
                                         r"; a zipped log must hold exactly one file"):
        load_interactions(InteractionsConfig(path=str(tmp_path / "two.csv.zip")))
    with pytest.raises(ValueError, match=r"empty.csv.zip' is a zip archive that is empty"):
        load_interactions(InteractionsConfig(path=str(tmp_path / "empty.csv.zip")))
    parquet = tmp_path / "nat.parquet"
    pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["a", "b", "a"],
                  "ts": pd.to_datetime(["2024-01-01", None, "2024-01-02"])}).to_parquet(parquet)
    config = {"path": str(parquet), "columns": {"time": "ts"}}
    with pytest.raises(ValueError, match=r"1 of 3 values in time column 'ts' are missing timestamps \(NaT; e.g. rows "
                                         r"\[1\]\); set data.on_bad_time: drop") as err:
        load_interactions(InteractionsConfig.from_dict(config))
    assert "Fix data.time_format" not in str(err.value)  # a parquet timestamp has no format to fix
    log = load_interactions(InteractionsConfig.from_dict({**config, "on_bad_time": "drop"}))
    assert log.dropped == {"unparseable time": 1}
