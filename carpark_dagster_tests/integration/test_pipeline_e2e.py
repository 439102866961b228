"""Two ticks of the whole pipeline against the real PostgreSQL and search node."""

from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from carpark_dagster.domain.windows import parse_moment
from carpark_dagster.resources import (
    CarparkConfigResource,
    ElasticsearchResource,
    PostgresResource,
    TickClockResource,
)
from carpark_dagster.resources.postgres import PostgresUnavailable
from carpark_dagster_tests.integration.pipeline_runs import pipeline_resources, run_pipeline

# Ticks start at 07:00: the first, at 09:00, processes two hours of Singapore morning traffic,
# the next the five minutes after.
FIRST_TICK = "2026-11-27T09:00+08:00"
NEXT_TICK = "2026-11-27T09:05+08:00"
FIRST_RANGE = ("2026-11-27T07:00+08:00", FIRST_TICK)

INDEPENDENT_TOP_5 = """
SELECT "LocationID", count(*), sum("Parking_Charges"), avg("Parking_Charges")
FROM public."CarPark"
WHERE "Exit_DateTime" IS NOT NULL
GROUP BY "LocationID"
ORDER BY avg("Parking_Charges") DESC, "LocationID"
LIMIT 5
"""
# Every closed session's exit is in the exit log, where the next tick's state read looks.
EXITS_NOT_LOGGED = """
SELECT count(*) FROM carpark.parking_sessions s
WHERE s.exit_time IS NOT NULL
  AND NOT EXISTS (SELECT FROM carpark.session_exits e
                  WHERE e.session_id = s.session_id AND e.exit_time = s.exit_time)
"""
# The tariff restated in SQL: 60 cents per started 30 minutes.
CHARGE_MISMATCHES = """
SELECT count(*) FROM carpark.parking_sessions
WHERE exit_time IS NOT NULL
  AND charge_cents <> ceil(extract(epoch FROM exit_time - entry_time) / 1800) * 60
"""


def _resources(postgres, search, tmp_path):
    return pipeline_resources(postgres, search, tmp_path, seed=42)


def _tick(resources, at: str, replay=None) -> dg.ExecuteInProcessResult:
    """A run that must succeed with every asset check passing."""
    result = run_pipeline(resources, at, replay=replay)
    assert result.success
    failed = [c.check_name for c in result.get_asset_check_evaluations() if not c.passed]
    assert failed == []
    return result


def _closed_ids(postgres: PostgresResource) -> list[str]:
    with postgres.connect() as conn:
        rows = conn.execute(
            "SELECT session_id FROM carpark.parking_sessions WHERE exit_time IS NOT NULL"
        ).fetchall()
    return sorted(r[0] for r in rows)


def _indexed_ids(search: ElasticsearchResource) -> list[str]:
    with search.session_index() as index:
        index.refresh()
        answer = index.engine.request(
            "POST",
            f"/{search.alias}/_search",
            body={"size": 10_000, "_source": False, "query": {"match_all": {}}},
        )
    return sorted(hit["_id"] for hit in answer["hits"]["hits"])


@pytest.mark.services
def test_two_ticks_agree_across_postgres_search_and_earnings(postgres, search, tmp_path):
    resources = _resources(postgres, search, tmp_path)
    _tick(resources, FIRST_TICK)
    after_first = _closed_ids(postgres)
    assert len(after_first) > 100

    _tick(resources, NEXT_TICK)
    pg_ids = _closed_ids(postgres)
    es_ids = _indexed_ids(search)
    assert len(pg_ids) > len(after_first)  # the second tick closed more sessions
    assert len(pg_ids) == len(set(pg_ids))
    assert es_ids == pg_ids  # same sessions, one document each

    with postgres.connect() as conn:
        assert conn.execute(CHARGE_MISMATCHES).fetchone()[0] == 0
        assert conn.execute(EXITS_NOT_LOGGED).fetchone()[0] == 0
        expected = conn.execute(INDEPENDENT_TOP_5).fetchall()
        stored = conn.execute(
            """SELECT rank, location_id, sessions, total_charge_cents, average_charge_cents
               FROM carpark.location_earnings
               WHERE computed_at = (SELECT max(computed_at) FROM carpark.location_earnings)
               ORDER BY rank"""
        ).fetchall()
    assert len(stored) == 5
    assert [r[0] for r in stored] == [1, 2, 3, 4, 5]
    for (loc, count, total_dollars, avg_dollars), row in zip(expected, stored, strict=True):
        assert row[1] == loc
        assert row[2] == count
        assert Decimal(row[3]) == total_dollars * 100
        assert row[4] == (avg_dollars * 100).quantize(Decimal("0.01"))


@pytest.mark.services
def test_re_running_a_tick_changes_nothing(postgres, search, tmp_path):
    resources = _resources(postgres, search, tmp_path)
    _tick(resources, FIRST_TICK)
    # Everything a tick writes, not only the sessions (the re-run once compared those alone).
    snapshots = [
        """SELECT session_id, status, exit_time, ended_at, charge_cents, updated_at
           FROM carpark.parking_sessions ORDER BY session_id""",
        "SELECT event_id FROM carpark.gate_events ORDER BY event_id",
        "SELECT event_id, event_time FROM carpark.pending_events ORDER BY event_id",
        "SELECT record_key, reason, first_seen FROM carpark.quarantine ORDER BY 1, 2",
        "SELECT * FROM carpark.location_totals ORDER BY location_id",
        "SELECT * FROM carpark.tick_progress",
    ]
    with postgres.connect() as conn:
        before = [conn.execute(sql).fetchall() for sql in snapshots]

    result = _tick(resources, NEXT_TICK, replay=FIRST_RANGE)

    with postgres.connect() as conn:
        assert [conn.execute(sql).fetchall() for sql in snapshots] == before
    synced = [
        m.metadata["documents_indexed"].value
        for m in result.asset_materializations_for_node("es_index")
    ]
    assert synced == [0]
    assert _indexed_ids(search) == _closed_ids(postgres)


@pytest.mark.services
def test_the_lab_view_reports_dollars(postgres, search, tmp_path):
    """Every row of the lab's view, each in exact dollars of its session's cents (the view once
    was checked on one row only)."""
    _tick(_resources(postgres, search, tmp_path), FIRST_TICK)
    with postgres.connect() as conn:
        rows = conn.execute(
            """SELECT s.status, s.charge_cents, c."Parking_Charges"
               FROM carpark.parking_sessions s
               LEFT JOIN public."CarPark" c ON c."Plate" = s.plate
                AND c."Entry_DateTime" = s.entry_time AND c."LocationID" = s.location_id"""
        ).fetchall()
        view_rows = conn.execute('SELECT count(*) FROM public."CarPark"').fetchone()[0]
    shown = [
        (status, cents, dollars) for status, cents, dollars in rows if status != "exit_not_recorded"
    ]
    assert len(shown) == view_rows > 100  # one view row per session, none twice
    closed = [(cents, dollars) for status, cents, dollars in shown if status == "closed"]
    assert len(closed) > 100
    assert all(isinstance(d, Decimal) and d * 100 == c for c, d in closed)
    assert all(d is None for status, _, d in shown if status == "open")


def test_unreachable_postgres_is_named_without_the_password():
    resource = PostgresResource(
        dsn="postgresql://carpark:s3cret-pw@127.0.0.1:1/carpark_db", connect_timeout_s=2
    )
    with pytest.raises(PostgresUnavailable) as caught:
        resource.migrate()
    message = str(caught.value)
    assert "127.0.0.1:1/carpark_db" in message
    assert "s3cret-pw" not in message
    assert not isinstance(caught.value, psycopg.Error)  # ours, with the hint, not a raw trace


# --------------------------------------------------------------------------- safeguards


def _check(result: dg.ExecuteInProcessResult, name: str):
    [evaluation] = [c for c in result.get_asset_check_evaluations() if c.check_name == name]
    return evaluation


def test_a_charge_off_the_tariff_fails_its_check_and_stores_nothing(
    postgres, search, tmp_path, monkeypatch
):
    import carpark_dagster.domain.ticks as ticks

    priced = ticks.price_sessions
    tampered = []

    def one_cent_more(sessions, tariffs):
        """The first closed session of the run costs a cent more than its tariff says."""
        result = priced(sessions, tariffs)
        closed = result.index[result["status"] == "closed"]
        if len(closed) and not tampered:
            result.loc[closed[:1], "charge_cents"] += 1
            tampered.append(result.loc[closed[0], "session_id"])
        return result

    monkeypatch.setattr(ticks, "price_sessions", one_cent_more)
    result = run_pipeline(_resources(postgres, search, tmp_path), FIRST_TICK)

    check = _check(result, "charges_follow_tariff")
    assert not check.passed
    assert check.metadata["mismatches"].value == 1
    assert check.metadata["first"].value == tampered[0]
    # Blocking: nothing downstream ran, and PostgreSQL holds none of it.
    for node in ("carpark_table", "es_index", "location_earnings"):
        assert result.asset_materializations_for_node(node) == []
    with postgres.connect() as conn:
        assert conn.execute("SELECT count(*) FROM carpark.parking_sessions").fetchone() == (0,)
        assert conn.execute("SELECT processed_until FROM carpark.tick_progress").fetchone() == (
            parse_moment(FIRST_RANGE[0], "start"),
        )


def test_a_session_the_engine_lost_fails_the_reconciliation_and_blocks_the_earnings(
    postgres, search, tmp_path
):
    resources = _resources(postgres, search, tmp_path)
    _tick(resources, FIRST_TICK)
    lost = _indexed_ids(search)[0]
    with search.session_index() as index:
        index.engine.request("DELETE", f"/{search.alias}/_doc/{lost}", params={"refresh": "true"})

    result = run_pipeline(resources, NEXT_TICK)

    check = _check(result, "search_matches_postgres")
    assert not check.passed
    location = lost.split("-")[2]  # ses-sim42-<location>-…
    assert check.metadata["locations_differing"].value == location
    assert result.asset_materializations_for_node("location_earnings") == []


# The hdb_eps tariff restated in SQL: 2 cents per started minute from the entry, nothing for a
# stay of at most 15 minutes, and the minutes that start in a night (22:30-07:00, Singapore
# time) cost at most 500 cents per night.
HDB_EPS_MISMATCHES = """
WITH s AS (
    SELECT session_id, entry_time, exit_time, charge_cents,
           ceil(extract(epoch FROM exit_time - entry_time) / 60)::int AS minutes
    FROM carpark.parking_sessions WHERE tariff = 'hdb_eps' AND status = 'closed'),
unit AS (
    SELECT s.session_id, (s.entry_time + k * interval '1 minute') AT TIME ZONE 'Asia/Singapore'
           AS local
    FROM s, generate_series(0, s.minutes - 1) AS k),
night AS (
    SELECT session_id,
           CASE WHEN local::time >= '22:30' THEN local::date
                WHEN local::time < '07:00' THEN local::date - 1 END AS night,
           count(*) * 2 AS cents
    FROM unit GROUP BY 1, 2),
rule AS (
    SELECT session_id,
           sum(CASE WHEN night IS NULL THEN cents ELSE least(cents, 500) END) AS cents,
           bool_or(night IS NOT NULL) AS in_a_night,
           bool_or(night IS NOT NULL AND cents > 500) AS capped
    FROM night GROUP BY 1)
SELECT count(*) FILTER (WHERE s.charge_cents <> CASE
           WHEN s.exit_time - s.entry_time <= interval '15 minutes' THEN 0
           ELSE coalesce(r.cents, 0) END),
       count(*) FILTER (WHERE r.in_a_night),
       count(*) FILTER (WHERE r.capped),
       count(*)
FROM s LEFT JOIN rule r USING (session_id)
"""


def test_overnight_stays_at_an_hdb_eps_location_follow_the_documented_rule(
    postgres, search, tmp_path
):
    """Both shipped tariffs, and a night: ticks from 17:00 to 09:00 the next morning."""
    shipped = Path(CarparkConfigResource().load().source).read_text()
    config = tmp_path / "carpark.toml"
    config.write_text(
        shipped + '\n[locations.HDB4]\nname = "HDB 4"\ntariff = "hdb_eps"\nplate_rule = "sg"\n'
    )
    resources = pipeline_resources(
        postgres, search, tmp_path, seed=5, config=CarparkConfigResource(path=str(config))
    )
    resources["tick_clock"] = TickClockResource(start="2026-11-26T17:00+08:00")
    result = run_pipeline(resources, "2026-11-27T09:00+08:00")
    assert result.success

    with postgres.connect() as conn:
        mismatches, overnight, capped, hdb = conn.execute(HDB_EPS_MISMATCHES).fetchone()
        mismatches_default = conn.execute(
            CHARGE_MISMATCHES.replace("WHERE exit_time", "WHERE tariff = 'default' AND exit_time")
        ).fetchone()[0]
    assert hdb > 50
    assert overnight > 10  # stays with minutes in the night, 22:30-07:00
    assert capped > 0  # some of them reached the night's cap
    assert mismatches == 0
    assert mismatches_default == 0
