"""One tick of the pipeline: from a window's gate events to what must be stored."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from carpark_dagster.domain.events import drop_duplicate_events
from carpark_dagster.domain.sessions import close_sessions, price_sessions
from carpark_dagster.domain.tariff import Tariff


@dataclass(frozen=True)
class TickBatch:
    """A tick's new events, the sessions they touched (priced) and the anomalies they raised."""

    events: pd.DataFrame
    sessions: pd.DataFrame
    anomalies: pd.DataFrame
    duplicate_events: int
    already_seen_events: int

    @property
    def closed(self) -> pd.DataFrame:
        return self.sessions[self.sessions["exit_time"].notna()]

    @property
    def opened(self) -> pd.DataFrame:
        return self.sessions[self.sessions["exit_time"].isna()]


def build_tick(
    events: pd.DataFrame,
    already_seen: set[str],
    open_sessions: pd.DataFrame,
    tariff: Tariff,
) -> TickBatch:
    """De-duplicate, skip events an earlier tick stored, close sessions and price them."""
    unique, duplicates = drop_duplicate_events(events)
    fresh = unique[~unique["event_id"].isin(already_seen)]
    batch = close_sessions(open_sessions, fresh)
    return TickBatch(
        events=fresh.reset_index(drop=True),
        sessions=price_sessions(batch.sessions, tariff),
        anomalies=batch.anomalies,
        duplicate_events=duplicates,
        already_seen_events=len(unique) - len(fresh),
    )
