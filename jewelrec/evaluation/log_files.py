"""Reading an interaction log's file into a frame: the format from the file's signature or suffix, the needed
columns of a delimited text file (rows with more fields than the header skipped and counted), of a parquet file or
of the Space's SQLite ratings database (read-only), and one-line errors naming the file and the fix.

:func:`jewelrec.evaluation.interactions.load_interactions` is the entry point; this module holds its file side.
"""

from __future__ import annotations

import codecs
import os
import re
import sqlite3
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from jewelrec.evaluation.interactions import InteractionsConfig


SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database
PARQUET_MAGIC = b"PAR1"
FORMAT_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".sqlite": "sqlite", ".sqlite3": "sqlite", ".db": "sqlite"}
# first bytes of a compressed file → (its name, the suffix pandas decompresses by); pandas goes by the name only.
# Binary signatures only (no bzip2 "BZh", which a header could start with); not zip, as an .xlsx is a zip too.
COMPRESSION_MAGIC = {b"\x1f\x8b": ("gzip", ".gz"), b"\xfd7zXZ\x00": ("xz", ".xz"), b"\x28\xb5\x2f\xfd": ("zstd", ".zst")}
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zip", ".xz", ".zst")  # those pandas decompresses by
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")


def _sniffed_format(path: Path) -> str | None:
    """The format a file's bytes prove, whatever its name says (None: no binary signature)."""
    head = _head(path)
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PARQUET_MAGIC) and _tail(path) == PARQUET_MAGIC:  # parquet opens and ends with it; text rarely
        return "parquet"
    return None


def _detect_format(config: InteractionsConfig) -> tuple[str, str]:
    """(format, separator). ``auto`` goes by the file's signature first — a SQLite or parquet file is never read
    as text, whatever its name — then by its suffix (``log.tsv.gz`` is a tab-separated text file)."""
    fmt, sep = config.format, config.sep
    path = Path(config.path).expanduser()
    sniffed = _sniffed_format(path) if path.is_file() else None
    if fmt == "auto":
        suffixes = [s.lower() for s in path.suffixes]
        if suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
            suffixes = suffixes[:-1]  # the compression suffix says how to decompress, the one before what it holds
        suffix = suffixes[-1] if suffixes else ""
        fmt = sniffed or FORMAT_SUFFIXES.get(suffix, "csv")
        if suffix == ".tsv" and fmt == "csv":
            sep = "\t"
        if fmt == "csv" and (suffix in JSON_SUFFIXES or (path.is_file() and _head(path).lstrip()[:1] in (b"{", b"["))):
            # read as a CSV its columns came out as '{"user_id":"u1"' and the error sent the user to data.sep
            raise ValueError(
                f"interaction log {str(path)!r} is JSON, which the evaluator does not read (CSV/TSV, parquet or "
                f"SQLite); convert it once: python -c \"import pandas as pd; pd.read_json('{path}', "
                f"lines={suffix != '.json'}).to_parquet('{path.with_suffix('.parquet')}')\" and set data.path to the "
                "parquet file")
    elif sniffed is not None and sniffed != fmt:
        raise ValueError(f"interaction log {str(path)!r} is a {sniffed} file, but data.format is {fmt!r}; set "
                         f"data.format: {sniffed} (or auto)")
    return fmt, sep


def _head(path: Path, size: int = 16) -> bytes:
    return _read_bytes(path, 0, size)


def _tail(path: Path, size: int = 4) -> bytes:
    return _read_bytes(path, -size, size) if path.stat().st_size >= size else b""


def _read_bytes(path: Path, offset: int, size: int) -> bytes:
    try:
        with open(path, "rb") as file:
            file.seek(offset, os.SEEK_END if offset < 0 else os.SEEK_SET)
            return file.read(size)
    except OSError as exc:
        raise ValueError(f"interaction log {str(path)!r} cannot be read ({exc.strerror or exc}); check the file's "
                         "permissions or set data.path") from None


def _needed_columns(config: InteractionsConfig) -> list[str]:
    optional = (config.time_col, config.weight_col, config.rating_col)
    return [config.user_col, config.item_col, *[c for c in optional if c]]


def _read_frame(config: InteractionsConfig) -> tuple[pd.DataFrame, dict[str, int]]:
    """The needed columns of ``config.path`` (ids as strings) and the rows dropped while reading, per reason."""
    path = Path(config.path).expanduser()
    if not path.exists():
        raise ValueError(f"interaction log {str(path)!r} does not exist; set data.path in the config")
    if path.is_dir():
        part = next(path.rglob("*.parquet"), None)
        example = f" such as {str(part)!r}" if part else ""
        raise ValueError(f"interaction log {str(path)!r} is a directory; set data.path to one file{example} (a "
                         "partitioned parquet folder is not supported: write the log as one file)")
    fmt, sep = _detect_format(config)
    needed = _needed_columns(config)
    if fmt == "sqlite":
        return _read_sqlite(path, config.table, needed), {}
    if path.stat().st_size == 0:
        raise ValueError(f"interaction log {str(path)!r} is empty (0 bytes); point data.path at a log with rows")
    dropped: dict[str, int] = {}
    if fmt == "parquet":
        frame = _read_parquet(path, needed)
        for col in (config.user_col, config.item_col):
            frame[col] = _id_strings(frame[col])
    else:
        frame, malformed = _read_text(path, config, sep, needed)
        if malformed:
            dropped[MALFORMED] = malformed
    if len(frame) == 0:
        if dropped:
            raise ValueError(f"no usable rows in {str(path)!r}: all {dropped[MALFORMED]} were malformed{MALFORMED_HINT}")
        raise ValueError(f"interaction log {str(path)!r} has a header but no rows; it is empty")
    return frame, dropped


def _read_parquet(path: Path, needed: list[str]) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        available = pq.read_schema(path).names
        _check_columns(needed, available, path)
        return pd.read_parquet(path, columns=needed)
    except (pa.ArrowException, OSError) as exc:
        head = _head(path)
        fix = "set data.format to the file's real format (csv, parquet, sqlite) or re-export it as parquet"
        if head and all(32 <= b < 127 or b in b"\t\r\n" for b in head):
            fix = "it looks like text: for a CSV/TSV log set data.format: csv (and data.sep)"
        for magic, (name, suffix) in COMPRESSION_MAGIC.items():
            if head.startswith(magic):
                fix = f"it is {name}-compressed: for a compressed CSV name it .csv{suffix} and set data.format: csv"
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(f"interaction log {str(path)!r} is not a readable parquet file ({reason}); {fix}") from None


MALFORMED = "malformed line"  # dropped-reason: more fields than the header, so no field is sure to be in its column
MALFORMED_HINT = " (rows with more fields than the header or data.names); check the quoting, data.sep and data.names"
# spare columns past the header: a row with up to this many extra fields (more if the first row has more) is looked
# at, so an empty extra — a trailing delimiter — is told from data; a row with still more is skipped by pandas. One
# is enough for exporters that end every row with the delimiter; each more costs a column per chunk.
SPARE_FIELDS = 1
CHUNK_ROWS = 1_000_000  # rows per read_csv chunk: bounds the memory of the columns read only to check a row's shape


def _read_text(path: Path, config: InteractionsConfig, sep: str, needed: list[str]) -> tuple[pd.DataFrame, int]:
    """Needed columns of a delimited text log, and how many rows had more fields than the header (skipped).

    Every column is tokenised — ``usecols`` would switch pandas' field-count check off and read a row with an
    extra field silently — in chunks that keep only the needed columns. A row with more fields than the header has
    lands in spare columns after the named ones (looked at per row: empty extras, trailing delimiters, are harmless)
    or, with more extras than spares, is skipped by pandas with a warning that is counted. There are at least as many
    spares as the first data row has extras: pandas takes the wider of the names and the first row as every row's
    width, so a wider first row would make it truncate rows up to that width without a word.
    """
    header_lines = 1 if config.header else 0
    if not config.header and not config.names:
        raise ValueError("data.header is false, so data.names must list the file's columns in order")
    encoding = config.encoding
    _check_compression(path)
    malformed = 0
    names = None if config.header else list(config.names)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)  # every skipped row is one warning line: count all
        try:
            if names is None:
                names = list(pd.read_csv(path, sep=sep, nrows=0, encoding=encoding).columns)
            _check_columns(needed, names, path, sep=sep)
            first = _first_row(path, sep, encoding, header_lines)
            if not config.header and _is_header(first, names):
                raise ValueError(
                    f"interaction log {str(path)!r} starts with a header row ({first[:len(names)]}) but data.header is "
                    "false, so it would be read as an interaction of a user named like the column; set data.header: "
                    "true (data.names can then be left out)"
                )  # fmt: skip
            if not config.header and len(first) < len(names):
                raise ValueError(
                    f"interaction log {str(path)!r} has {len(first)} fields in its first row (separator {sep!r}) but "
                    f"data.names lists {len(names)}: {names}; list exactly the file's columns in order, or set "
                    "data.sep if the separator is wrong"
                )  # fmt: skip
            spares = [f"<extra field {k}>" for k in range(1, max(SPARE_FIELDS, len(first) - len(names)) + 1)]
            while set(spares) & set(names):  # never a real column's name
                spares = [f"_{spare}" for spare in spares]
            dtype = {config.user_col: "string", config.item_col: "string", **dict.fromkeys(spares, "string")}
            chunks = []
            # Ids stay strings: H&M article ids have leading zeros that an int parse would eat.
            # Only an empty field is missing: pandas' default NA words ("NA", "null", "None", "nan" …) are real
            # ids (a user "NA", a SKU "NULL"); the other columns are parsed by to_numeric / to_datetime, which
            # read those words as unparseable anyway.
            reader = pd.read_csv(path, sep=sep, header=None, skiprows=header_lines, names=names + spares,
                                 index_col=False, dtype=dtype, encoding=encoding, on_bad_lines="warn",
                                 keep_default_na=False, na_values=dict.fromkeys(names + spares, [""]),
                                 chunksize=CHUNK_ROWS)  # fmt: skip
            with reader:
                for chunk in reader:
                    extra = np.zeros(len(chunk), dtype=bool)  # (rows,)
                    for spare in spares:  # an empty field is a trailing delimiter, not data
                        filled = chunk[spare].notna().to_numpy(dtype=bool, copy=True)
                        if filled.any():  # whitespace only is empty too
                            filled[filled] = (chunk[spare][filled].str.strip() != "").to_numpy(dtype=bool)
                        extra |= filled
                    malformed += int(extra.sum())
                    chunks.append(chunk.loc[~extra, needed])
        except pd.errors.EmptyDataError:
            if config.header and names is not None:
                raise ValueError(f"interaction log {str(path)!r} has a header but no rows; it is empty") from None
            raise ValueError(f"interaction log {str(path)!r} has no header and no rows; it is empty") from None
        except pd.errors.ParserError as exc:
            raise _parser_error(path, exc) from None
        except UnicodeDecodeError as err:
            raise _decode_error(path, encoding, err) from None
        except ValueError as exc:
            if "files found in ZIP file" not in str(exc):  # ours (they name the file), or not a zip's
                raise
            # pandas reads a .zip holding exactly one file: "Multiple files found in ZIP file. Only one file per ZIP"
            with zipfile.ZipFile(path) as archive:
                members = [name for name in archive.namelist() if not name.endswith("/")]
            held = f"holds {len(members)} files ({members[:5]}{' …' * (len(members) > 5)})" if members else "is empty"
            raise ValueError(f"interaction log {str(path)!r} is a zip archive that {held}; a zipped log must hold "
                             "exactly one file: unzip it and set data.path to the file to read") from None
        except (OSError, EOFError) as exc:  # a truncated or mis-named .gz / .zip, a file that vanished mid-read
            raise ValueError(f"interaction log {str(path)!r} cannot be read ({exc}); check that the file is complete "
                             "and that its suffix (.gz, .zip …) matches its compression") from None
    for warning in caught:
        skipped = len(re.findall(r"Skipping line \d+", str(warning.message)))
        if skipped and issubclass(warning.category, pd.errors.ParserWarning):
            malformed += skipped
        else:  # not ours to swallow
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    frame = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=needed)
    # text has no number types: "7.0" beside "7" is a float export of an int id (parquet and SQLite keep their types)
    frame.attrs["text_ids"] = True
    return frame, malformed


def _is_header(first: list[Any], names: list[str]) -> bool:
    """Whether a first data row spells ``names`` (case and surrounding spaces aside): the file's own header."""
    fields = ["" if pd.isna(value) else str(value).strip().lower() for value in first[:len(names)]]
    return len(fields) == len(names) and fields == [str(name).strip().lower() for name in names]


def _first_row(path: Path, sep: str, encoding: str, header_lines: int) -> list[Any]:
    """The fields of the first data row (after the header), however many there are."""
    probe = pd.read_csv(path, sep=sep, header=None, skiprows=header_lines, nrows=1, dtype="string",
                        encoding=encoding, on_bad_lines="skip")  # fmt: skip
    return probe.iloc[0].tolist() if len(probe) else []


def _check_compression(path: Path) -> None:
    """A compressed log whose name lacks the suffix pandas decompresses by would be read as (binary) text."""
    head = _head(path)
    for magic, (name, suffix) in COMPRESSION_MAGIC.items():
        if head.startswith(magic) and not path.name.lower().endswith(suffix):
            raise ValueError(f"interaction log {str(path)!r} is {name}-compressed, but its name does not end in "
                             f"{suffix}; rename it to {path.name}{suffix} so it is decompressed as it is read")


def _parser_error(path: Path, exc: pd.errors.ParserError) -> ValueError:
    """A ParserError as one line naming the file, the line (when pandas gives one) and the fix."""
    message = " ".join(str(exc).replace("Error tokenizing data. C error: ", "").split())
    unclosed = re.search(r"EOF inside string starting at row (\d+)", message)
    if unclosed:  # pandas counts rows from 0 and a quoted field spanning lines as one row
        line = int(unclosed.group(1)) + 1
        return ValueError(f"interaction log {str(path)!r} has a quote (\") opened near line {line} that is never "
                          "closed, so the rest of the file would read as one field; fix the quoting of that row "
                          "(a quote inside a field is written \"\") or set data.sep if the separator is wrong")
    return ValueError(f"interaction log {str(path)!r} cannot be split into fields ({message}); check the quoting "
                      "and data.sep")


# longest first: UTF-32 LE's mark starts with UTF-16 LE's
BYTE_ORDER_MARKS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
                    (codecs.BOM_UTF16_BE, "utf-16"))  # fmt: skip


def _decode_error(path: Path, encoding: str, err: UnicodeDecodeError) -> ValueError:
    raw = path.read_bytes()
    try:  # pandas reports the offset inside its read buffer; find the first bad byte in the file itself
        raw.decode(encoding)
        start = err.start
    except UnicodeDecodeError as exact:
        start = exact.start
    line = raw[:start].count(b"\n") + 1
    where = f"interaction log {str(path)!r} is not {encoding} text: byte {start} (line {line}) is {raw[start:start + 1]!r}"
    for bom, name in BYTE_ORDER_MARKS:  # the file says what it is: no guess to offer
        if raw.startswith(bom):
            return ValueError(f"{where}; it starts with the byte-order mark of {name} (Excel's \"Unicode text\" is "
                              f"utf-16): set data.encoding: {name}")
    if raw.startswith(b"PK\x03\x04"):
        return ValueError(f"{where}; it is a zip archive — a spreadsheet (.xlsx, .ods) or a zipped CSV: export the "
                          "sheet as CSV, or give a zipped CSV a name ending in .zip")
    return ValueError(f"{where}; set data.encoding to the file's encoding (e.g. latin-1 or cp1252)")


def _id_strings(column: pd.Series) -> pd.Series:
    """Ids as strings. A float column of whole numbers (ints with a NaN, or written by a float-typed tool) becomes
    '0', '1' as the same ids read from a CSV do, not '0.0', '1.0' that match no bundle item; NaN stays missing."""
    if pd.api.types.is_float_dtype(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        present = values[~np.isnan(values)]
        if len(present) and (np.abs(present) < 2**63).all() and (present == np.floor(present)).all():
            column = column.astype("Int64")
    return column.astype("string")


def _check_columns(needed: list[str], available: list[str], path: Path, sep: str | None = None) -> None:
    missing = [c for c in needed if c not in available]
    if missing:
        hint = f" (read with separator {sep!r}; set data.sep if that is wrong)" if sep is not None else ""
        raise ValueError(
            f"interaction log {str(path)!r} is missing column(s) {missing}; its columns are {available}{hint}. "
            "Map yours with data.columns: {user: ..., item: ..., time: ..., weight: ..., rating: ...} or a preset."
        )


SQLITE_BUSY_TIMEOUT_S = 5.0  # how long a read waits for a writer's lock (the Space writes one rating at a time)


def _read_sqlite(path: Path, table: str, needed: list[str]) -> pd.DataFrame:
    # Read-only URI: evaluation must never lock or modify the live ratings database of a running Space.
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=SQLITE_BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise ValueError(f"cannot open ratings database {str(path)!r} read-only: {exc}") from exc
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        if table not in tables:
            raise ValueError(f"ratings database {str(path)!r} has no table {table!r}; its tables are {tables}")
        available = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
        _check_columns(needed, available, path)
        cols = ", ".join(f'"{c}"' for c in needed)
        frame = pd.read_sql_query(f'SELECT {cols} FROM "{table}"', conn)
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:  # pandas wraps errors of its own queries
        if "database is locked" in str(exc):
            copy = path.with_name(f"{path.stem}-copy{path.suffix or '.sqlite'}")
            raise ValueError(
                f"ratings database {str(path)!r} is locked by another process (e.g. the running Space writing to it); "
                f"retry in a moment, or copy it with sqlite3 {str(path)!r} \".backup '{copy}'\" and set data.path to "
                "the copy"
            ) from exc  # fmt: skip
        raise ValueError(f"{str(path)!r} is not a readable SQLite ratings database: {exc}") from exc
    finally:
        conn.close()
    if len(frame) == 0:
        raise ValueError(f"ratings database {str(path)!r} table {table!r} has no rows; it is empty")
    for col in needed[:2]:
        frame[col] = _id_strings(frame[col])
    return frame
