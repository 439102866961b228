"""The dashboard page for people who do not use Dagster (docs/reporting.md): rendered from the
earnings report after every tick, written to the reports directory (`make run` serves it)."""

from datetime import UTC, datetime

import dagster as dg

from carpark_dagster.defs.tick.assets import GROUP, OWNERS, location_earnings
from carpark_dagster.domain.dashboard import dashboard_html, is_stale
from carpark_dagster.domain.reporting import CARPARK_TZ, EarningsReport
from carpark_dagster.resources.reports import ReportsResource


@dg.asset(
    ins={"report": dg.AssetIn(location_earnings.key)},
    kinds={"html"},
    group_name=GROUP,
    owners=OWNERS,
)
def earnings_dashboard(report: EarningsReport, reports: ReportsResource) -> dg.MaterializeResult:
    """A self-contained HTML page (inline CSS and SVG, refreshes every five minutes):
    `latest.html` and one page per carpark day in the reports directory."""
    rendered_at = datetime.now(UTC)
    html = dashboard_html(report, rendered_at)
    written = reports.write_dashboard(html, report.computed_at.astimezone(CARPARK_TZ).date())
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(written[-1])),
            "daily_page": written[0].name,
            "bytes": len(html.encode()),
            "stale_banner": is_stale(report.as_of, rendered_at),
        }
    )
