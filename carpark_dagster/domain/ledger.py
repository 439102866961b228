"""The stored session state as a run of several windows sees it, window after window.

A tick reads from PostgreSQL what its window may change (`StateQuery`): the events still
waiting, the sessions of the window's plates that are open or ended within the lateness window,
and the open sessions past their location's max stay. A run that processes several windows
reads once, for all of them (a superset of each window's read), and keeps that copy up to date
with each window's batch: `StateLedger.state_for` then selects exactly what PostgreSQL would
return to that window's own query after the windows before it were stored. The selection here
and the SQL in `resources/postgres.py` state the same rule; the tests hold them to it (a range
in one run gives the rows of one run per window).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from carpark_dagster.domain.sessions import (
    OPEN,
    PENDING_COLUMNS,
    SESSION_COLUMNS,
    SessionState,
)


@dataclass(frozen=True)
class StateQuery:
    """What a window reads: the plates `(locations[i], plates[i])` it has events of; waiting
    events of those plates or from before `pending_before`; sessions of those plates (and of
    the waiting events' plates) that are open or ended at or after `ended_since` and at or
    after the plate's first event; and open sessions, at any plate, that entered before their
    location's `expired_before`.

    `first_times[i]` is the earliest event time the window has for plate i (for a waiting
    event's plate: that event's time, if earlier). A session of the plate that ended before
    it cannot change: replayed, its entry and its end come before every other event of the
    plate, and leave no car parked (sessions of one plate never overlap). Not reading those
    spares a tick the plates' earlier visits of the day (~45% of its read at 10k sessions a
    tick). None: every session ended since `ended_since` is read."""

    locations: list[str]
    plates: list[str]
    pending_before: pd.Timestamp
    ended_since: pd.Timestamp
    expired_before: Mapping[str, pd.Timestamp]
    first_times: Sequence[pd.Timestamp] | None = None


class StateLedger:
    """A read of the stored state, kept up to date with the batches a run stores."""

    def __init__(self, state: SessionState, known_event_ids: Iterable[str]):
        self._sessions = state.sessions[SESSION_COLUMNS].set_index("session_id", drop=False)
        self._pending = state.pending[PENDING_COLUMNS].set_index("event_id", drop=False)
        self._known = set(known_event_ids)

    @property
    def sessions(self) -> pd.DataFrame:
        """Every session the ledger holds (SESSION_COLUMNS)."""
        return self._sessions.reset_index(drop=True)

    @property
    def pending(self) -> pd.DataFrame:
        """Every waiting event the ledger holds (PENDING_COLUMNS)."""
        return self._pending.reset_index(drop=True)

    def known(self, event_ids: Iterable[str]) -> set[str]:
        return self._known.intersection(event_ids)

    def state_for(self, query: StateQuery) -> SessionState:
        """What PostgreSQL would return to `query` now."""
        keys = pd.MultiIndex.from_arrays([query.locations, query.plates])
        pending = self._pending
        pending = pending[
            _keys_of(pending).isin(keys) | (pending["event_time"] < query.pending_before)
        ]
        since = plate_first_times(query, pending)
        sessions = self._sessions
        is_open = sessions["status"] == OPEN
        ended = sessions["exit_time"].fillna(sessions["ended_at"])
        session_keys = _keys_of(sessions)
        first = pd.Series(since.reindex(session_keys).array, index=sessions.index)
        recent = (ended >= query.ended_since) & (first.isna() | (ended >= first))
        of_plates = session_keys.isin(since.index) & (is_open | recent)
        limits = sessions["location_id"].map(query.expired_before)
        expiring = is_open & (sessions["entry_time"] < limits)
        return SessionState(
            sessions=sessions[of_plates | expiring].reset_index(drop=True),
            pending=pending.reset_index(drop=True),
        )

    def apply(
        self,
        sessions: pd.DataFrame,
        pending: pd.DataFrame,
        released_pending_ids: list[str],
        events: pd.DataFrame,
    ) -> None:
        """What storing a batch does: its sessions replace or join the stored ones, its
        waiting events replace those it read, its new events are known from now on."""
        if len(sessions):
            rows = sessions[SESSION_COLUMNS].set_index("session_id", drop=False)
            kept = self._sessions[~self._sessions.index.isin(rows.index)]
            self._sessions = _concat(kept, rows)
        kept = self._pending[~self._pending.index.isin(released_pending_ids)]
        self._pending = _concat(kept, pending[PENDING_COLUMNS].set_index("event_id", drop=False))
        self._known.update(events["event_id"])


def plate_first_times(query: StateQuery, pending: pd.DataFrame) -> pd.Series:
    """Per plate read, `(location_id, plate)` -> the earliest of its first time in the query
    and its waiting events' times (UTC); NaT for every plate when the query has none."""
    locations = [*query.locations, *pending["location_id"]]
    plates = [*query.plates, *pending["plate"]]
    if query.first_times is None:
        times = utc_times([pd.NaT] * len(plates))
    else:
        times = utc_times(query.first_times).append(utc_times(pending["event_time"]))
    return earliest_per_plate(locations, plates, times)


def earliest_per_plate(locations: list[str], plates: list[str], times) -> pd.Series:
    """`(location_id, plate)` -> the earliest of its `times` (UTC), plates in first-seen
    order."""
    keys = pd.MultiIndex.from_arrays([locations, plates], names=["location_id", "plate"])
    return pd.Series(utc_times(times), index=keys).groupby(level=[0, 1], sort=False).min()


def utc_times(values) -> pd.DatetimeIndex:
    """Times (or NaT) as a UTC DatetimeIndex in nanoseconds, also when empty or all NaT."""
    times = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    times = times.tz_convert("UTC") if times.tz is not None else times.tz_localize("UTC")
    return times.as_unit("ns")


def _keys_of(frame: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([frame["location_id"], frame["plate"]])


def _concat(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    frames = [f for f in (first, second) if len(f)]
    if not frames:
        return first
    return pd.concat(frames) if len(frames) > 1 else frames[0]
