"""Sessionisation: pair entries and exits into parking sessions, and price them.

Rules:
- An exit closes the open entry of the same plate at the same location whose entry time is the
  latest one before the exit. A session's id is derived from its entry event, so re-processing
  gives the same id.
- Lost gate reads: an entry for a plate that is still parked at the same location ends the
  parked session with its *exit not recorded* (at that entry's time, `ended_by_event_id` = the
  entry) and opens a new one; an open session older than its location's `max_stay` ends the
  same way at entry + max_stay, with no deciding event. Such sessions are priced by the
  tariff's lost-exit policy, not by their (unknown) stay. A late exit that turns up within
  the lateness window still closes the session it belongs to.
- Events may arrive late and out of order, within a lateness window (24 h by default). Each
  batch *replays* the recent history of the plates it touches — their stored open sessions,
  their sessions closed within the window, the events still waiting — together with the new
  events, in time order. A late event can therefore correct a session (a late exit shortens a
  stay it belongs to), and the result does not depend on the order events arrived in.
- An exit that cannot be paired yet (no open entry before it) *waits* until the lateness window
  has passed; only then is it an anomaly.
- Anomalies never raise and never vanish: each comes back with the raw record and a reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
from typing import NamedTuple

import numpy as np
import pandas as pd

from carpark_dagster.domain.events import ENTRY, EVENT_COLUMNS, EXIT
from carpark_dagster.domain.tariff import Tariff

SESSION_COLUMNS = [
    "session_id",
    "plate",
    "location_id",
    "entry_event_id",
    "exit_event_id",
    "entry_time",
    "exit_time",
    "status",
    "ended_at",
    "ended_by_event_id",
]
_TIME_COLUMNS = ("entry_time", "exit_time", "ended_at")
OPEN, CLOSED, EXIT_NOT_RECORDED = "open", "closed", "exit_not_recorded"
DEFAULT_MAX_STAY = timedelta(hours=72)
PRICED_COLUMNS = [*SESSION_COLUMNS, "duration_seconds", "charge_cents", "tariff"]
PENDING_COLUMNS = EVENT_COLUMNS
ANOMALY_COLUMNS = ["event_id", "reason", "record"]

EXIT_WITHOUT_ENTRY = "exit without a matching entry"
EXIT_BEFORE_ENTRY = "exit earlier than the open entry"
TOO_LATE = "arrived later than the lateness window"
IN_THE_FUTURE = "event time is in the future"
FUTURE_TOLERANCE = timedelta(minutes=15)  # gate clocks drift a little


class StoredSession(NamedTuple):
    """A session as incremental readers get it back from the system of record: open ones
    have no exit, duration or charge. A plain tuple underneath, so pages of thousands are
    cheap to build."""

    session_id: str
    plate: str
    location_id: str
    entry_time: datetime
    exit_time: datetime | None
    duration_seconds: int | None
    charge_cents: int | None
    tariff: str
    updated_at: datetime
    # Closed at some time (so it may have a search document): a session that never was, open
    # or ended without an exit, has none (migration 0016).
    ever_closed: bool = True


def has_no_document(session: StoredSession) -> bool:
    """A session the search index cannot hold: not closed now, and never closed before."""
    return session.exit_time is None and not session.ever_closed


# Where an incremental reader of the stored sessions has got to: the keyset
# `(updated_at, session_id)` of the last row it has handled. Rows with equal `updated_at` are
# ordered by id, so none is skipped.
Watermark = tuple[datetime, str]
# Before any read, the watermark sits before every possible row.
EPOCH_WATERMARK: Watermark = (datetime.fromisoformat("1970-01-01T00:00:00+00:00"), "")


class DeadLetter(NamedTuple):
    """A session the search engine refused to index (a value its mapping cannot take): the
    HTTP status of that one document and the engine's reason, without the document's values.
    Read back from PostgreSQL, also when it was first and last refused and how many times."""

    session_id: str
    status: int
    reason: str
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    attempts: int = 1


def watermark_of(session: StoredSession) -> Watermark:
    return (session.updated_at, session.session_id)


def format_watermark(mark: Watermark) -> str:
    return f"{mark[0].isoformat()} {mark[1]}".rstrip()


def session_id_for(entry_event_id: str) -> str:
    return f"ses-{entry_event_id}"


def empty_sessions() -> pd.DataFrame:
    return _with_times(pd.DataFrame(columns=SESSION_COLUMNS), *_TIME_COLUMNS)


def empty_pending() -> pd.DataFrame:
    return _with_times(pd.DataFrame(columns=PENDING_COLUMNS), "event_time")


@dataclass(frozen=True)
class SessionState:
    """What earlier ticks left that a batch may still change.

    `sessions`: the stored sessions of the batch's plates that are open, or ended within the
    lateness window, and the open sessions (of any plate) past their location's max stay.
    `pending`: events still waiting to be paired (PENDING_COLUMNS).
    """

    sessions: pd.DataFrame
    pending: pd.DataFrame

    @classmethod
    def empty(cls) -> SessionState:
        return cls(sessions=empty_sessions(), pending=empty_pending())


@dataclass(frozen=True)
class SessionBatch:
    """What one batch of events does.

    `sessions`: the sessions that are new or changed (closed, re-closed by a late exit, or
    opened). `pending`: the events still waiting, replacing those of the state. `anomalies`:
    events given up on, with reasons.
    """

    sessions: pd.DataFrame
    pending: pd.DataFrame
    anomalies: pd.DataFrame

    @property
    def closed(self) -> pd.DataFrame:
        return closed_only(self.sessions)

    @property
    def opened(self) -> pd.DataFrame:
        return open_only(self.sessions)


def closed_only(sessions: pd.DataFrame) -> pd.DataFrame:
    return sessions[sessions["status"] == CLOSED]


def open_only(sessions: pd.DataFrame) -> pd.DataFrame:
    return sessions[sessions["status"] == OPEN]


def ended_without_exit(sessions: pd.DataFrame) -> pd.DataFrame:
    return sessions[sessions["status"] == EXIT_NOT_RECORDED]


def close_sessions(
    state: SessionState,
    events: pd.DataFrame,
    as_of: pd.Timestamp,
    lateness: timedelta = timedelta(hours=24),
    max_stay: timedelta | Mapping[str, timedelta] = DEFAULT_MAX_STAY,
) -> SessionBatch:
    """Apply `events` (de-duplicated, new) to `state`, as seen at time `as_of`.

    `max_stay` is one limit for every location or one per location id. (Inside, times are
    integer nanoseconds since the epoch: the loop visits every item of the touched plates.)"""
    as_of = pd.Timestamp(as_of)
    horizon = as_of - lateness
    anomalies: list[dict] = []

    too_late = (events["event_time"] < horizon).to_numpy()
    in_future = (events["event_time"] > as_of + FUTURE_TOLERANCE).to_numpy()
    for mask, reason in ((too_late, f"{TOO_LATE} ({lateness})"), (in_future, IN_THE_FUTURE)):
        anomalies.extend(anomaly(e, reason) for e in events[mask].itertuples(index=False))
    events = events[~(too_late | in_future)]

    as_of_ns, horizon_ns = as_of.value, horizon.value
    limits = (
        {None: _ns(max_stay)}
        if isinstance(max_stay, timedelta)
        else {loc: _ns(stay) for loc, stay in max_stay.items()}
    )
    result: dict[str, dict] = {}
    pending: list[dict] = []
    waiting: list = []
    parked: dict | None = None  # the open session of the current plate
    key = None
    limit = 0
    for item in _timeline(state, events):
        if (item.location_id, item.plate) != key:
            _settle(waiting, parked, horizon_ns, anomalies, pending)
            _expire(parked, as_of_ns, limit, result)
            key, waiting, parked = (item.location_id, item.plate), [], None
            limit = limits[None] if None in limits else limits[item.location_id]
        if parked is not None and item.event_time > parked["entry_time"] + limit:
            # Everything that happens later at this plate happens after the stay expired.
            _end(parked, parked["entry_time"] + limit, None, result)
            parked = None
        if item.event_type == EXIT:
            if parked is None:
                waiting.append(item)
            else:
                result[parked["session_id"]] = {
                    **parked,
                    "exit_event_id": item.recorded_id,
                    "exit_time": item.event_time,
                    "status": CLOSED,
                }
                parked = None
        elif item.event_type == _END:
            # A stored end without an exit stands, unless an exit has closed the session.
            if parked is not None and parked["session_id"] == item.session_id:
                _end(parked, item.event_time, item.recorded_id, result)
                parked = None
        else:
            if parked is not None:  # the car left without its exit being read
                _end(parked, item.event_time, item.event_id, result)
            parked = _park(item, result)
    _settle(waiting, parked, horizon_ns, anomalies, pending)
    _expire(parked, as_of_ns, limit, result)

    stored = _stored_outcomes(state.sessions)
    changed = [s for sid, s in result.items() if _outcome(s) != stored.get(sid)]
    return SessionBatch(
        sessions=_frame_of(changed, SESSION_COLUMNS, _TIME_COLUMNS),
        pending=_frame_of(pending, PENDING_COLUMNS, ("event_time",)),
        anomalies=pd.DataFrame(anomalies, columns=ANOMALY_COLUMNS),
    )


# A stored session's end without an exit, replayed in the timeline so that it stands.
_END = "end"
_ORDER = {ENTRY: 0, EXIT: 1, _END: 2}
_ITEM_COLUMNS = [*EVENT_COLUMNS, "session_id", "recorded_id"]
_NAT = np.iinfo(np.int64).min


class _Item(NamedTuple):
    event_id: str
    plate: str
    location_id: str
    event_type: str
    event_time: int  # ns since the epoch
    session_id: str | None
    recorded_id: str | None


def _timeline(state: SessionState, events: pd.DataFrame) -> Iterator[_Item]:
    """Every item of the touched plates, per plate in time order (on ties: entries, then
    exits, then stored ends)."""
    sessions = state.sessions
    stored_entries = pd.DataFrame(
        {
            "event_id": sessions["entry_event_id"],
            "plate": sessions["plate"],
            "location_id": sessions["location_id"],
            "event_type": ENTRY,
            "event_time": sessions["entry_time"],
            "session_id": sessions["session_id"],
            "recorded_id": sessions["entry_event_id"],
        }
    )
    closed = sessions[sessions["status"] == CLOSED]
    stored_exits = pd.DataFrame(
        {
            # Imported sessions have no exit event: a stand-in id keeps the sort total.
            "event_id": closed["exit_event_id"].fillna(closed["session_id"] + "-exit"),
            "plate": closed["plate"],
            "location_id": closed["location_id"],
            "event_type": EXIT,
            "event_time": closed["exit_time"],
            "session_id": None,
            "recorded_id": closed["exit_event_id"],
        }
    )
    ended = sessions[sessions["status"] == EXIT_NOT_RECORDED]
    stored_ends = pd.DataFrame(
        {
            "event_id": ended["session_id"] + "-end",
            "plate": ended["plate"],
            "location_id": ended["location_id"],
            "event_type": _END,
            "event_time": ended["ended_at"],
            "session_id": ended["session_id"],
            "recorded_id": ended["ended_by_event_id"],
        }
    )
    waiting = state.pending.assign(session_id=None)
    waiting["recorded_id"] = waiting["event_id"]
    new = events.assign(session_id=None)
    new["recorded_id"] = new["event_id"]
    frames = [
        f[_ITEM_COLUMNS]
        for f in (stored_entries, stored_exits, stored_ends, waiting, new)
        if len(f)
    ]
    if not frames:
        return iter(())
    timeline = pd.concat(frames, ignore_index=True)
    timeline["_order"] = timeline["event_type"].map(_ORDER).to_numpy()
    timeline["event_time"] = _epoch_ns(timeline["event_time"])
    timeline = timeline.sort_values(
        ["location_id", "plate", "event_time", "_order", "event_id"], kind="stable"
    )
    # Plain Python values: iterating pandas columns one value at a time is several times
    # slower (Arrow-backed strings, Timestamps).
    columns = [
        timeline[c].to_numpy(dtype=object, na_value=None)
        if c != "event_time"
        else timeline[c].to_numpy().tolist()
        for c in _ITEM_COLUMNS
    ]
    return map(_Item._make, zip(*columns, strict=True))


def _park(item: _Item, result: dict[str, dict]) -> dict:
    session = {
        "session_id": item.session_id or session_id_for(item.event_id),
        "plate": item.plate,
        "location_id": item.location_id,
        "entry_event_id": item.event_id,
        "exit_event_id": None,
        "entry_time": item.event_time,
        "exit_time": None,
        "status": OPEN,
        "ended_at": None,
        "ended_by_event_id": None,
    }
    result[session["session_id"]] = session
    return session


def _end(session: dict, at: int, by: str | None, result: dict[str, dict]) -> None:
    """The session ends with its exit not recorded, at `at` (ns), decided by event `by`
    (None: it stayed longer than the location's max stay)."""
    result[session["session_id"]] = {
        **session,
        "exit_event_id": None,
        "exit_time": None,
        "status": EXIT_NOT_RECORDED,
        "ended_at": at,
        "ended_by_event_id": by,
    }


def _expire(parked: dict | None, as_of_ns: int, limit_ns: int, result) -> None:
    if parked is not None and as_of_ns - parked["entry_time"] > limit_ns:
        _end(parked, parked["entry_time"] + limit_ns, None, result)


_OUTCOME = ("status", "exit_event_id", "exit_time", "ended_at", "ended_by_event_id")
# What a replay may change about a session, as a tuple: how (and when, and by what) it ended.
_outcome = itemgetter(*_OUTCOME)


def _stored_outcomes(sessions: pd.DataFrame) -> dict[str, tuple]:
    """`_outcome` of every stored session, by id (times as ns, missing values None)."""
    columns = []
    for c in _OUTCOME:
        if c in _TIME_COLUMNS:
            values = _epoch_ns(sessions[c])
            columns.append([None if v == _NAT else v for v in values.tolist()])
        else:
            columns.append(sessions[c].to_numpy(dtype=object, na_value=None).tolist())
    ids = sessions["session_id"].to_numpy(dtype=object, na_value=None).tolist()
    return dict(zip(ids, zip(*columns, strict=True), strict=True))


def _frame_of(rows: list[dict], columns: list[str], times: tuple[str, ...]) -> pd.DataFrame:
    """Rows whose `times` are ns since the epoch (or None) as a frame of UTC times."""
    frame = pd.DataFrame(rows, columns=columns)
    for c in times:
        # From the rows, not the frame: a column of ints and None would become floats there,
        # which cannot hold nanoseconds exactly.
        ns = np.array([_NAT if r[c] is None else r[c] for r in rows], dtype=np.int64)
        frame[c] = pd.to_datetime(ns.view("datetime64[ns]"), utc=True)
    return frame


def _ns(delta: timedelta) -> int:
    return int(pd.Timedelta(delta).value)


def _settle(
    waiting: list[_Item], parked: dict | None, horizon_ns: int, anomalies: list, pending: list
) -> None:
    """Exits still unpaired: past the lateness window they are anomalies, else they wait."""
    for item in waiting:
        if item.event_time >= horizon_ns:
            pending.append({c: getattr(item, c) for c in PENDING_COLUMNS})
        elif parked is not None and parked["entry_time"] > item.event_time:
            # A fixed text: the session's id comes from the entry's event id, i.e. from input.
            anomalies.append(anomaly(item, EXIT_BEFORE_ENTRY))
        else:
            anomalies.append(anomaly(item, EXIT_WITHOUT_ENTRY))


def price_sessions(sessions: pd.DataFrame, tariffs: Tariff | Mapping[str, Tariff]) -> pd.DataFrame:
    """Add `duration_seconds`, `charge_cents` (integers; missing while open) and `tariff`.

    A closed session costs what its tariff charges for the stay; one whose exit was not
    recorded costs the tariff's `lost_exit_charge_cents` and has no duration.
    `tariffs` is one tariff for every session, or one per location id.
    """
    priced = sessions.copy()
    n = len(priced)
    status = priced["status"].to_numpy()
    closed = status == CLOSED
    lost = status == EXIT_NOT_RECORDED
    entry_ns = _epoch_ns(priced["entry_time"])
    exit_ns = _epoch_ns(priced["exit_time"])
    names = np.empty(n, dtype=object)
    charges = np.zeros(n, dtype=np.int64)
    locations = priced["location_id"].to_numpy()
    for tariff, rows in _rows_by_tariff(locations, tariffs):
        names[rows] = tariff.name
        priceable = rows[closed[rows]]
        charges[priceable] = tariff.price(entry_ns[priceable], exit_ns[priceable])
        charges[rows[lost[rows]]] = tariff.lost_exit_charge_cents
    duration = pd.array((exit_ns - entry_ns) // 1_000_000_000, dtype="Int64")
    charge = pd.array(charges, dtype="Int64")
    duration[~closed] = pd.NA
    charge[~(closed | lost)] = pd.NA
    priced["duration_seconds"] = duration
    priced["charge_cents"] = charge
    priced["tariff"] = names
    return priced[[*PRICED_COLUMNS, *[c for c in priced.columns if c not in PRICED_COLUMNS]]]


def _rows_by_tariff(locations: np.ndarray, tariffs: Tariff | Mapping[str, Tariff]):
    if isinstance(tariffs, Tariff):
        yield tariffs, np.arange(len(locations))
        return
    for location in pd.unique(locations):
        if location not in tariffs:
            raise KeyError(f"no tariff for location {location!r}")
        yield tariffs[location], np.flatnonzero(locations == location)


def _epoch_ns(times: pd.Series) -> np.ndarray:
    values = pd.to_datetime(times, utc=True)
    return values.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view(np.int64).copy()


def _with_times(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def anomaly(event, reason: str) -> dict:
    """An event set aside, with why; its time a Timestamp or ns since the epoch."""
    moment = event.event_time
    if isinstance(moment, int | np.integer):
        moment = pd.Timestamp(int(moment), tz="UTC")
    record = {
        "event_id": event.event_id,
        "plate": event.plate,
        "location_id": event.location_id,
        "event_type": event.event_type,
        "event_time": moment.isoformat(),
    }
    return {"event_id": event.event_id, "reason": reason, "record": record}
