"""The lab's `carpark_system.csv`, read into sessions.

Two shapes exist: the notebook's file (UTF-8 with BOM, times `%d/%m/%Y %H:%M:%S`) and the
Airflow DAG's dump of the table (a leading unnamed index column, times `%Y-%m-%d %H:%M:%S`).
Times are Singapore local time. A blank exit means the car is still parked.

The lab's PostgreSQL table (`public."CarPark"`) is read into the same text cells (its
timestamps as `%Y-%m-%d %H:%M:%S[.%f]`, its float charges as their shortest exact text), so
both paths go through `parse_legacy_rows`.

Charges are recomputed by the caller with the tariff; the recorded charge is kept beside it,
as the exact decimal written, because the lab's formula was wrong. Rows we cannot take come
back with a reason, never silently dropped. Reasons are fixed texts, never the bad value (the
row itself is kept in quarantine, with any NUL shown as U+FFFD, which `jsonb` cannot hold).

Limits (a row outside them is quarantined, the import goes on):
- no control character (NUL, tab, ... : Unicode category Cc) in any cell, once trimmed;
- a plate of at most `MAX_PLATE_LENGTH` (16) characters, the plate rule's limit;
- entry and exit no earlier than `EARLIEST_TIME` (2000-01-01, carpark time: the lab's data
  starts in 2025; anything older is a corrupt row), and no later than the import's `now`
  plus `FUTURE_TOLERANCE` (the 15 minutes a tick allows gate clocks).
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from carpark_dagster.domain.events import CARPARK_TIMEZONE
from carpark_dagster.domain.plates import MAX_PLATE_LENGTH
from carpark_dagster.domain.sessions import (
    CLOSED,
    FUTURE_TOLERANCE,
    OPEN,
    SESSION_COLUMNS,
    session_id_for,
)

LEGACY_COLUMNS = ["Plate", "LocationID", "Entry_DateTime", "Exit_DateTime", "Parking_Charges"]
TIME_FORMATS = ("%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f")
REJECT_COLUMNS = ["record_key", "reason", "record"]
CONTROL_CHARACTERS = "[\x00-\x1f\x7f-\x9f]"  # Unicode category Cc
CONTROL_PATTERN = re.compile(CONTROL_CHARACTERS)
EARLIEST_TIME = pd.Timestamp("2000-01-01", tz=CARPARK_TIMEZONE)

# The reasons a row is refused (fixed texts: the row itself is in quarantine).
CONTROL_CHARACTER = "control character in a cell"
MISSING_PLATE = "missing plate"
PLATE_TOO_LONG = f"plate longer than {MAX_PLATE_LENGTH} characters"
MISSING_LOCATION = "missing location"
UNKNOWN_LOCATION = "unknown location"
BAD_ENTRY_TIME = "unparseable entry time"
BAD_EXIT_TIME = "unparseable exit time"
TOO_EARLY = f"time before {EARLIEST_TIME.date()} (carpark time)"
IN_THE_FUTURE = "time in the future"
ENTRY_AFTER_EXIT = "entry after exit"
DUPLICATE = "duplicate of an earlier row (same plate, location and entry)"


class LegacyFormatError(ValueError):
    """The file is not one of the lab's shapes; the message says what is missing."""


@dataclass(frozen=True)
class LegacyRows:
    sessions: pd.DataFrame  # SESSION_COLUMNS + recorded_charge (Decimal dollars or None)
    rejected: pd.DataFrame  # REJECT_COLUMNS
    rows_read: int
    duplicates: int = 0  # exact repeats of an earlier row (the lab's re-runs): dropped
    row_keys: frozenset[str] = frozenset()  # of every row read, for the next batch


def read_legacy_csv(source: str | Path | IO[bytes]) -> pd.DataFrame:
    """Every cell as text; a BOM and a leading unnamed index column are dropped."""
    data = Path(source).read_bytes() if isinstance(source, str | Path) else source.read()
    try:
        text = data.decode("utf-8-sig")
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        # Never the parser's message: it can quote the file (a line, a byte sequence).
        raise LegacyFormatError(f"not a readable CSV file ({type(exc).__name__})") from None
    unnamed = [c for c in frame.columns if c == "" or c.startswith("Unnamed:")]
    frame = frame.drop(columns=unnamed)
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in LEGACY_COLUMNS if c not in frame.columns]
    if missing:
        raise LegacyFormatError(
            f"not a carpark_system.csv: missing column(s) {missing}; expected "
            f"{LEGACY_COLUMNS}, found {len(frame.columns)} other column(s) (not shown: the "
            "first line may be anything)"
        )
    return frame[LEGACY_COLUMNS]


def parse_legacy_rows(
    raw: pd.DataFrame,
    known_locations: set[str] | None = None,
    now: datetime | None = None,
    earlier_session_ids: frozenset[str] = frozenset(),
    earlier_row_keys: frozenset[str] = frozenset(),
) -> LegacyRows:
    """The sessions of the rows `raw` (LEGACY_COLUMNS, text cells) and the rows refused.

    A row identical to an earlier one (the lab's re-runs inserted every row again) is
    dropped and counted: nothing of it is lost. A row with an earlier row's plate, location
    and entry but another exit or charge is refused as DUPLICATE (the first one stands).
    `now`: times later than it plus FUTURE_TOLERANCE are refused (None: not checked).
    `earlier_session_ids`, `earlier_row_keys`: the sessions and `row_keys` of rows read
    before (a previous batch), whose repeats here are duplicates too."""
    keys = pd.Series([_row_key(r) for r in raw.itertuples(index=False)], index=raw.index)
    repeat = keys.duplicated() | keys.isin(earlier_row_keys)
    rows_read, row_keys = len(raw), frozenset(keys)
    raw, keys = raw[~repeat], keys[~repeat]
    frame = raw.map(lambda v: v.strip() if isinstance(v, str) else v)
    entry = _parse_times(frame["Entry_DateTime"])
    exit_ = _parse_times(frame["Exit_DateTime"])
    blank_exit = frame["Exit_DateTime"] == ""

    reasons = pd.Series("", index=frame.index)

    def reject(mask: pd.Series, reason: str) -> None:
        todo = mask & (reasons == "")
        if todo.any():
            reasons[todo] = reason

    reject(_has_control_character(frame), CONTROL_CHARACTER)
    reject(frame["Plate"] == "", MISSING_PLATE)
    reject(frame["Plate"].str.len() > MAX_PLATE_LENGTH, PLATE_TOO_LONG)
    reject(frame["LocationID"] == "", MISSING_LOCATION)
    if known_locations is not None:
        reject(~frame["LocationID"].isin(known_locations), UNKNOWN_LOCATION)
    reject(entry.isna(), BAD_ENTRY_TIME)
    reject(exit_.isna() & ~blank_exit, BAD_EXIT_TIME)
    reject((entry < EARLIEST_TIME) | (exit_ < EARLIEST_TIME), TOO_EARLY)
    if now is not None:
        latest = pd.Timestamp(now).tz_convert("UTC") + FUTURE_TOLERANCE
        reject((entry > latest) | (exit_ > latest), IN_THE_FUTURE)
    reject(exit_ < entry, ENTRY_AFTER_EXIT)

    entry_ids = [
        _entry_event_id(loc, plate, t)
        for loc, plate, t in zip(frame["LocationID"], frame["Plate"], entry, strict=True)
    ]
    sessions = pd.DataFrame(
        {
            "session_id": [session_id_for(e) for e in entry_ids],
            "plate": frame["Plate"],
            "location_id": frame["LocationID"],
            "entry_event_id": entry_ids,
            "exit_event_id": None,
            "entry_time": entry,
            "exit_time": exit_,
            # A blank exit: the car is still parked (an old one ends at the location's max
            # stay, with its exit not recorded, at the next tick).
            "status": np.where(exit_.isna(), OPEN, CLOSED),
            "ended_at": pd.NaT,
            "ended_by_event_id": None,
            "recorded_charge": frame["Parking_Charges"].map(_dollars),
        }
    )
    duplicate = (
        sessions["session_id"].duplicated() | sessions["session_id"].isin(earlier_session_ids)
    ) & (reasons == "")
    reasons[duplicate] = DUPLICATE

    bad = reasons != ""
    rejected = pd.DataFrame(
        {
            "record_key": keys[bad].tolist(),
            "reason": reasons[bad],
            "record": [_storable(r) for r in raw[bad].to_dict(orient="records")],
        },
        columns=REJECT_COLUMNS,
    )
    kept = sessions[~bad].reset_index(drop=True)
    return LegacyRows(
        sessions=kept[[*SESSION_COLUMNS, "recorded_charge"]],
        rejected=rejected.reset_index(drop=True),
        rows_read=rows_read,
        duplicates=int(repeat.sum()),
        row_keys=row_keys,
    )


def _has_control_character(frame: pd.DataFrame) -> pd.Series:
    found = pd.Series(False, index=frame.index)
    for column in LEGACY_COLUMNS:
        found |= frame[column].str.contains(CONTROL_CHARACTERS, regex=True)
    return found


def _storable(record: dict) -> dict:
    """A refused row as quarantine can hold it: `jsonb` has no NUL, so it becomes U+FFFD."""
    return {k: v.replace("\x00", "\ufffd") if isinstance(v, str) else v for k, v in record.items()}


MAX_IDENTIFIER_LENGTH = 63  # PostgreSQL's NAMEDATALEN - 1 (bytes)
LAB_TABLE = "public.CarPark"


def parse_table_name(text: str) -> tuple[str, ...]:
    """`table` or `schema.table` (either part may be double-quoted, as in SQL) as its parts,
    case kept: `public.CarPark` -> `("public", "CarPark")`. The parts are quoted as
    identifiers when used, never pasted into SQL."""
    parts = tuple(part.strip() for part in text.split("."))
    parts = tuple(
        p[1:-1] if len(p) >= 2 and p.startswith('"') and p.endswith('"') else p for p in parts
    )
    if not 1 <= len(parts) <= 2 or any(
        not p or len(p.encode()) > MAX_IDENTIFIER_LENGTH or '"' in p or CONTROL_PATTERN.search(p)
        for p in parts
    ):
        raise LegacyFormatError(
            "--table must be TABLE or SCHEMA.TABLE, each a name of 1 to 63 bytes without "
            f"quotes inside or control characters (e.g. {LAB_TABLE})"
        )
    return parts


def _parse_times(text: pd.Series) -> pd.Series:
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    for fmt in TIME_FORMATS:
        todo = parsed.isna()
        parsed[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce")
    return parsed.dt.tz_localize(CARPARK_TIMEZONE, nonexistent="raise").dt.tz_convert("UTC")


# A recorded charge is kept as an exact decimal if it is a plausible amount: below a trillion
# dollars, with at most 20 decimal places (the lab's floats have up to 17). Anything else is
# treated like an unreadable charge: not kept, our own charge stands.
MAX_RECORDED_DOLLARS = Decimal(10) ** 12
MAX_RECORDED_PLACES = 20


def _dollars(text: str) -> Decimal | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or abs(value) >= MAX_RECORDED_DOLLARS:
        return None
    return value if -value.as_tuple().exponent <= MAX_RECORDED_PLACES else None


def _entry_event_id(location: str, plate: str, entry: pd.Timestamp) -> str:
    key = f"{location}|{plate}|{entry.isoformat() if not pd.isna(entry) else ''}"
    return "legacy-" + hashlib.blake2b(key.encode(), digest_size=10).hexdigest()


def _row_key(row: tuple) -> str:
    return "legacy-row-" + hashlib.blake2b("|".join(row).encode(), digest_size=10).hexdigest()
