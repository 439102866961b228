"""The earnings report (docs/reporting.md): per location and period, the lab's question (the top
5 by average charge), total earnings, closed sessions, average and median stay, occupancy
against capacity, and earnings by hour of day; totals across locations.

Pure: the resources hand in the figures each store computed (`MoneyFigures` from the search
engine, `StayFigures`, `Occupancy` from PostgreSQL) and this module puts them together,
compares them and formats them. Money is integer cents; averages are exact decimals rounded
half-even to the cent, as in `domain.earnings`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

CARPARK_TZ = ZoneInfo("Asia/Singapore")
DEFAULT_PERIODS = ("today", "24h", "7d")
TOP = 5
ALL_LOCATIONS = "*"  # the row of all locations, in carpark.earnings_reports
HOURS = 24
_SPAN = re.compile(r"^([1-9][0-9]{0,3})([hd])$")
MAX_SPAN = timedelta(days=366)


class ReportError(ValueError):
    """A bad period name (the message is a fixed text naming what is accepted)."""


@dataclass(frozen=True)
class Period:
    """Sessions whose exit time lies in [start, end)."""

    name: str
    start: datetime
    end: datetime


def period_named(name: str, as_of: datetime) -> Period:
    """`today` (since midnight in carpark time), or `<N>h` / `<N>d` (the last N hours or
    days), each ending at `as_of`."""
    if as_of.tzinfo is None:
        raise ReportError("the report's time must carry a time zone")
    if name == "today":
        local = as_of.astimezone(CARPARK_TZ)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return Period(name, midnight.astimezone(UTC), as_of.astimezone(UTC))
    match = _SPAN.match(name)
    if not match:
        raise ReportError("a period is today, <N>h or <N>d (for example 24h or 7d)")
    number, unit = int(match.group(1)), match.group(2)
    span = timedelta(hours=number) if unit == "h" else timedelta(days=number)
    if span > MAX_SPAN:
        raise ReportError("a period is at most 366 days")
    return Period(name, (as_of - span).astimezone(UTC), as_of.astimezone(UTC))


def periods_named(names: Sequence[str], as_of: datetime) -> list[Period]:
    if not names:
        raise ReportError("name at least one period")
    if len(set(names)) != len(names):
        raise ReportError("each period may be named once")
    return [period_named(n, as_of) for n in names]


@dataclass(frozen=True)
class MoneyFigures:
    """Closed sessions and their charges per location in a period, and the charges by hour
    of day (carpark time, by exit time), all locations together."""

    by_location: Mapping[str, tuple[int, int]]  # location -> (sessions, total cents)
    hourly_cents: tuple[int, ...] = (0,) * HOURS


@dataclass(frozen=True)
class StayFigures:
    """Average and median stay in whole seconds per location, and over all locations."""

    by_location: Mapping[str, tuple[int | None, int | None]]  # location -> (average, median)
    overall: tuple[int | None, int | None] | None = None


@dataclass(frozen=True)
class LocationFigures:
    location_id: str
    sessions: int
    total_charge_cents: int
    average_stay_seconds: int | None
    median_stay_seconds: int | None
    occupied: int | None
    capacity: int | None
    rank: int | None = None  # in the top 5 by average charge, else None

    @property
    def average_charge_cents(self) -> Decimal | None:
        if not self.sessions:
            return None
        return (Decimal(self.total_charge_cents) / Decimal(self.sessions)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_EVEN
        )


@dataclass(frozen=True)
class PeriodReport:
    period: Period
    locations: tuple[LocationFigures, ...]  # by location id
    totals: LocationFigures  # location_id ALL_LOCATIONS
    hourly_cents: tuple[int, ...]

    @property
    def top(self) -> tuple[LocationFigures, ...]:
        """The lab's question: the top 5 by average charge (ties: location id)."""
        ranked = [f for f in self.locations if f.rank is not None]
        return tuple(sorted(ranked, key=lambda f: f.rank or 0))


@dataclass(frozen=True)
class EarningsReport:
    """One computation: `as_of` is the data's time (the end of the last processed window),
    `computed_at` when it was computed; `watermark` the search sync's, which bounds the
    sessions counted."""

    computed_at: datetime
    as_of: datetime
    watermark: str
    periods: tuple[PeriodReport, ...] = field(default_factory=tuple)

    def period(self, name: str) -> PeriodReport:
        for p in self.periods:
            if p.period.name == name:
                return p
        raise ReportError("that period is not in the report")


# The rollup's buckets (docs/reporting.md, "How it stays cheap"): five minutes of exit time,
# counted from the Unix epoch (PostgreSQL's date_bin with the same origin).
BUCKET_SECONDS = 300


def bucket_bounds(period: Period) -> tuple[datetime, datetime]:
    """The five-minute buckets wholly inside the period, as [first, end): the rollup covers
    those, the sessions before `first` and from `end` are read one by one. Equal (at the
    period's start) when no whole bucket fits."""
    start, end = period.start.timestamp(), period.end.timestamp()
    first = -(-start // BUCKET_SECONDS) * BUCKET_SECONDS
    last = end // BUCKET_SECONDS * BUCKET_SECONDS
    if first >= last:
        return period.start, period.start
    return datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC)


def summed_figures(
    rows: Iterable[tuple[str, int, int, int, int, int]],
) -> tuple[MoneyFigures, dict[str, tuple[int, int]]]:
    """Money per location and by hour, and (sessions with a stay, their stay seconds) per
    location, from signed rows (location, hour of day, sessions, cents, sessions with a stay,
    stay seconds) such as the rollup's buckets plus and minus single sessions. Locations left
    with no session are left out."""
    sums: dict[str, list[int]] = {}
    hours = [0] * HOURS
    for location, hour, sessions, cents, timed, stay_seconds in rows:
        entry = sums.setdefault(location, [0, 0, 0, 0])
        entry[0] += int(sessions)
        entry[1] += int(cents)
        entry[2] += int(timed)
        entry[3] += int(stay_seconds)
        hours[int(hour)] += int(cents)
    kept = {k: v for k, v in sums.items() if v[0]}
    money = MoneyFigures(
        by_location={k: (v[0], v[1]) for k, v in kept.items()}, hourly_cents=tuple(hours)
    )
    return money, {k: (v[2], v[3]) for k, v in kept.items()}


def average_seconds(sessions: int, stay_seconds: int) -> int | None:
    """The average stay in whole seconds, halves rounded up (as PostgreSQL's round)."""
    if not sessions:
        return None
    return int((Decimal(stay_seconds) / Decimal(sessions)).quantize(Decimal(1), ROUND_HALF_UP))


def stay_figures(
    stay_sums: Mapping[str, tuple[int, int]],
    medians: Mapping[str, int | None],
    overall_median: int | None,
) -> StayFigures:
    """Average stays (exact, from the sums) with the medians (from the search engine)."""
    total = (sum(n for n, _ in stay_sums.values()), sum(s for _, s in stay_sums.values()))
    return StayFigures(
        by_location={k: (average_seconds(n, s), medians.get(k)) for k, (n, s) in stay_sums.items()},
        overall=(average_seconds(*total), overall_median) if total[0] else None,
    )


def period_report(
    period: Period,
    money: MoneyFigures,
    stays: StayFigures,
    occupancy: Mapping[str, tuple[int, int]],
    top: int = TOP,
) -> PeriodReport:
    """Every location that has a capacity or a session in the period, with its figures."""
    locations = sorted(set(occupancy) | set(money.by_location))
    rows = []
    for location in locations:
        sessions, cents = money.by_location.get(location, (0, 0))
        average, median = stays.by_location.get(location, (None, None))
        occupied, capacity = occupancy.get(location, (None, None))
        rows.append(LocationFigures(location, sessions, cents, average, median, occupied, capacity))
    ranked = sorted(
        (r for r in rows if r.sessions > 0),
        key=lambda r: (-(r.average_charge_cents or 0), r.location_id),
    )[:top]
    ranks = {r.location_id: i for i, r in enumerate(ranked, start=1)}
    rows = [_with_rank(r, ranks.get(r.location_id)) for r in rows]
    overall_average, overall_median = stays.overall or (None, None)
    occupied = [o for o, _ in occupancy.values()]
    capacities = [c for _, c in occupancy.values()]
    totals = LocationFigures(
        ALL_LOCATIONS,
        sum(r.sessions for r in rows),
        sum(r.total_charge_cents for r in rows),
        overall_average,
        overall_median,
        sum(occupied) if occupancy else None,
        sum(capacities) if occupancy else None,
    )
    return PeriodReport(period, tuple(rows), totals, tuple(money.hourly_cents))


def _with_rank(row: LocationFigures, rank: int | None) -> LocationFigures:
    return LocationFigures(
        row.location_id,
        row.sessions,
        row.total_charge_cents,
        row.average_stay_seconds,
        row.median_stay_seconds,
        row.occupied,
        row.capacity,
        rank,
    )


def hourly_from_buckets(buckets: Iterable[tuple[datetime, int]]) -> tuple[int, ...]:
    """Charges by hour of day (carpark time) from (bucket start, cents) pairs, such as an
    hourly date histogram over several days."""
    hours = [0] * HOURS
    for start, cents in buckets:
        hours[start.astimezone(CARPARK_TZ).hour] += cents
    return tuple(hours)


def money_differences(report: PeriodReport, recomputed: MoneyFigures) -> list[str]:
    """Where the report's money differs from a recomputation (say PostgreSQL's, over the
    sessions up to the sync watermark): fixed texts naming the location or hour, empty when
    equal to the cent."""
    differences = []
    found = {r.location_id: (r.sessions, r.total_charge_cents) for r in report.locations}
    for location in sorted(found.keys() | recomputed.by_location.keys()):
        if found.get(location, (0, 0)) != recomputed.by_location.get(location, (0, 0)):
            differences.append(f"{report.period.name}: {location}")
    for hour, (mine, theirs) in enumerate(
        zip(report.hourly_cents, recomputed.hourly_cents, strict=True)
    ):
        if mine != theirs:
            differences.append(f"{report.period.name}: hour {hour:02d}")
    return differences


def dollars(cents: int | Decimal | None) -> str:
    """`$1,234.56`; an empty string for no value."""
    if cents is None:
        return ""
    value = (Decimal(cents) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return f"${value:,.2f}"


def stay(seconds: int | None) -> str:
    """`2h 05m`; an empty string for no value."""
    if seconds is None:
        return ""
    minutes = (seconds + 30) // 60
    return f"{minutes // 60}h {minutes % 60:02d}m"


def occupancy_text(occupied: int | None, capacity: int | None) -> str:
    if occupied is None or capacity is None:
        return ""
    share = f" ({100 * occupied / capacity:.0f}%)" if capacity else ""
    return f"{occupied}/{capacity}{share}"


# Columns of the per-location table (the UI's table metadata, `carpark report`).
LOCATION_COLUMNS = (
    "rank",
    "location_id",
    "sessions",
    "total_charge_cents",
    "average_charge_cents",
    "average_stay_seconds",
    "median_stay_seconds",
    "occupied",
    "capacity",
)


def location_rows(report: PeriodReport, include_totals: bool = True) -> list[dict]:
    """The per-location figures as plain rows (cents and seconds as numbers; the average
    charge as a decimal string, exact)."""
    rows = [*report.locations, report.totals] if include_totals else list(report.locations)
    return [
        {
            "rank": r.rank,
            "location_id": r.location_id,
            "sessions": r.sessions,
            "total_charge_cents": r.total_charge_cents,
            "average_charge_cents": None
            if r.average_charge_cents is None
            else str(r.average_charge_cents),
            "average_stay_seconds": r.average_stay_seconds,
            "median_stay_seconds": r.median_stay_seconds,
            "occupied": r.occupied,
            "capacity": r.capacity,
        }
        for r in rows
    ]


# ------------------------------------------------------------ for the terminal (`carpark report`)

_TABLE_HEADINGS = (
    ("rank", "top 5"),
    ("location_id", "location"),
    ("sessions", "sessions"),
    ("earnings", "earnings"),
    ("average_charge", "avg charge"),
    ("average_stay", "avg stay"),
    ("median_stay", "median stay"),
    ("occupancy", "occupied now"),
)


def _shown(f: LocationFigures, totals: bool) -> dict[str, str]:
    return {
        "rank": str(f.rank or ""),
        "location_id": "all locations" if totals else f.location_id,
        "sessions": f"{f.sessions:,}",
        "earnings": dollars(f.total_charge_cents),
        "average_charge": dollars(f.average_charge_cents),
        "average_stay": stay(f.average_stay_seconds),
        "median_stay": stay(f.median_stay_seconds),
        "occupancy": occupancy_text(f.occupied, f.capacity),
    }


def report_table(report: EarningsReport, period: PeriodReport) -> str:
    """A fixed-width table of the period: top 5 first (by rank), then the other locations,
    then all locations; a heading line with the period and the data's time."""
    ordered = [*period.top, *(f for f in period.locations if f.rank is None)]
    rows = [_shown(f, False) for f in ordered] + [_shown(period.totals, True)]
    widths = {key: max(len(title), *(len(r[key]) for r in rows)) for key, title in _TABLE_HEADINGS}
    start = period.period.start.astimezone(CARPARK_TZ)
    as_of = report.as_of.astimezone(CARPARK_TZ)
    lines = [
        f"earnings {period.period.name}: exits from {start:%Y-%m-%d %H:%M} to "
        f"{as_of:%Y-%m-%d %H:%M} carpark time (computed {report.computed_at:%Y-%m-%d %H:%M:%S} "
        "UTC)",
        "  ".join(
            title.ljust(widths[key]) if key == "location_id" else title.rjust(widths[key])
            for key, title in _TABLE_HEADINGS
        ),
    ]
    for row in rows:
        lines.append(
            "  ".join(
                row[key].ljust(widths[key]) if key == "location_id" else row[key].rjust(widths[key])
                for key, _ in _TABLE_HEADINGS
            )
        )
    hourly = ", ".join(
        f"{hour:02d}h {dollars(cents)}" for hour, cents in enumerate(period.hourly_cents) if cents
    )
    lines.append(f"earnings by hour (exit, carpark time): {hourly or 'none'}")
    return "\n".join(line.rstrip() for line in lines)


def report_records(report: EarningsReport, period: PeriodReport) -> list[dict]:
    """One record per location and one for all locations (`*`), numbers exact: cents and
    seconds as integers, the average charge in cents as a decimal string."""
    return [{"period": period.period.name, **row} for row in location_rows(period)]


def report_document(report: EarningsReport, period: PeriodReport) -> dict:
    """The period as one JSON-ready document."""
    return {
        "period": period.period.name,
        "start": period.period.start.isoformat(),
        "end": period.period.end.isoformat(),
        "as_of": report.as_of.isoformat(),
        "computed_at": report.computed_at.isoformat(),
        "watermark": report.watermark,
        "top_5": [f.location_id for f in period.top],
        "locations": location_rows(period, include_totals=False),
        "totals": location_rows(
            PeriodReport(period.period, (), period.totals, period.hourly_cents)
        )[0],
        "hourly_charge_cents": list(period.hourly_cents),
    }
