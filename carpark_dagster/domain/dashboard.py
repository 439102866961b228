"""The earnings report drawn: small hand-written SVG bar charts (for the Dagster UI and the
page) and the self-contained dashboard page (inline CSS and SVG, one tiny inline script, no
network). Pure string building; every text from the data is escaped.

The stale banner (docs/reporting.md#the-stale-banner): the page is rendered with the data's
time (`as_of`); when that is more than ten minutes before the render, the banner is visible in
the HTML itself. The inline script shows it too once the viewer's clock passes `as_of` + ten
minutes, so a page left open (or served after the ticks stopped) says so without a re-render.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape

from carpark_dagster.domain.reporting import (
    CARPARK_TZ,
    EarningsReport,
    PeriodReport,
    dollars,
    occupancy_text,
    stay,
)

STALE_AFTER = timedelta(minutes=10)
REFRESH_SECONDS = 300
_BAR = "#2f6db5"


def bar_chart_svg(
    bars: Sequence[tuple[str, int | float]],
    title: str,
    label_of=dollars,
    width: int = 560,
    bar_height: int = 22,
) -> str:
    """A horizontal bar chart: one bar per (label, value), the value written at its end."""
    top, left, gap = 30, 130, 6
    height = top + max(len(bars), 1) * (bar_height + gap) + 10
    biggest = max((v for _, v in bars), default=0) or 1
    span = width - left - 110
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="13">',
        f'<text x="0" y="18" font-weight="bold">{escape(title)}</text>',
    ]
    if not bars:
        parts.append(f'<text x="{left}" y="{top + 15}" fill="#666">no sessions</text>')
    for i, (label, value) in enumerate(bars):
        y = top + i * (bar_height + gap)
        length = max(round(span * value / biggest), 1 if value else 0)
        parts += [
            f'<text x="{left - 8}" y="{y + bar_height * 0.7:.0f}" text-anchor="end">'
            f"{escape(label)}</text>",
            f'<rect x="{left}" y="{y}" width="{length}" height="{bar_height}" fill="{_BAR}"/>',
            f'<text x="{left + length + 6}" y="{y + bar_height * 0.7:.0f}">'
            f"{escape(label_of(value))}</text>",
        ]
    parts.append("</svg>")
    return "".join(parts)


def column_chart_svg(values: Sequence[int], title: str, width: int = 560) -> str:
    """Vertical columns, one per hour of the day (0 to 23), labelled every three hours."""
    height, top, bottom, left = 200, 30, 24, 10
    biggest = max(values, default=0) or 1
    step = (width - left * 2) / max(len(values), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="11">',
        f'<text x="0" y="18" font-weight="bold" font-size="13">{escape(title)}</text>',
    ]
    plot = height - top - bottom
    for hour, cents in enumerate(values):
        tall = round(plot * cents / biggest)
        x = left + hour * step
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{top + plot - tall}" width="{step - 2:.1f}" '
            f'height="{tall}" fill="{_BAR}"><title>{hour:02d}:00 {escape(dollars(cents))}'
            "</title></rect>"
        )
        if hour % 3 == 0:
            parts.append(f'<text x="{x + 1:.1f}" y="{height - 8}">{hour:02d}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def average_charge_chart(report: PeriodReport) -> str:
    """The lab's question as a chart: the top 5 by average charge."""
    bars = [(f.location_id, f.average_charge_cents or 0) for f in report.top]
    return bar_chart_svg(bars, f"Top {len(bars)} average charge by location ({report.period.name})")


def average_charge_by_location_chart(report: PeriodReport) -> str:
    """Every location with a session, highest average charge first."""
    ranked = sorted(
        (f for f in report.locations if f.sessions),
        key=lambda f: (-(f.average_charge_cents or 0), f.location_id),
    )
    bars = [(f.location_id, f.average_charge_cents or 0) for f in ranked]
    return bar_chart_svg(bars, f"Average charge by location ({report.period.name})")


def is_stale(as_of: datetime, now: datetime) -> bool:
    return now - as_of > STALE_AFTER


_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#1d2733;background:#f6f7f9}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px}
.meta{color:#555;font-size:13px}
.stale{background:#b3261e;color:#fff;padding:10px 14px;border-radius:6px;margin:12px 0;
font-weight:bold}
.stale[hidden]{display:none}
.tiles{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.tile{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:12px 16px;
min-width:150px}
.tile .v{font-size:22px;font-weight:bold}.tile .k{font-size:12px;color:#555}
.card{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:12px 16px;
margin:12px 0;overflow-x:auto}
table{border-collapse:collapse;font-size:13px}
th,td{padding:4px 10px;border-bottom:1px solid #e6e8eb;text-align:right}
th:first-child,td:first-child{text-align:left}
"""

# Shows the banner once the viewer's clock is past the data's time + ten minutes (checked
# now and every minute): a page left open, or served while the ticks are stopped.
_SCRIPT = """
(function(){var b=document.getElementById('stale');var t=Number(b.dataset.asOf);
function c(){if(Date.now()-t>%d){b.hidden=false;}}c();setInterval(c,60000);})();
"""


def dashboard_html(report: EarningsReport, rendered_at: datetime) -> str:
    """The page: headline totals of today, the top 5 chart, earnings by location, earnings by
    hour today, occupancy, the computed time, and the stale banner."""
    today = report.periods[0]
    as_of_local = report.as_of.astimezone(CARPARK_TZ)
    computed_local = report.computed_at.astimezone(CARPARK_TZ)
    stale = is_stale(report.as_of, rendered_at)
    totals = today.totals
    tiles = [
        ("total_charge_cents", "Earnings", dollars(totals.total_charge_cents)),
        ("sessions", "Closed sessions", f"{totals.sessions:,}"),
        ("average_charge_cents", "Average charge", dollars(totals.average_charge_cents)),
        ("average_stay_seconds", "Average stay", stay(totals.average_stay_seconds)),
        ("median_stay_seconds", "Median stay", stay(totals.median_stay_seconds)),
        ("occupancy", "Occupied now", occupancy_text(totals.occupied, totals.capacity)),
    ]
    tile_html = "".join(
        f'<div class="tile"><div class="v" data-figure="{key}">{escape(value)}</div>'
        f'<div class="k">{escape(label)}</div></div>'
        for key, label, value in tiles
    )
    by_location = bar_chart_svg(
        [(f.location_id, f.total_charge_cents) for f in today.locations if f.sessions],
        f"Earnings by location ({today.period.name})",
    )
    hourly = column_chart_svg(today.hourly_cents, f"Earnings by hour ({today.period.name})")
    stale_after_ms = int(STALE_AFTER.total_seconds() * 1000)
    as_of_ms = int(report.as_of.timestamp() * 1000)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        "<title>Carpark earnings</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>Carpark earnings</h1>"
        f'<div class="meta">Data as of <time id="as-of" datetime="{report.as_of.isoformat()}">'
        f"{as_of_local:%Y-%m-%d %H:%M} (carpark time)</time>; computed "
        f'<time id="computed-at" datetime="{report.computed_at.isoformat()}">'
        f"{computed_local:%Y-%m-%d %H:%M:%S}</time>; search sync watermark "
        f"{escape(report.watermark)}.</div>"
        f'<div id="stale" class="stale" data-as-of="{as_of_ms}"{"" if stale else " hidden"}>'
        "The data is more than 10 minutes old: the ticks may have stopped. "
        "See the Dagster UI.</div>"
        f'<div class="tiles" data-period="{escape(today.period.name)}">{tile_html}</div>'
        f'<div class="card" id="top5">{average_charge_chart(today)}</div>'
        f'<div class="card" id="by-location">{by_location}</div>'
        f'<div class="card" id="by-hour">{hourly}</div>'
        + "".join(_period_table(p) for p in report.periods)
        + f"<script>{_SCRIPT % stale_after_ms}</script></body></html>\n"
    )


def _period_table(report: PeriodReport) -> str:
    head = (
        "<tr><th>Location</th><th>Top 5</th><th>Sessions</th><th>Earnings</th>"
        "<th>Average charge</th><th>Average stay</th><th>Median stay</th>"
        "<th>Occupied now</th></tr>"
    )
    body = "".join(
        f'<tr data-location="{escape(f.location_id)}">'
        f"<td>{escape('All locations' if f is report.totals else f.location_id)}</td>"
        f"<td>{f.rank or ''}</td><td>{f.sessions:,}</td>"
        f'<td data-cents="{f.total_charge_cents}">{dollars(f.total_charge_cents)}</td>'
        f"<td>{dollars(f.average_charge_cents)}</td>"
        f"<td>{stay(f.average_stay_seconds)}</td><td>{stay(f.median_stay_seconds)}</td>"
        f"<td>{occupancy_text(f.occupied, f.capacity)}</td></tr>"
        for f in [*report.locations, report.totals]
    )
    start = report.period.start.astimezone(CARPARK_TZ)
    return (
        f'<h2>{escape(report.period.name)} <span class="meta">(exits since '
        f"{start:%Y-%m-%d %H:%M})</span></h2>"
        f'<div class="card"><table data-period="{escape(report.period.name)}">{head}{body}'
        "</table></div>"
    )
