"""Sessionisation: pair entries and exits into parking sessions, and price them.

Rules:
- An exit closes the open session of the same plate at the same location.
- A session's id is derived from its entry event, so re-processing gives the same id.
- Anomalies never raise and never vanish: they come back with a human-readable reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from carpark_dagster.domain.events import ENTRY, EXIT
from carpark_dagster.domain.tariff import Tariff

SESSION_COLUMNS = [
    "session_id",
    "plate",
    "location_id",
    "entry_event_id",
    "exit_event_id",
    "entry_time",
    "exit_time",
]
PRICED_COLUMNS = [*SESSION_COLUMNS, "duration_seconds", "charge_cents", "tariff"]
ANOMALY_COLUMNS = ["event_id", "reason", "record"]

EXIT_WITHOUT_ENTRY = "exit without a matching entry"
ENTRY_WHILE_PARKED = "entry for a plate already parked at this location"
EXIT_BEFORE_ENTRY = "exit earlier than the open entry"


def session_id_for(entry_event_id: str) -> str:
    return f"ses-{entry_event_id}"


@dataclass(frozen=True)
class SessionBatch:
    """What one batch of events does to the sessions.

    `sessions` holds every session the batch touched: closed ones (new or carried over from an
    earlier tick) and newly opened ones that are still open.
    """

    sessions: pd.DataFrame
    anomalies: pd.DataFrame

    @property
    def closed(self) -> pd.DataFrame:
        return self.sessions[self.sessions["exit_time"].notna()]

    @property
    def opened(self) -> pd.DataFrame:
        return self.sessions[self.sessions["exit_time"].isna()]


def close_sessions(open_sessions: pd.DataFrame, events: pd.DataFrame) -> SessionBatch:
    """Apply `events` (already de-duplicated) to the `open_sessions` carried from earlier ticks."""
    ordered = events.assign(
        _order=np.where(events["event_type"].to_numpy() == ENTRY, 0, 1)
    ).sort_values(["location_id", "plate", "event_time", "_order", "event_id"], kind="stable")

    parked: dict[tuple[str, str], dict] = {
        (row.location_id, row.plate): row._asdict()
        for row in open_sessions[SESSION_COLUMNS].itertuples(index=False)
    }
    touched: dict[str, dict] = {}
    anomalies: list[dict] = []

    for event in ordered[
        ["event_id", "plate", "location_id", "event_type", "event_time"]
    ].itertuples(index=False):
        key = (event.location_id, event.plate)
        current = parked.get(key)
        if event.event_type == ENTRY:
            if current is not None:
                anomalies.append(_anomaly(event, f"{ENTRY_WHILE_PARKED} ({current['session_id']})"))
                continue
            session = {
                "session_id": session_id_for(event.event_id),
                "plate": event.plate,
                "location_id": event.location_id,
                "entry_event_id": event.event_id,
                "exit_event_id": None,
                "entry_time": event.event_time,
                "exit_time": pd.NaT,
            }
            parked[key] = session
            touched[session["session_id"]] = session
        elif event.event_type == EXIT:
            if current is None:
                anomalies.append(_anomaly(event, EXIT_WITHOUT_ENTRY))
                continue
            if event.event_time < current["entry_time"]:
                anomalies.append(_anomaly(event, f"{EXIT_BEFORE_ENTRY} ({current['session_id']})"))
                continue
            closed = {**current, "exit_event_id": event.event_id, "exit_time": event.event_time}
            del parked[key]
            touched[closed["session_id"]] = closed
        else:
            anomalies.append(_anomaly(event, f"unknown event type {event.event_type!r}"))

    sessions = pd.DataFrame(list(touched.values()), columns=SESSION_COLUMNS)
    for column in ("entry_time", "exit_time"):
        sessions[column] = pd.to_datetime(sessions[column], utc=True)
    return SessionBatch(
        sessions=sessions.reset_index(drop=True),
        anomalies=pd.DataFrame(anomalies, columns=ANOMALY_COLUMNS),
    )


def price_sessions(sessions: pd.DataFrame, tariff: Tariff) -> pd.DataFrame:
    """Add `duration_seconds`, `charge_cents` (integers; missing for open sessions) and `tariff`."""
    priced = sessions.copy()
    closed = priced["exit_time"].notna().to_numpy()
    durations_ns = (
        (priced.loc[closed, "exit_time"] - priced.loc[closed, "entry_time"])
        .to_numpy(dtype="timedelta64[ns]")
        .astype(np.int64)
    )
    duration_seconds = pd.array([pd.NA] * len(priced), dtype="Int64")
    charge_cents = pd.array([pd.NA] * len(priced), dtype="Int64")
    duration_seconds[closed] = durations_ns // 1_000_000_000
    charge_cents[closed] = tariff.price(durations_ns)
    priced["duration_seconds"] = duration_seconds
    priced["charge_cents"] = charge_cents
    priced["tariff"] = tariff.name
    return priced[PRICED_COLUMNS]


def _anomaly(event, reason: str) -> dict:
    record = {
        "event_id": event.event_id,
        "plate": event.plate,
        "location_id": event.location_id,
        "event_type": event.event_type,
        "event_time": event.event_time.isoformat(),
    }
    return {"event_id": event.event_id, "reason": reason, "record": record}
