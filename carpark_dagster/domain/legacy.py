"""The lab's `carpark_system.csv`, read into sessions.

Two shapes exist: the notebook's file (UTF-8 with BOM, times `%d/%m/%Y %H:%M:%S`) and the
Airflow DAG's dump of the table (a leading unnamed index column, times `%Y-%m-%d %H:%M:%S`).
Times are Singapore local time. A blank exit means the car is still parked.

Charges are recomputed by the caller with the tariff; the recorded charge is kept beside it,
as the exact decimal written, because the lab's formula was wrong. Rows we cannot take come
back with a reason, never silently dropped.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from carpark_dagster.domain.events import CARPARK_TIMEZONE
from carpark_dagster.domain.sessions import CLOSED, OPEN, SESSION_COLUMNS, session_id_for

LEGACY_COLUMNS = ["Plate", "LocationID", "Entry_DateTime", "Exit_DateTime", "Parking_Charges"]
TIME_FORMATS = ("%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S")
REJECT_COLUMNS = ["record_key", "reason", "record"]
# Reasons are fixed texts: the row itself is kept in the quarantine's `record`.
UNKNOWN_LOCATION = "unknown location"
UNPARSEABLE_ENTRY = "unparseable entry time"
UNPARSEABLE_EXIT = "unparseable exit time"


class LegacyFormatError(ValueError):
    """The file is not one of the lab's shapes; the message says what is missing."""


@dataclass(frozen=True)
class LegacyRows:
    sessions: pd.DataFrame  # SESSION_COLUMNS + recorded_charge (Decimal dollars or None)
    rejected: pd.DataFrame  # REJECT_COLUMNS
    rows_read: int


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


def parse_legacy_rows(raw: pd.DataFrame, known_locations: set[str] | None = None) -> LegacyRows:
    frame = raw.map(lambda v: v.strip() if isinstance(v, str) else v)
    entry = _parse_times(frame["Entry_DateTime"])
    exit_ = _parse_times(frame["Exit_DateTime"])
    blank_exit = frame["Exit_DateTime"] == ""

    reasons = pd.Series("", index=frame.index)

    def reject(mask: pd.Series, reason: str) -> None:
        todo = mask & (reasons == "")
        if todo.any():
            reasons[todo] = reason

    reject(frame["Plate"] == "", "missing plate")
    reject(frame["LocationID"] == "", "missing location")
    if known_locations is not None:
        reject(
            ~frame["LocationID"].isin(known_locations),
            UNKNOWN_LOCATION,
        )
    reject(entry.isna(), UNPARSEABLE_ENTRY)
    reject(exit_.isna() & ~blank_exit, UNPARSEABLE_EXIT)
    reject(exit_ < entry, "entry after exit")

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
    duplicate = sessions["session_id"].duplicated() & (reasons == "")
    reasons[duplicate] = "duplicate of an earlier row (same plate, location and entry)"

    bad = reasons != ""
    rejected = pd.DataFrame(
        {
            "record_key": [_row_key(r) for r in raw[bad].itertuples(index=False)],
            "reason": reasons[bad],
            "record": raw[bad].to_dict(orient="records"),
        },
        columns=REJECT_COLUMNS,
    )
    kept = sessions[~bad].reset_index(drop=True)
    return LegacyRows(
        sessions=kept[[*SESSION_COLUMNS, "recorded_charge"]],
        rejected=rejected.reset_index(drop=True),
        rows_read=len(raw),
    )


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
