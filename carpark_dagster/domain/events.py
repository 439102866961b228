"""Gate events: one row per pass of a car through an entry or exit gate.

The contract: `event_id` (unique, the idempotency key), `plate`, `location_id`,
`event_type` (`entry` or `exit`) and `event_time` (timezone-aware, stored as UTC).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

ENTRY = "entry"
EXIT = "exit"
EVENT_TYPES = (ENTRY, EXIT)
EVENT_COLUMNS = ["event_id", "plate", "location_id", "event_type", "event_time"]
CARPARK_TIMEZONE = "Asia/Singapore"


def empty_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": pd.Series(dtype="object"),
            "plate": pd.Series(dtype="object"),
            "location_id": pd.Series(dtype="object"),
            "event_type": pd.Series(dtype="object"),
            "event_time": pd.Series(dtype="datetime64[ns, UTC]"),
        }
    )


def drop_duplicate_events(events: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep the first delivery of each `event_id`; return the rest's count."""
    unique = events.drop_duplicates(subset="event_id", keep="first")
    return unique, len(events) - len(unique)


INVALID_EVENT = "malformed event"


def parse_events(records: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate records in the event contract (from CSV or JSON Lines, every value as text).

    Returns the events (EVENT_COLUMNS, `event_time` as UTC) and the rejected records with a
    reason each (`event_id`, `reason`, `record`). Naive times are Asia/Singapore local time.
    """
    frame = records.copy()
    for column in EVENT_COLUMNS:
        if column not in frame:
            frame[column] = ""
    text = frame[EVENT_COLUMNS].astype("string").fillna("").apply(lambda s: s.str.strip())
    times = text["event_time"].map(_parse_time)
    reasons = pd.Series("", index=frame.index, dtype=object)
    for column in ("event_id", "plate", "location_id"):
        reasons[(reasons == "") & (text[column] == "")] = f"{INVALID_EVENT}: missing {column}"
    bad_type = (reasons == "") & ~text["event_type"].isin(EVENT_TYPES)
    reasons[bad_type] = f"{INVALID_EVENT}: event_type must be entry or exit, not " + text[
        "event_type"
    ][bad_type].map(repr)
    bad_time = (reasons == "") & times.isna()
    reasons[bad_time] = f"{INVALID_EVENT}: unreadable event_time " + text["event_time"][
        bad_time
    ].map(repr)
    ok = reasons == ""
    events = text[ok].copy()
    events["event_time"] = pd.to_datetime(list(times[ok]), utc=True)
    rejected = pd.DataFrame(
        {
            "event_id": text["event_id"][~ok].where(text["event_id"][~ok] != "", "<no id>"),
            "reason": reasons[~ok],
            "record": records[~ok]
            .astype(object)
            .where(records[~ok].notna(), None)
            .to_dict(orient="records"),
        }
    )
    return events.reset_index(drop=True)[EVENT_COLUMNS], rejected.reset_index(drop=True)


def _parse_time(text: str) -> pd.Timestamp | None:
    """ISO 8601 only (no 'tomorrow', no day-first guessing); naive means Singapore time."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(CARPARK_TIMEZONE)
    return stamp.tz_convert("UTC")


def read_event_file(path) -> pd.DataFrame:
    """Records of a `.csv` or `.jsonl` file in the event contract, every value as text."""
    from pathlib import Path

    path = Path(path)
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    if path.suffix in {".jsonl", ".ndjson"}:
        return pd.read_json(path, lines=True, dtype=False).astype("string")
    raise ValueError(f"{path}: gate event files are .csv or .jsonl")
