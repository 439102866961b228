"""Reading gate-event files: a corpus of good and bad files with the outcome each must have,
the details of what a rejected record keeps, streaming, and properties over any file."""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carpark_dagster.domain import inbox
from carpark_dagster.domain.events import EVENT_COLUMNS
from carpark_dagster.domain.inbox import (
    BINARY_FILE,
    EMPTY_FILE,
    HEADER_ONLY,
    LINE_TOO_LONG,
    NO_JSON_OBJECTS,
    NOT_AN_OBJECT,
    NOT_JSON,
    NOT_UTF8,
    RAW_TEXT_CHARS,
    REJECTED_COLUMNS,
    TOO_LARGE,
    UNKNOWN_EVENT_TYPE,
    UNREADABLE_HEADER,
    UNREADABLE_TIME,
    UNSUPPORTED_TYPE,
    WRONG_FIELD_COUNT,
    FileRefused,
    InboxRules,
    content_digest,
    read_gate_file,
)
from carpark_dagster.domain.sessions import IN_THE_FUTURE
from carpark_dagster.domain.ticks import MALFORMED_PLATE, UNKNOWN_LOCATION

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LOCATIONS = frozenset(f"Park{n}" for n in range(6))
RULES = InboxRules(known_locations=LOCATIONS)
HEADER = ",".join(EVENT_COLUMNS)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"


def record(n: int, **fields) -> dict:
    """A valid record's fields unless `fields` say otherwise."""
    return {
        "event_id": f"gate-{n:04d}",
        "plate": "SBS3229P",
        "location_id": "Park0",
        "event_type": "entry",
        "event_time": "2026-11-28T09:15:00+08:00",
        **fields,
    }


def row(n: int = 1, **fields: str) -> str:
    """A CSV record (EVENT_COLUMNS order)."""
    return ",".join(record(n, **fields)[c] for c in EVENT_COLUMNS)


def obj(n: int = 1, **fields) -> str:
    """A JSON Lines record (None: the key is left out)."""
    return json.dumps({k: v for k, v in record(n, **fields).items() if v is not None})


def csv_text(*rows: str, header: str = HEADER, end: str = "\n") -> bytes:
    return "".join(line + end for line in (header, *rows)).encode()


def jsonl_text(*lines: str, end: str = "\n") -> bytes:
    return "".join(line + end for line in lines).encode()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


def zipped(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("events.csv", data)
    return out.getvalue()


@dataclass(frozen=True)
class Loaded:
    events: int
    rejected: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class Refused:
    reason: str


LONG_PLATE = "X" * 17
LONG_ID = "g" * 65
FUTURE = (NOW + timedelta(minutes=16)).isoformat()
NEAR_FUTURE = (NOW + timedelta(minutes=14)).isoformat()

# (kind, file suffix, file bytes, expected outcome with RULES)
CORPUS = [
    # Good files, in the shapes they come in.
    ("good csv", ".csv", csv_text(row(1), row(2), row(3)), Loaded(3)),
    ("good jsonl", ".jsonl", jsonl_text(obj(1), obj(2), obj(3)), Loaded(3)),
    ("ndjson suffix", ".ndjson", jsonl_text(obj(1)), Loaded(1)),
    ("upper-case suffix", ".CSV", csv_text(row(1)), Loaded(1)),
    ("csv with CRLF", ".csv", csv_text(row(1), row(2), end="\r\n"), Loaded(2)),
    (
        "csv with CR only",
        ".csv",
        csv_text(row(1), "x", row(2), end="\r"),
        Loaded(2, ((3, WRONG_FIELD_COUNT),)),
    ),
    (
        "NUL in a record of a CR-only file",
        ".csv",
        csv_text(row(1), row(2, event_id="g\x00"), end="\r"),
        Loaded(1, ((3, "control character in event_id"),)),
    ),
    ("csv with BOM", ".csv", b"\xef\xbb\xbf" + csv_text(row(1), end="\r\n"), Loaded(1)),
    (
        "jsonl with BOM and CRLF",
        ".jsonl",
        b"\xef\xbb\xbf" + jsonl_text(obj(1), obj(2), end="\r\n"),
        Loaded(2),
    ),
    ("no final newline", ".csv", csv_text(row(1), row(2))[:-1], Loaded(2)),
    (
        "extra columns in another order",
        ".csv",
        csv_text(
            "note,Park0,entry,gate-1,2026-11-28 09:15,SBS3229P,x",
            header="note,location_id,event_type,event_id,event_time,plate,other",
        ),
        Loaded(1),
    ),
    (
        "quoted commas and quotes",
        ".csv",
        csv_text(
            'gate-1,"YPN 7552","Park0",entry,2026-11-28T09:15:00Z,"a, ""b"""',
            header=HEADER + ",note",
        ),
        Loaded(1),
    ),
    (
        "header in another case with spaces",
        ".csv",
        csv_text(row(1), header=" Event_ID ,PLATE, location_id,Event_Type ,EVENT_TIME"),
        Loaded(1),
    ),
    (
        "values with spaces around",
        ".csv",
        csv_text(" gate-1 ,\tSBS3229P , Park0,entry , 2026-11-28 09:15:00"),
        Loaded(1),
    ),
    (
        "text that looks like NA is text",
        ".csv",
        csv_text(row(1, plate="NA"), row(2, plate="null")),
        Loaded(2),
    ),
    (
        "blank lines are skipped",
        ".csv",
        csv_text("", row(1), "   ", row(2, event_type="leave"), ""),
        Loaded(1, ((5, UNKNOWN_EVENT_TYPE),)),
    ),
    (
        "blank lines in jsonl",
        ".jsonl",
        jsonl_text("", obj(1), "  ", obj(2, event_type="leave")),
        Loaded(1, ((4, UNKNOWN_EVENT_TYPE),)),
    ),
    ("time 14 minutes ahead is fine", ".csv", csv_text(row(1, event_time=NEAR_FUTURE)), Loaded(1)),
    # Record-level problems: the record is rejected with its line, the rest is loaded.
    (
        "unreadable time",
        ".csv",
        csv_text(row(1), row(2, event_time="tomorrow"), row(3, event_time="28/11/2026 09:15:00")),
        Loaded(1, ((3, UNREADABLE_TIME), (4, UNREADABLE_TIME))),
    ),
    (
        "time out of range",
        ".csv",
        csv_text(row(1, event_time="0001-01-01T00:00:00"), row(2, event_time="1981-12-31 23:45")),
        Loaded(0, ((2, UNREADABLE_TIME), (3, UNREADABLE_TIME))),
    ),
    (
        "time in the future",
        ".jsonl",
        jsonl_text(obj(1), obj(2, event_time=FUTURE)),
        Loaded(1, ((2, IN_THE_FUTURE),)),
    ),
    (
        "unknown event_type",
        ".csv",
        csv_text(row(1, event_type="leave"), row(2, event_type="ENTRY"), row(3)),
        Loaded(1, ((2, UNKNOWN_EVENT_TYPE), (3, UNKNOWN_EVENT_TYPE))),
    ),
    (
        "missing value",
        ".csv",
        csv_text(row(1, plate=""), row(2, event_id="  "), row(3)),
        Loaded(1, ((2, "missing plate"), (3, "missing event_id"))),
    ),
    ("only commas", ".csv", csv_text(",,,,", row(2)), Loaded(1, ((2, "missing event_id"),))),
    (
        "null and absent keys",
        ".jsonl",
        jsonl_text(obj(1, plate=None), obj(2, location_id=None), obj(3, event_time="")),
        Loaded(0, ((1, "missing plate"), (2, "missing location_id"), (3, "missing event_time"))),
    ),
    (
        "explicit null",
        ".jsonl",
        jsonl_text(
            obj(1).replace('"SBS3229P"', "null"),
            obj(2),
        ),
        Loaded(1, ((1, "missing plate"),)),
    ),
    (
        "unknown location",
        ".csv",
        csv_text(row(1, location_id="Park9"), row(2)),
        Loaded(1, ((2, UNKNOWN_LOCATION),)),
    ),
    (
        "malformed plate",
        ".csv",
        csv_text(row(1, plate=LONG_PLATE), row(2, plate="6-SLM26"), row(3, plate="YPN 7552")),
        Loaded(2, ((2, MALFORMED_PLATE),)),
    ),
    (
        "field over the limit",
        ".csv",
        csv_text(row(1, event_id=LONG_ID), row(2, plate="P" * 40_000)),
        Loaded(0, ((2, "event_id too long"), (3, "plate too long"))),
    ),
    (
        "NUL in a field",
        ".csv",
        csv_text(row(1, event_id="gate\x00-1"), row(2)),
        Loaded(1, ((2, "control character in event_id"),)),
    ),
    (
        "control characters",
        ".csv",
        csv_text(
            row(1, plate="SBS\u202e3229P"), row(2, location_id="Pa\tk0"), row(3, plate="SB\x7fS")
        ),
        Loaded(
            0,
            (
                (2, "control character in plate"),
                (3, "control character in location_id"),
                (4, "control character in plate"),
            ),
        ),
    ),
    (
        "escaped NUL and lone surrogate in jsonl",
        ".jsonl",
        jsonl_text(obj(1, plate="SBS\u00003229P"), obj(2, event_id="\ud800"), obj(3)),
        Loaded(1, ((1, "control character in plate"), (2, "control character in event_id"))),
    ),
    (
        "wrong number of fields",
        ".csv",
        csv_text(row(1) + ",extra", "gate-2,SBS3229P,Park0,entry", row(3)),
        Loaded(1, ((2, WRONG_FIELD_COUNT), (3, WRONG_FIELD_COUNT))),
    ),
    (
        "quoted line break",
        ".csv",
        csv_text(row(1) + ',"two\nlines"', row(3) + ",x", header=HEADER + ",note"),
        Loaded(2),
    ),
    (
        "unclosed quote swallows the rest",
        ".csv",
        csv_text(row(1), 'gate-2,"SBS3229P,Park0,entry,2026-11-28', row(3), row(4)),
        Loaded(1, ((3, WRONG_FIELD_COUNT),)),
    ),
    (
        "huge single line",
        ".csv",
        csv_text(row(1), row(2, plate="P" * 100_000), row(3)),
        Loaded(2, ((3, LINE_TOO_LONG),)),
    ),
    (
        "huge line inside a quoted field",
        ".csv",
        csv_text(row(1), 'gate-2,"SBS', "P" * 70_000 + '",Park0,entry,2026-11-28', row(4)),
        Loaded(2, ((3, LINE_TOO_LONG),)),
    ),
    (
        "raw NUL inside a JSON line",
        ".jsonl",
        jsonl_text(obj(1), obj(2).replace("SBS3229P", "SBS\x003229P"), obj(3)),
        Loaded(2, ((2, NOT_JSON),)),
    ),
    (
        "huge single jsonl line",
        ".jsonl",
        jsonl_text(obj(1), obj(2, plate="P" * 100_000), obj(3)),
        Loaded(2, ((2, LINE_TOO_LONG),)),
    ),
    (
        "one broken jsonl line in the middle",
        ".jsonl",
        jsonl_text(obj(1), obj(2)[:-7], obj(3)),
        Loaded(2, ((2, NOT_JSON),)),
    ),
    (
        "jsonl lines that are not objects",
        ".jsonl",
        jsonl_text(obj(1), "[1, 2]", '"text"', "42", "null"),
        Loaded(1, ((2, NOT_AN_OBJECT), (3, NOT_AN_OBJECT), (4, NOT_AN_OBJECT), (5, NOT_AN_OBJECT))),
    ),
    (
        "integers are text in jsonl",
        ".jsonl",
        jsonl_text(obj(1, plate=1234), obj(2, event_id=17)),
        Loaded(2),
    ),
    (
        "other values are not text",
        ".jsonl",
        jsonl_text(
            obj(1, plate=12.5),
            obj(2, plate=True),
            obj(3, location_id=["Park0"]),
            obj(4, event_time={"t": 1}),
            obj(5, event_time=1764300000),
        ),
        Loaded(
            0,
            (
                (1, "plate is not text"),
                (2, "plate is not text"),
                (3, "location_id is not text"),
                (4, "event_time is not text"),
                (5, UNREADABLE_TIME),
            ),
        ),
    ),
    (
        "deeply nested jsonl line",
        ".jsonl",
        jsonl_text(obj(1), "[" * 50_000),
        Loaded(1, ((2, NOT_JSON),)),
    ),
    (
        "integer too long for Python",
        ".jsonl",
        jsonl_text(obj(1), '{"plate": ' + "9" * 5000 + "}"),
        Loaded(1, ((2, NOT_JSON),)),
    ),
    (
        "duplicated key: the last counts",
        ".jsonl",
        jsonl_text(obj(1)[:-1] + ', "plate": "6-SLM26"}'),
        Loaded(1),
    ),
    (
        "duplicated extra column",
        ".csv",
        csv_text(row(1) + ",a,b", header=HEADER + ",note,note"),
        Loaded(1),
    ),
    # File-level problems: nothing of the file is loaded.
    ("empty csv", ".csv", b"", Refused(EMPTY_FILE)),
    ("empty jsonl", ".jsonl", b"", Refused(EMPTY_FILE)),
    ("only blank lines", ".csv", b"\r\n  \r\n\r\n", Refused(EMPTY_FILE)),
    ("only a BOM", ".jsonl", b"\xef\xbb\xbf", Refused(EMPTY_FILE)),
    ("jsonl of blank lines", ".jsonl", b"\n\n \n", Refused(EMPTY_FILE)),
    ("header only", ".csv", csv_text(), Refused(HEADER_ONLY)),
    ("header and blank lines", ".csv", csv_text("", "  ", end="\r\n"), Refused(HEADER_ONLY)),
    (
        "missing required column",
        ".csv",
        csv_text(
            "gate-1,SBS3229P,Park0,2026-11-28", header="event_id,plate,location_id,event_time"
        ),
        Refused("missing required columns: event_type"),
    ),
    (
        "no header",
        ".csv",
        csv_text(row(2), header=row(1)),
        Refused("missing required columns: " + ", ".join(EVENT_COLUMNS)),
    ),
    (
        "semicolons",
        ".csv",
        csv_text(row(1).replace(",", ";"), header=HEADER.replace(",", ";")),
        Refused("missing required columns: " + ", ".join(EVENT_COLUMNS)),
    ),
    (
        "duplicated column",
        ".csv",
        csv_text(row(1) + ",X", header=HEADER + ",Plate"),
        Refused("duplicated column: plate"),
    ),
    (
        "unreadable header",
        ".csv",
        ("h" * 70_000 + "\n" + row(1) + "\n").encode(),
        Refused(UNREADABLE_HEADER),
    ),
    (
        "not UTF-8",
        ".csv",
        csv_text(row(1, plate="SBSé")).replace("é".encode(), "é".encode("latin-1")),
        Refused(NOT_UTF8),
    ),
    (
        "UTF-16 with BOM",
        ".csv",
        (HEADER + "\n" + row(1) + "\n").encode("utf-16"),
        Refused(NOT_UTF8),
    ),
    (
        "UTF-16 without BOM",
        ".csv",
        (HEADER + "\n" + row(1) + "\n").encode("utf-16-le"),
        Refused(BINARY_FILE),
    ),
    (
        "NUL in the CSV header",
        ".csv",
        csv_text(row(1), header="event_id\x00,plate"),
        Refused(BINARY_FILE),
    ),
    ("gzip bytes named .csv", ".csv", gzipped(csv_text(row(1))), Refused(BINARY_FILE)),
    ("zip (xlsx) named .csv", ".csv", zipped(csv_text(row(1))), Refused(BINARY_FILE)),
    ("PNG named .jsonl", ".jsonl", PNG, Refused(BINARY_FILE)),
    (
        "a JSON array instead of lines",
        ".jsonl",
        ("[" + ", ".join([obj(1), obj(2)]) + "]\n").encode(),
        Refused(NO_JSON_OBJECTS),
    ),
    (
        "a pretty-printed JSON array",
        ".jsonl",
        json.dumps([json.loads(obj(1))], indent=2).encode(),
        Refused(NO_JSON_OBJECTS),
    ),
    ("CSV named .jsonl", ".jsonl", csv_text(row(1)), Refused(NO_JSON_OBJECTS)),
    ("unsupported extension", ".xlsx", csv_text(row(1)), Refused(UNSUPPORTED_TYPE)),
    ("text file extension", ".txt", csv_text(row(1)), Refused(UNSUPPORTED_TYPE)),
]


def read_all(path: Path, rules: InboxRules = RULES, now: datetime = NOW):
    """Every chunk's events and rejected records, concatenated."""
    chunks = list(read_gate_file(path, rules, now))
    events = pd.concat([c.events for c in chunks], ignore_index=True) if chunks else None
    rejected = pd.concat([c.rejected for c in chunks], ignore_index=True) if chunks else None
    return events, rejected, chunks


def write(tmp_path: Path, suffix: str, data: bytes) -> Path:
    path = tmp_path / f"gate-events{suffix}"
    path.write_bytes(data)
    return path


def test_the_corpus_has_thirty_kinds_or_more():
    assert len(CORPUS) >= 30
    assert len({kind for kind, *_ in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize(
    ("suffix", "data", "expected"),
    [pytest.param(suffix, data, expected, id=kind) for kind, suffix, data, expected in CORPUS],
)
def test_corpus(suffix, data, expected, tmp_path):
    path = write(tmp_path, suffix, data)
    if isinstance(expected, Refused):
        with pytest.raises(FileRefused) as refused:
            read_all(path)
        assert refused.value.reason == expected.reason
        assert str(refused.value) == expected.reason
        return
    events, rejected, _ = read_all(path)
    assert list(events.columns) == [*EVENT_COLUMNS, "line"]
    assert list(rejected.columns) == REJECTED_COLUMNS
    assert len(events) == expected.events
    assert list(rejected[["line", "reason"]].itertuples(index=False, name=None)) == list(
        expected.rejected
    )
    assert set(events["line"]).isdisjoint(rejected["line"])


def test_refusals_never_quote_the_file():
    fixed = {v for k, v in vars(inbox).items() if k.isupper() and isinstance(v, str)}
    for _, _, _, expected in CORPUS:
        if isinstance(expected, Refused):
            assert expected.reason in fixed or expected.reason.startswith(
                ("missing required columns: ", "duplicated column: ")
            )


def test_events_are_typed_trimmed_and_in_utc(tmp_path):
    path = write(
        tmp_path,
        ".csv",
        csv_text(
            " gate-1 ,\tSBS3229P , Park0,entry , 2026-11-28 09:15:00",
            "gate-2,6-SLM26,Park4,exit,2026-11-28T01:15:00.123456Z",
            "gate-3,YPN 7552,Park5,exit,2026-11-28T09:15:00-05:30",
            end="\r\n",
        ),
    )
    events, rejected, _ = read_all(path)
    assert rejected.empty
    assert events["event_id"].tolist() == ["gate-1", "gate-2", "gate-3"]
    assert events["plate"].tolist() == ["SBS3229P", "6-SLM26", "YPN 7552"]
    assert events["line"].tolist() == [2, 3, 4]
    assert str(events["event_time"].dtype) == "datetime64[ns, UTC]"
    assert [t.isoformat() for t in events["event_time"]] == [
        "2026-11-28T01:15:00+00:00",  # naive: Singapore local time
        "2026-11-28T01:15:00.123456+00:00",
        "2026-11-28T14:45:00+00:00",
    ]


def test_chunks_have_the_same_columns_and_types_with_or_without_events(tmp_path):
    path = write(tmp_path, ".csv", csv_text("x", "y", row(3), row(4)))
    _, _, chunks = read_all(path, InboxRules(chunk_rows=2))
    assert [len(c.events) for c in chunks] == [0, 2]
    assert chunks[0].events.dtypes.to_dict() == chunks[1].events.dtypes.to_dict()
    assert chunks[0].rejected.dtypes.to_dict() == chunks[1].rejected.dtypes.to_dict()


def test_a_quoted_line_break_numbers_the_record_by_its_first_line(tmp_path):
    path = write(
        tmp_path,
        ".csv",
        csv_text(
            row(1) + ',"first\nsecond\nthird"',
            row(2, plate="") + ",x",
            'gate-3,"SBS\n3229P",Park0,entry,2026-11-28,y',
            row(4) + ",z",
            header=HEADER + ",note",
        ),
    )
    events, rejected, _ = read_all(path)
    assert events["line"].tolist() == [2, 8]
    assert rejected["line"].tolist() == [5, 6]
    assert rejected["reason"].tolist() == ["missing plate", "control character in plate"]
    assert rejected["record"].iloc[1]["plate"] == "SBS\\n3229P"


def test_a_rejected_record_keeps_its_fields_as_text_safe_to_store(tmp_path):
    path = write(
        tmp_path,
        ".jsonl",
        jsonl_text(
            obj(1, plate="SBS\u00003229P", note="ignored"),
            obj(2, plate=12.5),
            "x" * 5000,
            obj(4, event_id="g" * 5000),
        ),
    )
    _, rejected, _ = read_all(path)
    records = rejected["record"].tolist()
    assert records[0] == {
        "event_id": "gate-0001",
        "plate": "SBS\\x003229P",
        "location_id": "Park0",
        "event_type": "entry",
        "event_time": "2026-11-28T09:15:00+08:00",
    }
    assert records[1]["plate"] == "12.5"
    assert records[2] == {"raw": "x" * RAW_TEXT_CHARS}
    assert records[3]["event_id"] == "g" * RAW_TEXT_CHARS
    for record in records:
        assert all(isinstance(v, str) and v.isprintable() for v in record.values())


def test_a_csv_record_with_the_wrong_fields_keeps_them_as_one_raw_text(tmp_path):
    path = write(tmp_path, ".csv", csv_text("gate-1,SBS3229P,Park0,entry"))
    _, rejected, _ = read_all(path)
    assert rejected["record"].tolist() == [{"raw": "gate-1,SBS3229P,Park0,entry"}]


def test_any_location_is_accepted_without_a_list(tmp_path):
    path = write(tmp_path, ".csv", csv_text(row(1, location_id="Gate-7")))
    events, rejected, _ = read_all(path, InboxRules())
    assert events["location_id"].tolist() == ["Gate-7"]
    assert rejected.empty


def test_the_future_tolerance_counts_from_now(tmp_path):
    path = write(tmp_path, ".csv", csv_text(row(1, event_time=NOW.isoformat())))
    rules = InboxRules(future_tolerance=timedelta(0))
    assert len(read_all(path, rules, NOW)[0]) == 1
    assert read_all(path, rules, NOW - timedelta(microseconds=1))[1]["reason"].tolist() == [
        IN_THE_FUTURE
    ]
    with pytest.raises(ValueError, match="timezone-aware"):
        read_all(path, rules, NOW.replace(tzinfo=None))


def test_limits_are_configurable(tmp_path):
    path = write(tmp_path, ".csv", csv_text(row(1), row(2, event_id="g" * 30)))
    with pytest.raises(FileRefused, match=TOO_LARGE):
        read_all(path, InboxRules(max_file_bytes=100))
    _, rejected, _ = read_all(path, InboxRules(max_field_chars=26))
    assert rejected[["line", "reason"]].values.tolist() == [[3, "event_id too long"]]
    _, rejected, _ = read_all(path, InboxRules(max_line_chars=60))
    assert rejected[["line", "reason"]].values.tolist() == [[3, LINE_TOO_LONG]]


@pytest.mark.parametrize(
    "field", ["max_file_bytes", "max_field_chars", "chunk_rows", "max_line_chars"]
)
def test_limits_below_one_are_an_error(field):
    with pytest.raises(ValueError, match=f"{field} must be at least 1"):
        InboxRules(**{field: 0})
    with pytest.raises(ValueError, match="must not be negative"):
        InboxRules(future_tolerance=timedelta(seconds=-1))


def test_chunks_hold_at_most_chunk_rows_records_in_line_order(tmp_path):
    rows = [row(n, event_type="leave") if n % 3 == 0 else row(n) for n in range(1, 11)]
    path = write(tmp_path, ".csv", csv_text(*rows))
    events, rejected, chunks = read_all(path, InboxRules(chunk_rows=4))
    assert [len(c.events) + len(c.rejected) for c in chunks] == [4, 4, 2]
    assert events["line"].tolist() == [2, 3, 5, 6, 8, 9, 11]
    assert rejected["line"].tolist() == [4, 7, 10]


def test_invalid_utf8_deep_in_a_file_is_refused_after_chunks(tmp_path):
    rows = [row(n) for n in range(1, 20_001)]
    path = write(tmp_path, ".csv", csv_text(*rows) + b"gate-x,\xff\xfe,Park0,entry,2026-11-28\n")
    chunks = read_gate_file(path, InboxRules(chunk_rows=1000), NOW)
    seen = 0
    with pytest.raises(FileRefused) as refused:
        for chunk in chunks:
            seen += len(chunk.events)
    assert refused.value.reason == NOT_UTF8
    assert seen >= 1000  # the caller had chunks before the refusal: it must roll back


def test_content_digest_is_the_sha256_of_the_bytes(tmp_path):
    path = write(tmp_path, ".csv", b"abc")
    assert content_digest(path) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


# Streaming: the reader's peak memory does not grow with the file.

MEASURE = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from carpark_dagster.domain.inbox import InboxRules, read_gate_file

def status_kib(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))

with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # the peak (VmHWM) starts again from the resident set now
before = status_kib("VmRSS:")
chunks = read_gate_file(Path(sys.argv[1]), InboxRules(), datetime.now(UTC))
rows = sum(len(c.events) for c in chunks)
print(rows, before, status_kib("VmHWM:"))
"""


def peak_growth_mib(path: Path) -> tuple[int, float]:
    """Rows read, and the reading process's peak RSS over its RSS before reading (MiB)."""
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)], check=True, capture_output=True, text=True
    )
    rows, before, peak = (int(v) for v in out.stdout.split())
    return rows, (peak - before) / 1024


def write_big_csv(path: Path, megabytes: int) -> int:
    block = "".join(row(n) + "\r\n" for n in range(10_000)).encode()
    with path.open("wb") as out:
        out.write((HEADER + "\r\n").encode())
        for _ in range(megabytes * 1_000_000 // len(block)):
            out.write(block)
    return (megabytes * 1_000_000 // len(block)) * 10_000


def test_a_big_file_is_read_with_bounded_memory(tmp_path):
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    small_rows, big_rows = write_big_csv(small, 8), write_big_csv(big, 200)
    assert big.stat().st_size > 195_000_000
    rows, small_growth = peak_growth_mib(small)
    assert rows == small_rows
    rows, big_growth = peak_growth_mib(big)
    assert rows == big_rows
    # 25 times the data: the peak is that of one chunk either way, nowhere near the file.
    assert big_growth < small_growth + 40, (small_growth, big_growth)
    assert big_growth < 150


# Properties over any file.

PROPERTIES = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

FIELD_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=16
).filter(lambda s: s == s.strip() and s.isprintable())
OFFSETS = st.sampled_from(
    [None, UTC, timezone(timedelta(hours=8)), timezone(-timedelta(hours=5, minutes=30))]
)
EVENTS = st.lists(
    st.tuples(
        FIELD_TEXT,
        FIELD_TEXT,
        FIELD_TEXT,
        st.sampled_from(["entry", "exit"]),
        st.datetimes(datetime(2000, 1, 1), datetime(2026, 11, 30), timezones=OFFSETS),
    ),
    min_size=1,
    max_size=30,
)


def as_utc(moment: datetime) -> pd.Timestamp:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("Asia/Singapore"))
    return pd.Timestamp(moment).tz_convert("UTC")


def write_events(path: Path, events: list[tuple], ascii_json: bool) -> None:
    records = [dict(zip(EVENT_COLUMNS, (*e[:4], e[4].isoformat()), strict=True)) for e in events]
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, EVENT_COLUMNS)
            writer.writeheader()
            writer.writerows(records)
    else:
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=ascii_json) + "\n" for r in records),
            encoding="utf-8",
        )


@PROPERTIES
@given(
    events=EVENTS,
    suffix=st.sampled_from([".csv", ".jsonl"]),
    chunk_rows=st.integers(1, 7),
    ascii_json=st.booleans(),
)
def test_valid_events_read_back_exactly(events, suffix, chunk_rows, ascii_json, tmp_path):
    path = tmp_path / f"events{suffix}"
    write_events(path, events, ascii_json)
    got, rejected, _ = read_all(path, InboxRules(chunk_rows=chunk_rows), NOW)
    assert rejected.empty
    assert got["event_id"].tolist() == [e[0] for e in events]
    assert got["plate"].tolist() == [e[1] for e in events]
    assert got["location_id"].tolist() == [e[2] for e in events]
    assert got["event_type"].tolist() == [e[3] for e in events]
    assert got["event_time"].tolist() == [as_utc(e[4]) for e in events]
    first = 2 if suffix == ".csv" else 1
    assert got["line"].tolist() == list(range(first, first + len(events)))


GARBAGE = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters='"\r\n'),
    max_size=40,
)
LINES = {
    # No quote in the CSV garbage, so that each non-blank line is one record.
    ".csv": st.one_of(st.builds(row, st.integers(0, 9999)), GARBAGE),
    ".jsonl": st.one_of(
        st.builds(obj, st.integers(0, 9999)),
        st.builds(obj, st.integers(0, 9999), plate=st.one_of(st.text(), st.integers(), st.none())),
        st.builds(json.dumps, st.recursive(st.none() | st.integers() | st.text(), st.lists)),
        GARBAGE,
    ),
}


@PROPERTIES
@given(data=st.data(), suffix=st.sampled_from([".csv", ".jsonl"]), chunk_rows=st.integers(1, 7))
def test_every_line_is_accounted_for_once(data, suffix, chunk_rows, tmp_path):
    lines = data.draw(st.lists(LINES[suffix], min_size=1))
    path = tmp_path / f"events{suffix}"
    path.write_bytes(csv_text(*lines) if suffix == ".csv" else jsonl_text(*lines))
    first = 2 if suffix == ".csv" else 1
    data_lines = [n for n, text in enumerate(lines, start=first) if text.strip()]
    try:
        events, rejected, _ = read_all(path, InboxRules(chunk_rows=chunk_rows))
    except FileRefused as refused:  # only when nothing is there to account for
        if suffix == ".csv":
            assert (refused.reason, data_lines) == (HEADER_ONLY, [])
        else:
            assert not [text for text in lines if text.strip().startswith("{")]
            assert refused.reason == (NO_JSON_OBJECTS if data_lines else EMPTY_FILE)
        return
    assert sorted([*events["line"], *rejected["line"]]) == data_lines


def test_an_unclosed_quote_stops_at_the_field_limit_and_reading_goes_on(tmp_path):
    rows = [row(n) for n in range(3, 4003)]  # ~280,000 characters after the open quote
    path = write(tmp_path, ".csv", csv_text(row(1), 'gate-2,"SBS3229P,Park0,entry', *rows))
    events, rejected, _ = read_all(path)
    assert rejected[["line", "reason"]].values.tolist() == [[3, inbox.MALFORMED_CSV]]
    # The quote swallowed the lines up to the limit; the lines after it are records again.
    lines = events["line"].tolist()
    assert lines[0] == 2
    assert lines[1:] == list(range(lines[1], 4004))
    assert 1000 < lines[1] < 3000


def test_wide_rows_make_smaller_chunks(tmp_path):
    wide = "w" * 60_000  # an extra column: read, then ignored
    path = write(
        tmp_path,
        ".csv",
        csv_text(*[row(n) + "," + wide for n in range(600)], header=HEADER + ",note"),
    )
    events, rejected, chunks = read_all(path)
    assert len(events) == 600 and rejected.empty
    # 16 Mi characters of input at most per chunk, far below the 50,000 rows allowed.
    assert len(chunks) == 3
    assert max(len(c.events) for c in chunks) <= (16 << 20) // 60_000 + 1
