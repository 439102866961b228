"""The definitions load, validate, and keep their names (a rename breaks dashboards and runs)."""

import itertools
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from carpark_dagster.definitions import defs

ROOT = Path(__file__).resolve().parents[2]
DEFS = defs()
LINEAGE = [
    "raw_car_events",
    "closed_sessions",
    "carpark_table",
    "es_index",
    "location_earnings",
    "earnings_dashboard",
]


def test_the_lineage_graph_is_the_six_assets_in_order():
    graph = DEFS.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {*LINEAGE, "gate_event_files"}
    # The inbox's files land upstream of the tick.
    for upstream, downstream in itertools.pairwise(["gate_event_files", *LINEAGE]):
        parents = graph.get(dg.AssetKey(downstream)).parent_keys
        assert dg.AssetKey(upstream) in parents


def test_the_tick_job_selects_every_asset_of_the_lineage_graph():
    """Whatever the assets' group is called, the tick job runs all of them (it once selected
    the group by a copy of its name)."""
    job = DEFS.resolve_job_def("carpark_tick")
    selected = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
    every_asset = {k.to_user_string() for k in DEFS.resolve_asset_graph().get_all_asset_keys()}
    assert selected == every_asset - {"gate_event_files"} == set(LINEAGE)
    checks = {key.name for key in job.asset_layer.asset_graph.asset_check_keys}
    assert checks == {
        "charges_follow_tariff",
        "search_matches_postgres",
        "search_has_no_dead_letters",
        "earnings_match_postgres",
    }


def test_schedule_runs_every_five_minutes_and_is_on_by_default():
    schedule = DEFS.resolve_schedule_def("every_five_minutes")
    assert schedule.cron_schedule == "*/5 * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "carpark_tick"
    sensor = DEFS.resolve_sensor_def("first_tick_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_the_maintenance_jobs_are_defined():
    rebuild = DEFS.resolve_job_def("rebuild_search_index")
    assert [node.name for node in rebuild.nodes] == ["rebuild_search_index_from_postgres"]
    imports = DEFS.resolve_job_def("import_legacy_csv")
    assert [node.name for node in imports.nodes] == ["import_legacy_files"]


def test_every_job_schedule_and_sensor_is_known():
    """A snapshot of the names: a rename or a definition lost by the autoloader shows here."""
    repository = DEFS.get_repository_def()
    assert sorted(j.name for j in repository.get_all_jobs() if not j.name.startswith("__")) == [
        "carpark_checks",
        "carpark_inbox",
        "carpark_retention",
        "carpark_tick",
        "import_legacy_csv",
        "rebuild_search_index",
    ]
    assert sorted(s.name for s in repository.schedule_defs) == [
        "daily_retention",
        "every_five_minutes",
        "hourly_checks",
    ]
    assert sorted(s.name for s in repository.sensor_defs) == [
        "first_tick_sensor",
        "inbox_sensor",
        "run_failure_alerts",
    ]
    assert sorted(DEFS.resources) == [
        "alert_webhook",
        "carpark_config",
        "check_limits",
        "gate_simulator",
        "inbox",
        "io_manager",
        "postgres",
        "postgres_monitor",
        "reports",
        "retention",
        "search",
        "tick_clock",
    ]


def test_the_failure_sensor_is_on_by_default_and_watches_every_job():
    sensor = DEFS.resolve_sensor_def("run_failure_alerts")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert isinstance(sensor, dg.RunStatusSensorDefinition)
    assert sensor.required_resource_keys == {"postgres_monitor", "alert_webhook"}
    # no job list: every job of the code location is watched
    assert sensor.targets == []


def test_the_failure_sensor_never_waits_for_the_writer_lock():
    assert DEFS.resources["postgres"].writer is True
    assert DEFS.resources["postgres_monitor"].writer is False
    assert DEFS.resources["postgres_monitor"].dsn == DEFS.resources["postgres"].dsn


def test_what_readers_see_has_a_freshness_policy():
    graph = DEFS.resolve_asset_graph()
    windows = {
        key: (policy.warn_window.to_timedelta(), policy.fail_window.to_timedelta())
        for key in LINEAGE
        if (policy := graph.get(dg.AssetKey(key)).freshness_policy) is not None
    }
    assert windows == {
        "es_index": (timedelta(minutes=10), timedelta(minutes=15)),
        "location_earnings": (timedelta(minutes=10), timedelta(minutes=15)),
    }


def test_retention_runs_daily_in_carpark_time_in_one_process_and_is_on_by_default():
    schedule = DEFS.resolve_schedule_def("daily_retention")
    assert schedule.job_name == "carpark_retention"
    assert schedule.cron_schedule == "17 3 * * *"
    assert schedule.execution_timezone == "Asia/Singapore"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    job = DEFS.resolve_job_def("carpark_retention")
    assert [node.name for node in job.nodes] == ["delete_expired_rows"]
    assert job.executor_def.name == dg.in_process_executor.name
    assert "postgres" in job.get_required_resource_defs()  # the writer lock comes with it


def test_every_check_is_known_with_its_asset_and_whether_it_blocks():
    """A snapshot of the checks: the tick's two in its ops, the stored state's five beside
    them. Money checks block; the quarantine's growth only warns."""
    graph = DEFS.resolve_asset_graph()
    checks = {
        key.name: (key.asset_key.to_user_string(), graph.get_check_spec(key).blocking)
        for key in graph.asset_check_keys
    }
    assert checks == {
        "charges_follow_tariff": ("closed_sessions", True),
        "search_matches_postgres": ("es_index", True),
        "sessions_not_negative": ("carpark_table", True),
        "no_open_session_past_max_stay": ("carpark_table", True),
        "quarantine_growth_within_limit": ("carpark_table", False),
        "stored_charges_follow_tariff": ("carpark_table", True),
        "search_reconciles_with_postgres": ("es_index", True),
        # Dead letters are a warning that stays visible; they do not hold the earnings back.
        "search_has_no_dead_letters": ("es_index", False),
        # Money: the report from the search engine equals PostgreSQL's, or no dashboard.
        "earnings_match_postgres": ("location_earnings", True),
    }


def test_the_checks_job_runs_the_stored_state_checks_and_materialises_nothing():
    job = DEFS.resolve_job_def("carpark_checks")
    assert job.asset_layer.selected_asset_keys == set()
    checks = {key.name for key in job.asset_layer.asset_graph.asset_check_keys}
    assert checks == {
        "sessions_not_negative",
        "no_open_session_past_max_stay",
        "quarantine_growth_within_limit",
        "stored_charges_follow_tariff",
        "search_reconciles_with_postgres",
    }
    # One step per check, no asset's op.
    assert sorted(node.name for node in job.nodes) == [
        "carpark_table_no_open_session_past_max_stay",
        "carpark_table_quarantine_growth_within_limit",
        "carpark_table_sessions_not_negative",
        "carpark_table_stored_charges_follow_tariff",
        "es_index_search_reconciles_with_postgres",
    ]
    assert job.executor_def is dg.in_process_executor
    schedule = DEFS.resolve_schedule_def("hourly_checks")
    assert schedule.job_name == "carpark_checks"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def test_dagster_definitions_validate_passes():
    result = subprocess.run(
        [_tool("dagster"), "definitions", "validate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


@pytest.mark.parametrize("command", [["check", "defs"], ["list", "defs", "--json"]])
def test_the_dg_cli_works_in_the_repository(command):
    env = {**os.environ, "VIRTUAL_ENV": str(Path(sys.executable).parents[1])}
    result = subprocess.run(
        [_tool("dg"), *command], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    if command[0] == "list":
        assert all(f'"{key}"' in result.stdout for key in LINEAGE)
    else:
        assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_loading_the_code_location_tunes_the_garbage_collector_for_ticks():
    """A run worker loads the definitions, then runs: what was loaded stays for the process,
    and a full garbage collection inside a tick need not walk it (bench/RESULTS.md)."""
    script = (
        "import gc; from carpark_dagster.definitions import defs; defs(); "
        "print(gc.get_freeze_count(), len(gc.get_objects()), gc.get_threshold()[0])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    frozen, tracked, young = map(int, result.stdout.split())
    assert frozen > 100_000
    assert tracked < frozen / 100
    assert young == 10_000  # a young collection every 10,000 new objects, not 700
