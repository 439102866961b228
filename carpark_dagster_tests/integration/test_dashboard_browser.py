"""The dashboard page in a real headless browser (Debian's chromium, installed by
ops/browser.sh when missing): the numbers it shows equal PostgreSQL's, the stale banner shows
when the data is more than ten minutes old (rendered so, or grown so while the page is open),
and a screenshot is kept in test-artifacts/ (git-ignored). With CARPARK_UPDATE_SCREENSHOT=1
the screenshot of the fresh page is copied to docs/images/dashboard.png for the README."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from carpark_dagster.domain.dashboard import dashboard_html
from carpark_dagster.domain.reporting import dollars
from carpark_dagster_tests.integration.test_earnings_report import (
    INDEPENDENT_HOURLY,
    independent_today,
    run_with_dashboard,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def chromium() -> str:
    found = subprocess.run(
        [str(ROOT / "ops/browser.sh")], capture_output=True, text=True, timeout=900
    )
    if found.returncode != 0:
        pytest.skip("chromium is missing and could not be installed: " + found.stderr.strip())
    return found.stdout.strip().splitlines()[-1]


def _browse(chromium: str, page: Path, tmp_path: Path, *args: str) -> str:
    profile = tmp_path / "chromium-profile"
    result = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def dump_dom(chromium: str, page: Path, tmp_path: Path) -> str:
    return _browse(chromium, page, tmp_path, "--dump-dom")


def screenshot(chromium: str, page: Path, tmp_path: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    _browse(chromium, page, tmp_path, f"--screenshot={target}", "--window-size=1100,1500")
    assert target.stat().st_size > 10_000


def banner_shown(dom: str) -> bool:
    tag = re.search(r'<div id="stale"[^>]*>', dom)
    assert tag, "the page has no stale banner element"
    return "hidden" not in tag.group(0)


def figure(dom: str, key: str) -> str:
    return re.search(rf'data-figure="{key}">([^<]*)<', dom).group(1)


@pytest.mark.services
def test_the_page_in_a_browser_shows_postgres_figures_and_the_stale_banner(
    chromium, postgres, search, tmp_path
):
    result = run_with_dashboard(postgres, search, tmp_path)
    assert result.success
    report = result.output_for_node("location_earnings")
    latest = tmp_path / "reports" / "latest.html"
    dom = dump_dom(chromium, latest, tmp_path)

    # The numbers equal PostgreSQL's, restated independently of the report's SQL.
    with postgres.connect() as conn:
        as_of = conn.execute("SELECT processed_until FROM carpark.tick_progress").fetchone()[0]
        hourly = dict(conn.execute(INDEPENDENT_HOURLY, (as_of,)).fetchall())
    expected = independent_today(postgres, as_of)
    total = sum(int(v[1]) for v in expected.values())
    sessions = sum(int(v[0]) for v in expected.values())
    assert total == sum(int(c) for c in hourly.values())
    assert figure(dom, "total_charge_cents") == dollars(total)
    assert figure(dom, "sessions") == f"{sessions:,}"
    today_table = dom[dom.index('<table data-period="today">') :]
    today_table = today_table[: today_table.index("</table>")]
    for location, (count, cents, _average, _median) in expected.items():
        row = re.search(rf'<tr data-location="{location}">(.*?)</tr>', today_table).group(1)
        assert f'data-cents="{int(cents)}"' in row
        assert f"<td>{int(count):,}</td>" in row
    assert '<tr data-location="*">' in today_table and f'data-cents="{total}"' in today_table
    assert "<svg" in dom and "Top 5 average charge by location" in dom
    # No script or font from any network: nothing but inline content.
    page = latest.read_text()
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert '<meta http-equiv="refresh" content="300">' in page

    # The data is from 27 November: rendered stale, the banner shows.
    assert banner_shown(dom)
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot(chromium, latest, tmp_path, ARTIFACTS / "dashboard-stale.png")

    # The same figures as of a minute ago: no banner.
    now = datetime.now(UTC)
    fresh = dataclasses.replace(report, as_of=now - timedelta(minutes=1), computed_at=now)
    fresh_page = tmp_path / "fresh.html"
    fresh_page.write_text(dashboard_html(fresh, now))
    assert not banner_shown(dump_dom(chromium, fresh_page, tmp_path))
    screenshot(chromium, fresh_page, tmp_path, ARTIFACTS / "dashboard.png")
    if os.environ.get("CARPARK_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(ARTIFACTS / "dashboard.png", ROOT / "docs/images/dashboard.png")

    # Rendered fresh, but opened 11 minutes after its data: the page's script shows it.
    aged = dataclasses.replace(report, as_of=now - timedelta(minutes=11), computed_at=now)
    aged_page = tmp_path / "aged.html"
    html = dashboard_html(aged, aged.as_of)  # rendered when the data was new
    assert re.search(r'<div id="stale"[^>]* hidden>', html)
    aged_page.write_text(html)
    assert banner_shown(dump_dom(chromium, aged_page, tmp_path))
