"""The earnings report computed (docs/reporting.md), for the `location_earnings` asset and
`carpark report` alike: the money and the median stays from the search engine (the lab's
answer came from there, and it is what Kibana shows), the average stays and occupancy from
PostgreSQL's rollups (docs/reporting.md, "How it stays cheap"), and PostgreSQL's own
recomputation of the money over the same sessions (those up to the search sync watermark,
less the dead letters) for the blocking check.

Both stores are read while holding the search-sync lock, so no sync moves the watermark
between the two reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from carpark_dagster.domain.reporting import (
    ALL_LOCATIONS,
    DEFAULT_PERIODS,
    EarningsReport,
    money_differences,
    period_report,
    periods_named,
    stay_figures,
)
from carpark_dagster.domain.sessions import format_watermark
from carpark_dagster.lib.search_sync import SYNC_CONSUMER


class EarningsDiffer(RuntimeError):
    """The report from the search engine differs from PostgreSQL's recomputation."""


class ReportUnavailable(RuntimeError):
    """The database is not ready for the report (migrations pending)."""


def require_migrated(postgres) -> None:
    if any(not status.applied for status in postgres.migration_status()):
        raise ReportUnavailable(
            "the database has migrations pending (no tick has run yet?); run `carpark migrate`"
        )


@dataclass(frozen=True)
class CheckedReport:
    report: EarningsReport
    differences: list[str]  # where PostgreSQL's recomputation differs; empty: equal


def data_time(postgres, now: datetime) -> datetime:
    """The report's periods end at the data's time: the end of the last processed window
    (so a replayed or simulated day reports on itself), else now."""
    progress = postgres.tick_progress()
    return progress.processed_until if progress else now


def compute_report(
    postgres,
    index,
    periods: Sequence[str] = DEFAULT_PERIODS,
    now: datetime | None = None,
    lock_wait_s: float | None = None,
) -> CheckedReport:
    """The report for `periods` (the first is the dashboard's headline), checked against
    PostgreSQL."""
    computed_at = now or datetime.now(UTC)
    as_of = data_time(postgres, computed_at)
    wanted = periods_named(list(periods), as_of)
    lock = (
        postgres.search_sync_lock()
        if lock_wait_s is None
        else postgres.search_sync_lock(lock_wait_s)
    )
    with lock:
        mark = postgres.watermark(SYNC_CONSUMER)
        index.refresh()
        reports, differences = [], []
        occupancy = postgres.occupancy()
        for period, (money, medians) in zip(wanted, index.periods_money(wanted), strict=True):
            recomputed, stay_sums = postgres.period_figures(period, mark)
            overall_median = medians.pop(ALL_LOCATIONS, None)
            stays = stay_figures(stay_sums, medians, overall_median)
            report = period_report(period, money, stays, occupancy)
            reports.append(report)
            differences += money_differences(report, recomputed)
    report = EarningsReport(computed_at, as_of, format_watermark(mark), tuple(reports))
    return CheckedReport(report, differences)
