"""The charts and the dashboard page as text (the browser test renders them for real)."""

import re
from datetime import UTC, datetime, timedelta

from carpark_dagster.domain.dashboard import (
    average_charge_by_location_chart,
    average_charge_chart,
    bar_chart_svg,
    dashboard_html,
    svg_data_uri,
)
from carpark_dagster.domain.reporting import (
    EarningsReport,
    MoneyFigures,
    StayFigures,
    period_named,
    period_report,
)

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def _report(as_of=NOW, location="P1"):
    period = period_named("today", as_of)
    money = MoneyFigures({location: (2, 300), "P2": (1, 60)})
    report = period_report(period, money, StayFigures({}), {location: (3, 10), "P2": (0, 5)})
    return EarningsReport(as_of, as_of, "mark", (report,))


def test_the_bar_chart_has_one_bar_per_location_with_its_value():
    svg = average_charge_chart(_report().periods[0])
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert svg.count("<rect") == 2
    assert ">$1.50<" in svg and ">$0.60<" in svg
    assert svg_data_uri(svg).startswith("data:image/svg+xml;base64,")
    assert "no sessions" in bar_chart_svg([], "empty")
    every = average_charge_by_location_chart(_report().periods[0])
    assert every.count("<rect") == 2 and every.index(">P1<") < every.index(">P2<")


def test_text_from_the_data_is_escaped():
    page = dashboard_html(_report(location="<script>x</script>"), NOW)
    assert "<script>x</script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page


def test_the_page_is_self_contained_and_refreshes():
    page = dashboard_html(_report(), NOW)
    assert '<meta http-equiv="refresh" content="300">' in page
    assert not re.search(r"(src|href)=", page)
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)
    assert page.count("<script>") == 1


def test_the_stale_banner_is_rendered_when_the_data_is_older_than_ten_minutes():
    fresh = dashboard_html(_report(), NOW + timedelta(minutes=10))
    stale = dashboard_html(_report(), NOW + timedelta(minutes=10, seconds=1))
    assert re.search(r'<div id="stale"[^>]* hidden>', fresh)
    assert not re.search(r'<div id="stale"[^>]* hidden>', stale)
    # The page's script compares the data's time with the viewer's clock.
    assert f'data-as-of="{int(NOW.timestamp() * 1000)}"' in fresh
