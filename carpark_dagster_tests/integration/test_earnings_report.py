"""The earnings report end to end: a tick, the report from the search engine checked against
PostgreSQL, every figure kept, the dashboard page written; against the real services."""

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import dagster as dg
import pytest

from carpark_dagster import cli
from carpark_dagster.defs.tick import assets, dashboard
from carpark_dagster.domain.reporting import ALL_LOCATIONS
from carpark_dagster.lib.reporting import compute_report
from carpark_dagster.resources.postgres import SELECT_PERIOD_FIGURES
from carpark_dagster.resources.reports import ReportsResource
from carpark_dagster_tests.integration.pipeline_runs import pipeline_resources, run_pipeline

# Ticks start at 07:00 Singapore time; this one processes three hours of the morning.
TICK = "2026-11-27T10:00+08:00"

# The figures restated independently of the report's SQL: every closed session of the
# carpark day (all synced, no dead letters), from the sessions themselves, not the rollup.
# The median is of the whole minutes stayed, the lower of the two middle ones (the search
# engine's HDR percentile).
INDEPENDENT_TODAY = """
SELECT location_id, count(*), sum(charge_cents),
       round(avg(duration_seconds))::bigint,
       60 * percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_seconds / 60)
FROM carpark.parking_sessions
WHERE exit_time IS NOT NULL
  AND exit_time >= '2026-11-27T00:00+08:00' AND exit_time < %s
GROUP BY location_id ORDER BY location_id
"""
INDEPENDENT_HOURLY = """
SELECT extract(hour FROM exit_time AT TIME ZONE 'Asia/Singapore')::int, sum(charge_cents)
FROM carpark.parking_sessions
WHERE exit_time IS NOT NULL AND exit_time >= '2026-11-27T00:00+08:00' AND exit_time < %s
GROUP BY 1 ORDER BY 1
"""
INDEPENDENT_OPEN = """
SELECT location_id, count(*) FROM carpark.parking_sessions WHERE exit_time IS NULL
  AND status = 'open' GROUP BY location_id
"""


def run_with_dashboard(postgres, search, tmp_path, at: str = TICK) -> dg.ExecuteInProcessResult:
    resources = {
        **pipeline_resources(postgres, search, tmp_path, seed=42),
        "reports": ReportsResource(directory=str(tmp_path / "reports"), keep_days=3),
    }
    return run_pipeline(resources, at, selection=dg.load_assets_from_modules([assets, dashboard]))


def independent_today(postgres, end: datetime) -> dict:
    with postgres.connect() as conn:
        return {r[0]: r[1:] for r in conn.execute(INDEPENDENT_TODAY, (end,)).fetchall()}


@pytest.mark.services
def test_a_tick_reports_checks_keeps_and_renders_the_earnings(postgres, search, tmp_path):
    result = run_with_dashboard(postgres, search, tmp_path)
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["earnings_match_postgres"] is True

    report = result.output_for_node("location_earnings")
    assert report.as_of == datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    assert [p.period.name for p in report.periods] == ["today", "24h", "7d"]
    today = report.period("today")
    expected = independent_today(postgres, report.as_of)
    assert len(expected) >= 5
    assert {
        f.location_id: (
            f.sessions,
            f.total_charge_cents,
            f.average_stay_seconds,
            f.median_stay_seconds,
        )
        for f in today.locations
        if f.sessions
    } == {k: tuple(int(x) for x in v) for k, v in expected.items()}
    # Ticks began at 07:00 today, so the last 24 hours and 7 days hold the same sessions.
    assert report.period("24h").totals.total_charge_cents == today.totals.total_charge_cents
    assert today.totals.total_charge_cents == sum(int(v[1]) for v in expected.values())
    with postgres.connect() as conn:
        hourly = dict(conn.execute(INDEPENDENT_HOURLY, (report.as_of,)).fetchall())
        parked = dict(conn.execute(INDEPENDENT_OPEN).fetchall())
    assert today.hourly_cents == tuple(int(hourly.get(h, 0)) for h in range(24))
    assert sum(today.hourly_cents[7:10]) == today.totals.total_charge_cents
    assert {f.location_id: f.occupied for f in today.locations} == {
        f.location_id: parked.get(f.location_id, 0) for f in today.locations
    }
    assert all(f.capacity and f.capacity > 0 for f in today.locations)

    # The top 5: highest average first, equal to the independent averages.
    top = today.top
    assert [f.rank for f in top] == [1, 2, 3, 4, 5]
    averages = {
        k: (Decimal(int(v[1])) / int(v[0])).quantize(Decimal("0.01")) for k, v in expected.items()
    }
    assert [f.location_id for f in top] == sorted(averages, key=lambda k: (-averages[k], k))[:5]

    # Every figure kept with its time.
    with postgres.connect() as conn:
        kept = conn.execute(
            """SELECT period, location_id, sessions, total_charge_cents, top_rank,
                      hourly_charge_cents
               FROM carpark.earnings_reports WHERE computed_at = %s""",
            (report.computed_at,),
        ).fetchall()
    by_key = {(r[0], r[1]): r for r in kept}
    total_row = by_key[("today", ALL_LOCATIONS)]
    assert total_row[2] == today.totals.sessions
    assert total_row[3] == today.totals.total_charge_cents
    assert total_row[5] == list(today.hourly_cents)
    assert {r[1] for r in kept if r[0] == "today" and r[4] is not None} == {
        f.location_id for f in top
    }

    # The UI's metadata: tables, numbers to plot, the chart.
    materialization = result.asset_materializations_for_node("location_earnings")[0]
    metadata = materialization.metadata
    assert isinstance(metadata["top_5_today"], dg.TableMetadataValue)
    assert [r.data["location_id"] for r in metadata["top_5_today"].records] == [
        f.location_id for f in top
    ]
    assert metadata["earnings_cents_today"].value == today.totals.total_charge_cents
    assert metadata["top_5_chart_today"].value.startswith(
        "![Top 5 average charge by location](data:image/svg+xml;base64,"
    )

    # The page, with the banner: the data (10:00 on 27 November) is older than ten minutes.
    page = (tmp_path / "reports" / "latest.html").read_text()
    assert (
        tmp_path / "reports" / f"earnings-{report.computed_at.astimezone(UTC).date()}.html"
    ).exists() or len(list((tmp_path / "reports").glob("earnings-*.html"))) == 1
    assert f'data-cents="{today.totals.total_charge_cents}"' in page
    assert 'id="stale" class="stale" data-as-of' in page and " hidden>" not in page


@pytest.mark.services
def test_the_check_fails_when_the_index_lacks_a_session(postgres, search, tmp_path):
    """A document deleted from the index behind the sync's back: the report (from search)
    and PostgreSQL's recomputation differ, and the check names the location."""
    assert run_with_dashboard(postgres, search, tmp_path).success
    with postgres.connect() as conn:
        session_id, location = conn.execute(
            "SELECT session_id, location_id FROM carpark.parking_sessions "
            "WHERE status = 'closed' ORDER BY exit_time DESC, session_id LIMIT 1"
        ).fetchone()
    with search.session_index() as index:
        index.delete_documents([session_id])
        checked = compute_report(postgres, index, now=datetime.now(UTC))
    assert f"today: {location}" in checked.differences
    assert any(d.startswith("today: hour ") for d in checked.differences)


@pytest.mark.services
def test_carpark_report_prints_the_same_figures(postgres, search, tmp_path, monkeypatch, capsys):
    result = run_with_dashboard(postgres, search, tmp_path)
    assert result.success
    report = result.output_for_node("location_earnings")
    monkeypatch.setenv("CARPARK_POSTGRES_DSN", postgres.dsn)
    monkeypatch.setenv("CARPARK_ES_URL", search.url)
    monkeypatch.setenv("CARPARK_ES_ALIAS", search.alias)
    monkeypatch.setenv("CARPARK_ES_LEGACY_ALIAS", "none")
    today = report.period("today")

    assert cli.main(["report", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["top_5"] == [f.location_id for f in today.top]
    assert document["totals"]["total_charge_cents"] == today.totals.total_charge_cents
    assert document["hourly_charge_cents"] == list(today.hourly_cents)
    assert {r["location_id"]: r["total_charge_cents"] for r in document["locations"]} == {
        f.location_id: f.total_charge_cents for f in today.locations
    }

    assert cli.main(["report", "--period", "7d", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["location_id"] for r in rows][-1] == ALL_LOCATIONS
    assert int(rows[-1]["total_charge_cents"]) == today.totals.total_charge_cents

    assert cli.main(["report"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("earnings today: exits from 2026-11-27 00:00 to 2026-11-27 10:00")
    # The top 5 first, in rank order, then the rest, then all locations.
    shown = [line.split()[1] for line in table[2:7]]
    assert shown == [f.location_id for f in today.top]
    assert table[-2].split()[:2] == ["all", "locations"]

    monkeypatch.setenv("CARPARK_ES_URL", "http://127.0.0.1:9")
    assert cli.main(["report"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("carpark report: ") and "\n" not in error and "Traceback" not in error


@pytest.mark.services
def test_the_period_read_sums_the_rollup_and_reads_sessions_only_at_the_edges(postgres):
    """The report's read sums the five-minute rollup over the period's whole buckets and
    reads single sessions only in the partial buckets at its edges (through the partial
    index on exit_time) and past the sync watermark (through the keyset index): never the
    period's sessions one by one (a seq scan ruled out: the test's tables are too small for
    the planner to prefer an index on its own)."""
    params = {
        "start": datetime(2026, 11, 27, 0, 2, tzinfo=UTC),
        "end": datetime(2026, 11, 28, tzinfo=UTC),
        "bucket_start": datetime(2026, 11, 27, 0, 5, tzinfo=UTC),
        "bucket_end": datetime(2026, 11, 28, tzinfo=UTC),
        "updated_at": datetime(2026, 11, 28, tzinfo=UTC),
        "session_id": "z",
    }
    with postgres.connect() as conn, conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            r[0] for r in conn.execute("EXPLAIN " + SELECT_PERIOD_FIGURES, params).fetchall()
        )
    assert "exit_rollup_pkey" in plan
    assert "parking_sessions_closed_by_exit" in plan
    assert "parking_sessions_changes" in plan
    assert "Seq Scan on parking_sessions" not in plan
