"""The rules the checks job holds the stored state to (docs/checks.md): what each finding is,
and how stored sessions are judged. No I/O: the resources read, these decide.

Every finding is counted per location (location ids come from the configuration), never as
the sessions' own values: session ids carry event ids, which are input.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from carpark_dagster.domain.sessions import StoredSession
from carpark_dagster.domain.tariff import Tariff

# Quarantined records per hour above which the checks job warns (CARPARK_QUARANTINE_MAX_PER_HOUR).
DEFAULT_QUARANTINE_MAX_PER_HOUR = 1_000
QUARANTINE_PERIOD = timedelta(hours=1)


@dataclass(frozen=True)
class NegativeSessions:
    """Stored sessions at one location with a negative duration or a negative charge."""

    location_id: str
    negative_durations: int
    negative_charges: int


@dataclass(frozen=True)
class StaleOpenSessions:
    """Sessions at one location still open although their stay is over the location's max
    stay as of the last processed window; `oldest_entry` is the earliest of their entries."""

    location_id: str
    sessions: int
    oldest_entry: datetime


def max_stay_cutoffs(
    processed_until: datetime, max_stays: Mapping[str, timedelta]
) -> dict[str, datetime]:
    """Per location, the entry time before which no session can still be open once every
    window up to `processed_until` has been processed: each window's tick ends, as of the
    window's end, the sessions that entered more than `max_stay` before it.

    The last processed window, not the wall clock: sessions the ticks have not reached yet
    (a catch-up in progress, an outage) are late, not wrong, and freshness reports that."""
    return {location: processed_until - stay for location, stay in max_stays.items()}


def quarantine_growth_within(quarantined_last_hour: int, limit: int) -> bool:
    """Growth is acceptable while the records quarantined in the last hour are at most
    `limit`."""
    return quarantined_last_hour <= limit


@dataclass
class ChargeFindings:
    """What judging stored charges found: the sessions checked, those whose charge differs
    from their tariff per location, and those priced by a tariff the configuration no longer
    defines (not checkable, so not counted as wrong)."""

    checked: int = 0
    unknown_tariff: int = 0
    mismatches_by_location: Counter[str] = field(default_factory=Counter)

    @property
    def mismatches(self) -> int:
        return sum(self.mismatches_by_location.values())

    def add(self, other: ChargeFindings) -> None:
        self.checked += other.checked
        self.unknown_tariff += other.unknown_tariff
        self.mismatches_by_location.update(other.mismatches_by_location)


def judge_charges(
    sessions: Iterable[StoredSession], tariffs: Mapping[str, Tariff]
) -> ChargeFindings:
    """Each ended session's charge against the scalar reference of the tariff that priced it
    (`tariffs` by name): a closed session costs what the tariff charges for its stay, one whose
    exit was not recorded the tariff's lost-exit charge. Open sessions have no charge yet."""
    findings = ChargeFindings()
    for session in sessions:
        if session.charge_cents is None:
            continue
        tariff = tariffs.get(session.tariff)
        if tariff is None:
            findings.unknown_tariff += 1
            continue
        findings.checked += 1
        if session.charge_cents != _expected_charge(session, tariff):
            findings.mismatches_by_location[session.location_id] += 1
    return findings


def _expected_charge(session: StoredSession, tariff: Tariff) -> int | None:
    if session.exit_time is None:
        return tariff.lost_exit_charge_cents
    try:
        return tariff.charge_cents(session.entry_time, session.exit_time)
    except ValueError:  # an exit before its entry has no right charge
        return None
