"""Gate events: one row per pass of a car through an entry or exit gate.

The contract: `event_id` (unique, the idempotency key), `plate`, `location_id`,
`event_type` (`entry` or `exit`) and `event_time` (timezone-aware, stored as UTC).
"""

from __future__ import annotations

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
