"""Gate events: one row per pass of a car through an entry or exit gate.

The contract: `event_id` (unique, the idempotency key), `plate`, `location_id`,
`event_type` (`entry` or `exit`) and `event_time` (timezone-aware, stored as UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
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


# The years a nanosecond timestamp holds whole (pandas' datetime64[ns] spans 1677-09 to 2262-04).
_FIRST_YEAR, _LAST_YEAR = 1678, 2261
_EPOCH = datetime(1970, 1, 1)
_UTC_EPOCH = _EPOCH.replace(tzinfo=UTC)


def parse_event_times(texts: Sequence[str]) -> pd.DatetimeIndex:
    """`event_time` texts as UTC instants, NaT where a text is unreadable.

    ISO 8601 only (`datetime.fromisoformat`: no 'tomorrow', no day-first guessing); a time
    with an offset keeps its instant, a naive one is Asia/Singapore local time. A year outside
    1678-2261 is unreadable (the pipeline's timestamps are nanoseconds)."""
    moments = [_from_iso(text) for text in texts]
    local = np.fromiter((m is not None and m.tzinfo is None for m in moments), bool, len(moments))
    # Wall times: UTC for the times with an offset, Singapore time for the others (counted from
    # the epoch as timedeltas: pandas reads those fast, datetimes with offsets slowly).
    since_epoch = [
        None if m is None else m - (_EPOCH if m.tzinfo is None else _UTC_EPOCH) for m in moments
    ]
    walls = pd.Timestamp(_EPOCH) + pd.TimedeltaIndex(since_epoch).as_unit("ns")
    if local.any():
        instants = walls[local].tz_localize(CARPARK_TIMEZONE, nonexistent="NaT", ambiguous="NaT")
        values = walls.to_numpy().copy()
        values[local] = instants.tz_convert(None).to_numpy()
        walls = pd.DatetimeIndex(values)
    return walls.tz_localize("UTC")


def _from_iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if _FIRST_YEAR <= moment.year <= _LAST_YEAR else None
