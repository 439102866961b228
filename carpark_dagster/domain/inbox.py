"""Gate-event files (`.csv`, `.jsonl`) from outside, read safely and in chunks.

`read_gate_file` streams a file in the event contract (docs/events-and-sessions.md, "Gate
event files") as `FileChunk`s of at most `InboxRules.chunk_rows` records: the events that pass
every rule and the records that do not, each with its line number and a fixed reason. A
problem with the file as a whole raises `FileRefused` with a fixed one-line reason, possibly
after chunks were yielded (invalid UTF-8 deep in a big file): a caller loads a file in one
transaction and rolls it back on `FileRefused`. No reason ever quotes the file's content.

Memory stays bounded whatever the file: lines are read one at a time, a line longer than
`max_line_chars` is read past in pieces and rejected, and a chunk is handed over after
`chunk_rows` records or `_CHUNK_CHARS` characters of input, whichever comes first.

What "line" means: the 1-based physical line of the file where the record starts (lines end
with LF, CRLF or CR; a CSV record with a quoted line break spans several lines and is numbered
by its first). The CSV header is line 1 when the file does not start with blank lines.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from carpark_dagster.domain.events import EVENT_COLUMNS, EVENT_TYPES, parse_event_times
from carpark_dagster.domain.plates import validate_plates
from carpark_dagster.domain.sessions import FUTURE_TOLERANCE, IN_THE_FUTURE
from carpark_dagster.domain.ticks import MALFORMED_PLATE, UNKNOWN_LOCATION

CSV_SUFFIXES = frozenset({".csv"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
# What the inbox takes (str.endswith wants a tuple).
GATE_FILE_SUFFIXES = tuple(sorted(CSV_SUFFIXES | JSONL_SUFFIXES))
REJECTED_COLUMNS = ["line", "reason", "record"]
RAW_TEXT_CHARS = 1000  # a rejected record keeps at most this much of each value / line
_CHUNK_CHARS = 16 << 20  # a chunk is handed over after this much input, whatever its rows
_SNIFF_BYTES = 8192
_EVENT_TYPES = frozenset(EVENT_TYPES)

# Whole-file refusals: fixed texts (the two functions below only name our own columns).
UNSUPPORTED_TYPE = "unsupported file type (gate event files are .csv or .jsonl)"
TOO_LARGE = "file larger than the size limit"
EMPTY_FILE = "empty file"
BINARY_FILE = "binary file, not text"
NOT_UTF8 = "not UTF-8 text"
UNREADABLE_HEADER = "unreadable CSV header"
HEADER_ONLY = "header only, no records"
NO_JSON_OBJECTS = "no JSON object lines"

# Record-level reasons, in the order they are tried (the first that applies is given).
LINE_TOO_LONG = "line too long"
MALFORMED_CSV = "malformed CSV record"
WRONG_FIELD_COUNT = "wrong number of fields"
NOT_JSON = "not JSON"
NOT_AN_OBJECT = "not a JSON object"
UNKNOWN_EVENT_TYPE = "unknown event_type"
UNREADABLE_TIME = "unreadable event_time"

# Signatures of binary formats a gate-event file is most often mistaken for.
_BINARY_SIGNATURES = (
    b"\x1f\x8b",  # gzip
    b"PK\x03\x04",  # zip, xlsx, docx
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",  # JPEG
    b"GIF87a",
    b"GIF89a",
    b"%PDF-",
    b"BZh91AY&SY",  # bzip2
    b"\xfd7zXZ\x00",  # xz
    b"\x28\xb5\x2f\xfd",  # zstandard
    b"7z\xbc\xaf\x27\x1c",
    b"PAR1",  # parquet
    b"SQLite format 3\x00",
)
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


def missing_columns(columns: list[str]) -> str:
    return "missing required columns: " + ", ".join(columns)


def duplicated_column(column: str) -> str:
    return f"duplicated column: {column}"


def missing_value(column: str) -> str:
    return f"missing {column}"


def too_long(column: str) -> str:
    return f"{column} too long"


def control_character(column: str) -> str:
    return f"control character in {column}"


def not_text(column: str) -> str:
    return f"{column} is not text"


@dataclass(frozen=True)
class InboxRules:
    """The limits of a gate-event file and its records (docs/events-and-sessions.md).

    - `max_file_bytes`: bigger files are refused (default 2 GiB).
    - `max_field_chars`: the longest `event_id`, `plate`, `location_id`, `event_type` or
      `event_time` accepted, after trimming (default 64; plates are also held to the plate
      rule's 16 characters).
    - `future_tolerance`: an `event_time` later than `now` plus this is quarantined (default the
      15 minutes a tick allows, `sessions.FUTURE_TOLERANCE`: gate clocks drift a little).
    - `chunk_rows`: records per yielded chunk (bounded memory).
    - `known_locations`: None accepts any location id.
    - `max_line_chars`: a longer physical line is rejected unread (default 64 Ki characters).
    """

    max_file_bytes: int = 1 << 31
    max_field_chars: int = 64
    future_tolerance: timedelta = FUTURE_TOLERANCE
    chunk_rows: int = 50_000
    known_locations: frozenset[str] | None = None
    max_line_chars: int = 1 << 16

    def __post_init__(self):
        for name in ("max_file_bytes", "max_field_chars", "chunk_rows", "max_line_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.future_tolerance < timedelta(0):
            raise ValueError("future_tolerance must not be negative")


class FileRefused(ValueError):
    """The whole file is refused; `reason` is one line, a fixed text that never quotes file
    content."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FileChunk:
    """Records of one part of a file, in line order within each frame.

    `events`: EVENT_COLUMNS (`event_time` UTC) and `line`. `rejected`: `line`, `reason` (a fixed
    text) and `record` (a dict of text: the record's five fields as read and trimmed, or
    `{"raw": ...}` for a line that is not a record, `{}` for a line not kept (too long, or a
    malformed CSV record); values cut to RAW_TEXT_CHARS, characters that are not printable
    written as escapes such as `\\x00`, so the record can be stored)."""

    events: pd.DataFrame
    rejected: pd.DataFrame


def content_digest(path: Path) -> str:
    """The SHA-256 of the file's bytes, as hex, read in blocks."""
    with Path(path).open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def read_gate_file(path: Path, rules: InboxRules, now: datetime) -> Iterator[FileChunk]:
    """Streams a .csv or .jsonl file in chunks. Raises FileRefused for file-level problems; it
    may raise it AFTER yielding chunks (e.g. invalid UTF-8 found deep in a 1 GB file), so the
    caller loads a file in one transaction and rolls back on FileRefused.

    `now` (timezone-aware) is the reading time the future tolerance counts from. An OSError
    (the file vanished, no permission) is not a refusal and propagates."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES | JSONL_SUFFIXES:
        raise FileRefused(UNSUPPORTED_TYPE)
    latest = pd.Timestamp(now).tz_convert("UTC") + rules.future_tolerance
    with path.open("rb") as raw:
        size = _check_head(raw, rules)
        if size == 0:
            raise FileRefused(EMPTY_FILE)
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline=None)
        lines = _Lines(text, rules.max_line_chars)
        records = _csv_records(lines) if suffix in CSV_SUFFIXES else _jsonl_records(lines)
        try:
            for batch in _batched(records, lines, rules):
                yield _finish(batch, rules, latest)
        except UnicodeDecodeError:
            raise FileRefused(NOT_UTF8) from None


def _check_head(raw: IO[bytes], rules: InboxRules) -> int:
    """The file's size, after refusing what its size and first bytes already tell."""
    size = raw.seek(0, io.SEEK_END)
    if size > rules.max_file_bytes:
        raise FileRefused(TOO_LARGE)
    raw.seek(0)
    head = raw.read(_SNIFF_BYTES)
    raw.seek(0)
    if head.startswith(_UTF16_32_BOMS):
        raise FileRefused(NOT_UTF8)
    first_line = head.split(b"\n", 1)[0].split(b"\r", 1)[0]
    if head.startswith(_BINARY_SIGNATURES) or b"\x00" in first_line:
        raise FileRefused(BINARY_FILE)
    return size


class _LineTooLong(Exception):
    def __init__(self, line: int):
        self.line = line


class _Lines:
    """The physical lines of a text stream (universal newlines), numbered from 1 in `number`.

    A line longer than `limit` characters is read past in pieces, never held whole, and
    reported by raising `_LineTooLong` (iteration can go on after it). `chars` counts the
    characters returned so far."""

    def __init__(self, stream: io.TextIOBase, limit: int):
        self._readline = stream.readline
        self._limit = limit
        self.number = 0
        self.chars = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._readline(self._limit + 1)
        if not line:
            raise StopIteration
        self.number += 1
        if len(line) > self._limit and line[-1] != "\n":
            while line and line[-1] != "\n":
                line = self._readline(self._limit)
            raise _LineTooLong(self.number)
        self.chars += len(line)
        return line


class _Batch:
    """Records gathered for one chunk: candidate rows (five texts each, EVENT_COLUMNS order)
    with their lines, and records already rejected while parsing."""

    def __init__(self):
        self.lines: list[int] = []
        self.rows: list[tuple[str, ...]] = []
        self.rejected: list[tuple[int, str, dict]] = []


# A record as parsed: its line, then either its five texts and None, None, or None and why
# it was rejected with what it held.
_Record = tuple[int, tuple[str, ...] | None, str | None, dict | None]


def _batched(records: Iterator[_Record], lines: _Lines, rules: InboxRules) -> Iterator[_Batch]:
    """Groups records into batches of `chunk_rows`, or fewer once `_CHUNK_CHARS` characters
    of input have gone into one."""
    batch, size, until = _Batch(), 0, lines.chars + _CHUNK_CHARS
    for line, values, reason, record in records:
        if values is not None:
            batch.lines.append(line)
            batch.rows.append(values)
        else:
            batch.rejected.append((line, reason, record))
        size += 1
        if size >= rules.chunk_rows or lines.chars >= until:
            yield batch
            batch, size, until = _Batch(), 0, lines.chars + _CHUNK_CHARS
    if size:
        yield batch


def _csv_records(lines: _Lines) -> Iterator[_Record]:
    """CSV (the `csv` module's dialect: comma, double quotes): a header naming at least the five
    columns (trimmed, any case; others ignored), then one record per row."""
    reader = csv.reader(lines)
    header = _csv_header(reader)
    width = len(header)
    names = [name.strip().lower() for name in header]
    for column in EVENT_COLUMNS:
        if names.count(column) > 1:
            raise FileRefused(duplicated_column(column))
    absent = [column for column in EVENT_COLUMNS if column not in names]
    if absent:
        raise FileRefused(missing_columns(absent))
    pick = itemgetter(*(names.index(column) for column in EVENT_COLUMNS))

    records = 0
    start = lines.number + 1  # the first physical line of the next record
    while True:
        try:
            for row in reader:
                line, start = start, lines.number + 1
                if len(row) == width:
                    yield line, pick(row), None, None
                elif not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line
                else:
                    yield line, None, WRONG_FIELD_COUNT, {"raw": _raw(",".join(row))}
                records += 1
            break
        except (_LineTooLong, csv.Error) as problem:
            reason = LINE_TOO_LONG if isinstance(problem, _LineTooLong) else MALFORMED_CSV
            yield start, None, reason, {}
            records += 1
            start = lines.number + 1
            reader = csv.reader(lines)  # a fresh parser: no quote left open
    if records == 0:
        raise FileRefused(HEADER_ONLY)


def _csv_header(reader) -> list[str]:
    try:
        for row in reader:
            if row and not (len(row) == 1 and not row[0].strip()):
                return row
    except (_LineTooLong, csv.Error):
        raise FileRefused(UNREADABLE_HEADER) from None
    raise FileRefused(EMPTY_FILE)


def _jsonl_records(lines: _Lines) -> Iterator[_Record]:
    """JSON Lines: one JSON object per line, blank lines skipped. Keys are matched exactly
    (others ignored); a string or an integer is text (an integer as its digits), null or an
    absent key is a missing value, anything else is not text."""
    records = objects = 0
    while True:
        try:
            for text in lines:
                text = text.strip()
                if not text:
                    continue
                records += 1
                try:
                    record = json.loads(text)
                except (ValueError, RecursionError):
                    yield lines.number, None, NOT_JSON, {"raw": _raw(text)}
                    continue
                if type(record) is dict:
                    objects += 1
                    yield _json_record(lines.number, record)
                else:
                    yield lines.number, None, NOT_AN_OBJECT, {"raw": _raw(text)}
            break
        except _LineTooLong as problem:
            records += 1
            yield problem.line, None, LINE_TOO_LONG, {}
    if records == 0:
        raise FileRefused(EMPTY_FILE)
    if objects == 0:
        raise FileRefused(NO_JSON_OBJECTS)


_PICK_FIELDS = itemgetter(*EVENT_COLUMNS)
_ONLY_TEXT = {str}


def _json_record(line: int, record: dict) -> _Record:
    try:
        values = _PICK_FIELDS(record)
    except KeyError:
        pass
    else:
        if set(map(type, values)) == _ONLY_TEXT:  # the common case, without a loop here
            return line, values, None, None
    row = []
    for column in EVENT_COLUMNS:
        value = record.get(column)
        kind = type(value)
        if kind is str:
            row.append(value)
        elif value is None:
            row.append("")
        elif kind is int:
            row.append(str(value))
        else:
            fields = {c: _raw(_json_text(record[c])) for c in EVENT_COLUMNS if c in record}
            return line, None, not_text(column), fields
    return line, tuple(row), None, None


def _json_text(value) -> str:
    if type(value) is str:
        return value
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def _finish(batch: _Batch, rules: InboxRules, latest: pd.Timestamp) -> FileChunk:
    """Checks a batch's candidate rows into a chunk: its events and all its rejected records."""
    count = len(batch.rows)
    table = np.array(batch.rows, dtype=object).reshape(count, len(EVENT_COLUMNS))
    columns = {
        column: np.array([value.strip() for value in table[:, number]], dtype=object)
        for number, column in enumerate(EVENT_COLUMNS)
    }
    reasons, times = _check(columns, rules, latest)
    ok = reasons == None  # noqa: E711 - element-wise
    lines = np.array(batch.lines, dtype=np.int64)
    events = pd.DataFrame(
        {column: pd.Series(columns[column][ok], dtype="str") for column in EVENT_COLUMNS[:-1]}
    )
    events["event_time"] = times[ok]
    events["line"] = lines[ok]
    rejected = batch.rejected + [
        (int(lines[i]), reasons[i], {c: _raw(columns[c][i]) for c in EVENT_COLUMNS})
        for i in np.flatnonzero(~ok)
    ]
    rejected.sort(key=itemgetter(0))
    return FileChunk(events=events, rejected=_rejected_frame(rejected))


def _check(
    columns: dict[str, np.ndarray], rules: InboxRules, latest: pd.Timestamp
) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Each row's reason to be rejected (None: none; the first that applies, in the order of
    the docs) and its time. Every check is vectorised over a column, with a fast path for
    the usual column where every value passes."""
    count = len(columns["event_id"])
    reasons = np.full(count, None, dtype=object)
    pending = np.ones(count, dtype=bool)

    def reject(bad: np.ndarray, reason: str) -> None:
        bad &= pending
        reasons[bad] = reason
        pending[bad] = False

    for column in EVENT_COLUMNS:
        if not all(columns[column]):
            reject(columns[column] == "", missing_value(column))
    for column in EVENT_COLUMNS:
        if max(map(len, columns[column]), default=0) > rules.max_field_chars:
            lengths = np.fromiter(map(len, columns[column]), dtype=np.int64, count=count)
            reject(lengths > rules.max_field_chars, too_long(column))
    for column in EVENT_COLUMNS:
        if not "".join(columns[column]).isprintable():
            reject(~_each(str.isprintable, columns[column]), control_character(column))
    reject(~_each(_EVENT_TYPES.__contains__, columns["event_type"]), UNKNOWN_EVENT_TYPE)
    times = _times_at(columns["event_time"], pending.copy())
    reject(times.isna(), UNREADABLE_TIME)
    reject(times > latest, IN_THE_FUTURE)  # NaT compares False
    if rules.known_locations is not None:
        known = _each(rules.known_locations.__contains__, columns["location_id"])
        reject(~known, UNKNOWN_LOCATION)
    reject(~validate_plates(columns["plate"], "any"), MALFORMED_PLATE)
    return reasons, times


def _each(test, values: np.ndarray) -> np.ndarray:
    return np.fromiter(map(test, values), dtype=bool, count=len(values))


def _times_at(texts: np.ndarray, rows: np.ndarray) -> pd.DatetimeIndex:
    """`parse_event_times` of the rows selected, NaT elsewhere."""
    times = np.full(len(texts), np.datetime64("NaT", "ns"))
    times[rows] = parse_event_times(texts[rows]).tz_convert(None).to_numpy()
    return pd.DatetimeIndex(times).tz_localize("UTC")


def _rejected_frame(rejected: list[tuple[int, str, dict]]) -> pd.DataFrame:
    lines, reasons, records = zip(*rejected, strict=True) if rejected else ((), (), ())
    return pd.DataFrame(
        {
            "line": np.array(lines, dtype=np.int64),
            "reason": pd.Series(reasons, dtype=object),
            "record": pd.Series(records, dtype=object),
        }
    )


def _raw(text: str) -> str:
    """At most RAW_TEXT_CHARS of `text`, with what is not printable escaped (`\\x00`, `\\n`)."""
    text = text[:RAW_TEXT_CHARS]
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
