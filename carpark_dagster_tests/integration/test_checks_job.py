"""The checks job `carpark_checks`, as the code location defines it, run for real after a
pipeline run against the real PostgreSQL and search node: every check passes on what the ticks
stored, and one deliberate violation per check fails that check alone, with its figures."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from carpark_dagster.definitions import defs
from carpark_dagster.domain.checks import DEFAULT_QUARANTINE_MAX_PER_HOUR
from carpark_dagster.resources import CheckLimitsResource, ElasticsearchResource
from carpark_dagster_tests.integration.pipeline_runs import pipeline_resources, run_pipeline

FIRST_TICK = "2026-11-27T09:00+08:00"
PROCESSED_UNTIL = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # the end of the 08:55 window
MAX_STAY = timedelta(hours=72)  # the shipped configuration's, at every location
CHECKS = {
    "sessions_not_negative",
    "no_open_session_past_max_stay",
    "quarantine_growth_within_limit",
    "stored_charges_follow_tariff",
    "search_reconciles_with_postgres",
}
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)  # an updated_at behind any check's watermark


def _run_checks(resources: dict, **limits) -> tuple[dg.ExecuteInProcessResult, dict]:
    """One run of the job `carpark_checks` of the code location, with the test's resources."""
    job = defs().resolve_job_def("carpark_checks")
    result = job.execute_in_process(
        resources={**resources, "check_limits": CheckLimitsResource(**limits)},
        raise_on_error=False,
    )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == CHECKS
    assert result.asset_materializations_for_node("carpark_table") == []
    return result, evaluations


def _values(evaluation) -> dict:
    return {key: value.value for key, value in evaluation.metadata.items()}


def _failed(evaluations: dict) -> set[str]:
    return {name for name, e in evaluations.items() if not e.passed}


def _ticked(postgres, search, tmp_path) -> dict:
    resources = pipeline_resources(postgres, search, tmp_path, seed=42)
    assert run_pipeline(resources, FIRST_TICK).success
    return resources


def _one(postgres, sql: str, params=None):
    with postgres.connect() as conn:
        return conn.execute(sql, params).fetchone()


def _insert_session(postgres, session_id: str, location: str, **columns) -> None:
    row = {
        "session_id": session_id,
        "plate": session_id.upper(),
        "location_id": location,
        "entry_event_id": session_id,
        "tariff": "default",
        "updated_at": LONG_AGO,
        **columns,
    }
    names = ", ".join(row)
    values = ", ".join(f"%({name})s" for name in row)
    with postgres.connect() as conn:
        conn.execute(f"INSERT INTO carpark.parking_sessions ({names}) VALUES ({values})", row)


@pytest.mark.services
def test_every_check_passes_on_what_the_ticks_stored(postgres, search, tmp_path):
    resources = _ticked(postgres, search, tmp_path)
    ended, opened = _one(
        postgres,
        """SELECT count(*) FILTER (WHERE charge_cents IS NOT NULL),
                  count(*) FILTER (WHERE status = 'open')
           FROM carpark.parking_sessions""",
    )
    (last_change,) = _one(postgres, "SELECT max(updated_at) FROM carpark.parking_sessions")
    # Judged by the wall clock (days later), every car still parked would be past its stay.
    (open_by_wall_clock,) = _one(
        postgres,
        "SELECT count(*) FROM carpark.parking_sessions WHERE status = 'open' "
        "AND entry_time < now() - %s",
        (MAX_STAY,),
    )
    assert ended > 100 and opened > 10
    assert open_by_wall_clock == opened
    with postgres.connect() as conn:
        quarantined = dict(
            conn.execute("SELECT source, count(*) FROM carpark.quarantine GROUP BY source")
        )
    # The first 100 changes in keyset order, of which those with a charge are judged.
    (first_ended,) = _one(
        postgres,
        """SELECT count(charge_cents) FROM (
               SELECT charge_cents FROM carpark.parking_sessions
               ORDER BY updated_at, session_id LIMIT 100) AS first""",
    )

    # A run judges at most `charges_per_run` changes; the next one continues.
    result, evaluations = _run_checks(resources, charges_per_run=100, page_size=30)
    assert result.success
    assert _failed(evaluations) == set()
    charges = _values(evaluations["stored_charges_follow_tariff"])
    assert (charges["sessions_checked"], charges["caught_up"]) == (first_ended, False)

    result, evaluations = _run_checks(resources)
    assert result.success
    assert _failed(evaluations) == set()
    assert _values(evaluations["sessions_not_negative"]) == {
        "negative_durations": 0,
        "negative_charges": 0,
        "locations": "none",
        "by_location": [],
    }
    assert _values(evaluations["no_open_session_past_max_stay"]) == {
        "processed_until": PROCESSED_UNTIL.isoformat(),
        "open_past_max_stay": 0,
        "locations": "none",
        "oldest_entry": "-",
        "by_location": [],
    }
    assert _values(evaluations["quarantine_growth_within_limit"]) == {
        "quarantined_last_hour": sum(quarantined.values()),
        "limit_per_hour": DEFAULT_QUARANTINE_MAX_PER_HOUR,
        "by_source": quarantined,
    }
    charges = _values(evaluations["stored_charges_follow_tariff"])
    assert charges["sessions_checked"] == ended - first_ended
    assert (charges["mismatches"], charges["unknown_tariff"]) == (0, 0)
    assert (charges["caught_up"], charges["changed_until"]) == (True, last_change.isoformat())
    assert _values(evaluations["search_reconciles_with_postgres"]) == {
        "locations_differing": "none",
        "differences": [],
        "dead_letters_excluded": 0,
    }

    # Nothing has changed since: nothing to judge.
    _, evaluations = _run_checks(resources)
    charges = _values(evaluations["stored_charges_follow_tariff"])
    assert (charges["sessions_checked"], charges["caught_up"]) == (0, True)
    assert charges["changed_after"] == charges["changed_until"] == last_change.isoformat()


@pytest.mark.services
def test_a_negative_duration_or_charge_fails_its_check_and_the_run(postgres, search, tmp_path):
    resources = _ticked(postgres, search, tmp_path)
    _run_checks(resources)
    with postgres.connect() as conn:  # the schema refuses a negative charge: as if it had not
        conn.execute(
            "ALTER TABLE carpark.parking_sessions "
            "DROP CONSTRAINT parking_sessions_charge_cents_check"
        )
    # Ended without an exit: outside the closed totals and the index, so no other check sees it.
    ended = {
        "status": "exit_not_recorded",
        "entry_time": PROCESSED_UNTIL,
        "ended_at": PROCESSED_UNTIL,
    }
    _insert_session(postgres, "bad-1", "Park3", duration_seconds=-60, charge_cents=0, **ended)
    _insert_session(postgres, "bad-2", "Park3", duration_seconds=None, charge_cents=-100, **ended)
    _insert_session(postgres, "bad-3", "Park5", duration_seconds=-1, charge_cents=-1, **ended)

    result, evaluations = _run_checks(resources)

    assert _failed(evaluations) == {"sessions_not_negative"}
    check = evaluations["sessions_not_negative"]
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert _values(check) == {
        "negative_durations": 2,
        "negative_charges": 2,
        "locations": "Park3, Park5",
        "by_location": [
            {"location_id": "Park3", "negative_durations": 1, "negative_charges": 1},
            {"location_id": "Park5", "negative_durations": 1, "negative_charges": 1},
        ],
    }
    assert not result.success  # a blocking ERROR check fails the run: the failure alerts see it


@pytest.mark.services
def test_an_open_session_past_its_max_stay_at_the_last_processed_window_fails(
    postgres, search, tmp_path
):
    resources = _ticked(postgres, search, tmp_path)
    past = PROCESSED_UNTIL - MAX_STAY - timedelta(minutes=1)
    _insert_session(postgres, "stale-1", "Park1", status="open", entry_time=past)
    # Exactly max stay as of the last window: the tick ends it only once it is over.
    _insert_session(
        postgres, "due-1", "Park1", status="open", entry_time=past + timedelta(minutes=1)
    )

    result, evaluations = _run_checks(resources)

    assert _failed(evaluations) == {"no_open_session_past_max_stay"}
    assert _values(evaluations["no_open_session_past_max_stay"]) == {
        "processed_until": PROCESSED_UNTIL.isoformat(),
        "open_past_max_stay": 1,
        "locations": "Park1",
        "oldest_entry": past.isoformat(),
        "by_location": [
            {
                "location_id": "Park1",
                "sessions": 1,
                "oldest_entry": past.isoformat(),
                "entered_before": (PROCESSED_UNTIL - MAX_STAY).isoformat(),
            }
        ],
    }
    assert not result.success


@pytest.mark.services
def test_quarantine_growth_over_the_limit_warns_without_failing_the_run(postgres, search, tmp_path):
    resources = _ticked(postgres, search, tmp_path)
    (from_the_tick,) = _one(postgres, "SELECT count(*) FROM carpark.quarantine")
    with postgres.connect() as conn:
        for number, age in enumerate([timedelta(0)] * 3 + [timedelta(hours=2)] * 2):
            conn.execute(
                """INSERT INTO carpark.quarantine (record_key, reason, source, record, first_seen)
                   VALUES (%s, 'test', 'test', '{}', now() - %s)""",
                (f"rec-{number}", age),
            )
    last_hour = from_the_tick + 3  # the two of two hours ago do not count

    result, evaluations = _run_checks(resources, quarantine_max_per_hour=last_hour)
    assert _failed(evaluations) == set()

    result, evaluations = _run_checks(resources, quarantine_max_per_hour=last_hour - 1)

    assert _failed(evaluations) == {"quarantine_growth_within_limit"}
    check = evaluations["quarantine_growth_within_limit"]
    assert check.severity == dg.AssetCheckSeverity.WARN
    values = _values(check)
    assert (values["quarantined_last_hour"], values["limit_per_hour"]) == (last_hour, last_hour - 1)
    assert values["by_source"]["test"] == 3
    assert sum(values["by_source"].values()) == last_hour
    assert result.success  # bad input never stops anything: a warning, not a failed run


@pytest.mark.services
def test_stored_charges_off_the_tariff_fail_although_the_totals_still_agree(
    postgres, search, tmp_path
):
    resources = _ticked(postgres, search, tmp_path)
    _run_checks(resources)  # everything so far judged
    location, first, second = _one(
        postgres,
        """SELECT location_id, min(session_id), max(session_id)
           FROM carpark.parking_sessions WHERE status = 'closed' AND charge_cents >= 60
           GROUP BY location_id ORDER BY location_id LIMIT 1""",
    )
    shift = """UPDATE carpark.parking_sessions
               SET charge_cents = charge_cents + %s, updated_at = clock_timestamp()
               WHERE session_id = %s"""
    with postgres.connect() as conn:
        conn.execute(shift, (60, first))
        conn.execute(shift, (-60, second))  # the location's sum is unchanged

    result, evaluations = _run_checks(resources)

    # The search index still adds up: only judging each charge finds these.
    assert _failed(evaluations) == {"stored_charges_follow_tariff"}
    values = _values(evaluations["stored_charges_follow_tariff"])
    assert (values["sessions_checked"], values["mismatches"]) == (2, 2)
    assert values["mismatches_by_location"] == {location: 2}
    assert values["locations"] == location
    assert not result.success

    # Each change is judged once; a corrected charge is a change, and judged again.
    _, evaluations = _run_checks(resources)
    assert _values(evaluations["stored_charges_follow_tariff"])["sessions_checked"] == 0
    with postgres.connect() as conn:
        conn.execute(shift, (-60, first))
        conn.execute(shift, (60, second))
    result, evaluations = _run_checks(resources)
    assert result.success
    values = _values(evaluations["stored_charges_follow_tariff"])
    assert (values["sessions_checked"], values["mismatches"]) == (2, 0)


@pytest.mark.services
def test_a_document_missing_from_the_index_fails_the_reconciliation(postgres, search, tmp_path):
    resources = _ticked(postgres, search, tmp_path)
    lost, location, charge = _one(
        postgres,
        """SELECT session_id, location_id, charge_cents FROM carpark.parking_sessions
           WHERE status = 'closed' AND charge_cents > 0 ORDER BY session_id LIMIT 1""",
    )
    sessions, total = _one(
        postgres,
        "SELECT sessions, total_charge_cents FROM carpark.location_totals WHERE location_id = %s",
        (location,),
    )
    with search.session_index() as index:
        index.engine.request("DELETE", f"/{search.alias}/_doc/{lost}", params={"refresh": "true"})

    result, evaluations = _run_checks(resources)

    assert _failed(evaluations) == {"search_reconciles_with_postgres"}
    assert _values(evaluations["search_reconciles_with_postgres"]) == {
        "locations_differing": location,
        "differences": [
            {
                "location_id": location,
                "postgres_sessions": sessions,
                "index_documents": sessions - 1,
                "postgres_charge_cents": total,
                "index_charge_cents": total - charge,
            }
        ],
        "dead_letters_excluded": 0,
    }
    assert not result.success

    # Refused by the engine instead of lost: a dead letter, expected to be missing (and
    # reported by search_has_no_dead_letters).
    with postgres.connect() as conn:
        conn.execute(
            "INSERT INTO carpark.search_dead_letters (session_id, status, reason) "
            "VALUES (%s, 400, 'mapper_parsing_exception')",
            (lost,),
        )
    result, evaluations = _run_checks(resources)
    assert _failed(evaluations) == set()
    assert _values(evaluations["search_reconciles_with_postgres"]) == {
        "locations_differing": "none",
        "differences": [],
        "dead_letters_excluded": 1,
    }
    assert result.success


@pytest.mark.services
def test_an_unreachable_search_engine_fails_the_reconciliation_by_name(postgres, search, tmp_path):
    resources = pipeline_resources(postgres, search, tmp_path, seed=42)
    gone = ElasticsearchResource(url="http://carpark:s3cret@127.0.0.1:1", max_retries=0)

    result = (
        defs()
        .resolve_job_def("carpark_checks")
        .execute_in_process(resources={**resources, "search": gone}, raise_on_error=False)
    )

    assert not result.success
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {name: True for name in CHECKS - {"search_reconciles_with_postgres"}}
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "cannot reconcile the search index" in message
    assert "s3cret" not in message
