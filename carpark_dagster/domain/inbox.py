"""TEMPORARY stand-in for the gate-file reader (replaced by the full reader)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from carpark_dagster.domain.events import EVENT_COLUMNS, _parse_time

GATE_FILE_SUFFIXES = (".csv", ".jsonl")


@dataclass(frozen=True)
class InboxRules:
    max_file_bytes: int = 1 << 31
    max_field_chars: int = 64
    future_tolerance: timedelta = timedelta(minutes=5)
    chunk_rows: int = 50_000
    known_locations: frozenset[str] | None = None


class FileRefused(ValueError):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FileChunk:
    events: pd.DataFrame
    rejected: pd.DataFrame


def content_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_gate_file(path: Path, rules: InboxRules, now: datetime) -> Iterator[FileChunk]:
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileRefused("not UTF-8 text") from None
    if "\x00" in text:
        raise FileRefused("binary, not text")
    records = []
    if str(path).endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text))
        for i, row in enumerate(reader, start=2):
            records.append((i, row))
    else:
        for i, line in enumerate(text.splitlines(), start=1):
            try:
                records.append((i, json.loads(line)))
            except ValueError:
                records.append((i, None))
    good, bad = [], []
    for line, rec in records:
        if rec is None:
            bad.append({"line": line, "reason": "not a JSON object", "record": {}})
            continue
        t = _parse_time(str(rec.get("event_time", "")))
        if rec.get("event_type") not in ("entry", "exit"):
            bad.append({"line": line, "reason": "unknown event_type", "record": rec})
        elif rules.known_locations and rec.get("location_id") not in rules.known_locations:
            bad.append({"line": line, "reason": "unknown location", "record": rec})
        elif t is None:
            bad.append({"line": line, "reason": "unreadable event_time", "record": rec})
        else:
            good.append({**{c: rec[c] for c in EVENT_COLUMNS}, "event_time": t, "line": line})
    events = pd.DataFrame(good, columns=[*EVENT_COLUMNS, "line"])
    events["event_time"] = pd.to_datetime(events["event_time"], utc=True)
    yield FileChunk(events, pd.DataFrame(bad, columns=["line", "reason", "record"]))
