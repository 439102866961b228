"""One window of the pipeline: from a batch of gate events to everything that must be stored;
and several windows in order, as separate ticks would have processed them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from carpark_dagster.domain.config import CarparkConfig
from carpark_dagster.domain.events import drop_duplicate_events, empty_events
from carpark_dagster.domain.ledger import (
    StateLedger,
    StateQuery,
    earliest_per_plate,
    utc_times,
)
from carpark_dagster.domain.plates import validate_plates
from carpark_dagster.domain.sessions import (
    ANOMALY_COLUMNS,
    SessionState,
    anomaly,
    close_sessions,
    closed_only,
    empty_pending,
    ended_without_exit,
    open_only,
    price_sessions,
)
from carpark_dagster.domain.windows import Window

UNKNOWN_LOCATION = "unknown location"
MALFORMED_PLATE = "malformed plate"


@dataclass(frozen=True)
class TickBatch:
    """A tick's new events, the sessions they created or changed (priced), the events still
    waiting to be paired, and the anomalies set aside. `released_pending_ids` are the waiting
    events the tick read; storing the tick replaces them with `pending`. `known_session_ids`
    are the stored sessions the tick read: its other sessions are new (a hint for storing
    them fast; wrong hints cost time, not correctness)."""

    events: pd.DataFrame
    sessions: pd.DataFrame
    pending: pd.DataFrame
    released_pending_ids: list[str]
    anomalies: pd.DataFrame
    duplicate_events: int
    already_seen_events: int
    known_session_ids: frozenset[str] = frozenset()
    window: Window | None = None  # the five-minute window it processed (None: an import)

    @property
    def closed(self) -> pd.DataFrame:
        return closed_only(self.sessions)

    @property
    def opened(self) -> pd.DataFrame:
        return open_only(self.sessions)

    @property
    def ended_without_exit(self) -> pd.DataFrame:
        return ended_without_exit(self.sessions)

    @classmethod
    def of_sessions(
        cls, sessions: pd.DataFrame, anomalies: pd.DataFrame | None = None
    ) -> TickBatch:
        """A batch that only writes sessions (and rejected records): imports, benchmarks."""
        return cls(
            events=empty_events(),
            sessions=sessions,
            pending=empty_pending(),
            released_pending_ids=[],
            anomalies=pd.DataFrame(columns=ANOMALY_COLUMNS) if anomalies is None else anomalies,
            duplicate_events=0,
            already_seen_events=0,
        )


def build_tick(
    events: pd.DataFrame,
    already_seen: set[str],
    state: SessionState,
    config: CarparkConfig,
    as_of: pd.Timestamp,
    window: Window | None = None,
) -> TickBatch:
    """De-duplicate, skip what an earlier tick stored, set aside events that break the
    configuration, then close sessions and price them with each location's tariff."""
    unique, duplicates = drop_duplicate_events(events)
    fresh = unique[~unique["event_id"].isin(already_seen)].reset_index(drop=True)
    usable, rejected = _check_against_config(fresh, config)
    batch = close_sessions(
        state, usable, as_of=as_of, lateness=config.lateness, max_stay=config.max_stays
    )
    return TickBatch(
        events=fresh,
        sessions=price_sessions(batch.sessions, config.tariffs_by_location),
        pending=batch.pending,
        released_pending_ids=state.pending["event_id"].tolist(),
        anomalies=pd.concat([rejected, batch.anomalies], ignore_index=True),
        duplicate_events=duplicates,
        already_seen_events=len(unique) - len(fresh),
        known_session_ids=frozenset(state.sessions["session_id"]),
        window=window,
    )


def closed_in(batches: list[TickBatch]) -> pd.DataFrame:
    """The sessions the batches closed."""
    closed = [b.closed for b in batches if len(b.closed)]
    return pd.concat(closed, ignore_index=True) if closed else pd.DataFrame()


def figures(batches: list[TickBatch]) -> dict[str, int]:
    """What the batches of a run did, in numbers."""
    closed = closed_in(batches)
    return {
        "windows": len(batches),
        "closed_sessions": len(closed),
        "opened_sessions": sum(len(b.opened) for b in batches),
        "ended_exit_not_recorded": sum(len(b.ended_without_exit) for b in batches),
        "anomalies": sum(len(b.anomalies) for b in batches),
        "duplicate_events": sum(b.duplicate_events for b in batches),
        "already_seen_events": sum(b.already_seen_events for b in batches),
        "revenue_cents": int(closed["charge_cents"].sum()) if len(closed) else 0,
    }


def anomalies_by_reason(batches: list[TickBatch]) -> pd.DataFrame:
    """How many events were set aside, per reason (without the detail in brackets)."""
    reasons = [b.anomalies["reason"] for b in batches if len(b.anomalies)]
    if not reasons:
        return pd.DataFrame({"reason": [], "count": []})
    counts = pd.concat(reasons).str.replace(r" \(.*\)$", "", regex=True).value_counts()
    return counts.rename_axis("reason").reset_index(name="count")


def state_query(events: pd.DataFrame, window: Window, config: CarparkConfig) -> StateQuery:
    """What a window's tick reads of the stored state (see `StateQuery`)."""
    as_of = pd.Timestamp(window.end)
    firsts = events.groupby(["location_id", "plate"], sort=False)["event_time"].min()
    return StateQuery(
        locations=firsts.index.get_level_values("location_id").tolist(),
        plates=firsts.index.get_level_values("plate").tolist(),
        pending_before=as_of - config.lateness,
        ended_since=as_of - config.lateness,
        expired_before={loc: as_of - stay for loc, stay in config.max_stays.items()},
        first_times=firsts.array,
    )


def range_state_query(
    windows: Iterable[tuple[Window, pd.DataFrame]], config: CarparkConfig
) -> StateQuery:
    """One read that holds what each of the windows' queries would read (see `StateLedger`)."""
    queries = [state_query(events, window, config) for window, events in windows]
    firsts = earliest_per_plate(
        [loc for q in queries for loc in q.locations],
        [plate for q in queries for plate in q.plates],
        utc_times([]).append([utc_times(q.first_times) for q in queries]),
    )
    return StateQuery(
        locations=firsts.index.get_level_values("location_id").tolist(),
        plates=firsts.index.get_level_values("plate").tolist(),
        first_times=firsts.array,
        pending_before=max(q.pending_before for q in queries),
        ended_since=min(q.ended_since for q in queries),
        expired_before={
            loc: max(q.expired_before[loc] for q in queries) for loc in config.locations
        },
    )


def process_windows(
    windows: list[tuple[Window, pd.DataFrame]],
    config: CarparkConfig,
    read: Callable[[StateQuery, list[str]], tuple[SessionState, set[str]]],
) -> list[TickBatch]:
    """Each window's events, in order, judged as of the window's end: the batches that ticks
    at the end of each window would have stored one after another.

    `read(query, event_ids)` gives the stored state `query` asks for and which of `event_ids`
    are stored already (one call, so a reader can fetch both at once). The stored state is
    read once for the whole range; each window then sees it as PostgreSQL would hold it after
    the windows before it (`StateLedger`)."""
    if not windows:
        return []

    def tick(window: Window, events: pd.DataFrame, seen: set[str], state: SessionState):
        return build_tick(
            events, seen, state, config, as_of=pd.Timestamp(window.end), window=window
        )

    if len(windows) == 1:  # a live tick: its own read is exactly its state
        [(window, events)] = windows
        state, seen = read(
            state_query(events, window, config), events["event_id"].unique().tolist()
        )
        return [tick(window, events, seen, state)]
    all_events = pd.concat([events for _, events in windows], ignore_index=True)
    ledger = StateLedger(
        *read(range_state_query(windows, config), all_events["event_id"].unique().tolist())
    )
    batches = []
    for number, (window, events) in enumerate(windows, start=1):
        state = ledger.state_for(state_query(events, window, config))
        batch = tick(window, events, ledger.known(events["event_id"]), state)
        if number < len(windows):  # the last one's state is read by nobody
            ledger.apply(batch.sessions, batch.pending, batch.released_pending_ids, batch.events)
        batches.append(batch)
    return batches


def _check_against_config(
    events: pd.DataFrame, config: CarparkConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events at unknown locations, or with plates the location's rule refuses."""
    reasons = np.full(len(events), None, dtype=object)
    known = events["location_id"].isin(config.locations).to_numpy()
    # Fixed texts (the event itself is kept in the quarantine's record): a reason never
    # echoes input, and a record's (record_key, reason) stays the same from tick to tick.
    reasons[~known] = UNKNOWN_LOCATION
    for rule in {location.plate_rule for location in config.locations.values()}:
        rule_locations = [k for k, v in config.locations.items() if v.plate_rule == rule]
        rows = np.flatnonzero(known & events["location_id"].isin(rule_locations).to_numpy())
        bad = rows[~validate_plates(events["plate"].to_numpy()[rows], rule)]
        reasons[bad] = f"{MALFORMED_PLATE} (rule {rule})"
    rejected = reasons != None  # noqa: E711 - element-wise on an object array
    anomalies = pd.DataFrame(
        [
            anomaly(e, r)
            for e, r in zip(
                events[rejected].itertuples(index=False), reasons[rejected], strict=True
            )
        ],
        columns=ANOMALY_COLUMNS,
    )
    return events[~rejected].reset_index(drop=True), anomalies


def charges_off_tariff(closed: pd.DataFrame, config: CarparkConfig) -> list[str]:
    """Sessions whose charge differs from the scalar reference of their location's tariff (the
    vectorised pricing checked, session by session, against the plain rule)."""
    columns = ("session_id", "location_id", "entry_time", "exit_time", "charge_cents")
    rows = zip(*(closed[c].to_numpy(dtype=object) for c in columns), strict=True)
    tariffs = config.tariffs_by_location
    return [
        session_id
        for session_id, location, entry, exit_, cents in rows
        if cents != tariffs[location].charge_cents(entry, exit_)
    ]
