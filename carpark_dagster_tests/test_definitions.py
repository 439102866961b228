"""The definitions load, validate, and keep their names (a rename breaks dashboards and runs)."""

import itertools
import subprocess
import sys
from pathlib import Path

import dagster as dg

from carpark_dagster.definitions import defs

ROOT = Path(__file__).resolve().parents[1]


def test_the_lineage_graph_is_the_five_assets_in_order():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {
        "raw_car_events",
        "closed_sessions",
        "carpark_table",
        "es_index",
        "location_earnings",
    }
    chain = ["raw_car_events", "closed_sessions", "carpark_table", "es_index", "location_earnings"]
    for upstream, downstream in itertools.pairwise(chain):
        parents = graph.get(dg.AssetKey(downstream)).parent_keys
        assert dg.AssetKey(upstream) in parents


def test_schedule_runs_every_five_minutes_and_is_on_by_default():
    schedule = defs.resolve_schedule_def("every_five_minutes")
    assert schedule.cron_schedule == "*/5 * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "carpark_tick"
    sensor = defs.resolve_sensor_def("first_tick_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_money_checks_are_blocking():
    checks = {
        spec.name: spec
        for spec in defs.resolve_asset_graph().asset_check_keys
        for spec in [defs.resolve_asset_graph().get_check_spec(spec)]
    }
    assert checks["charges_follow_tariff"].blocking
    assert checks["search_matches_postgres"].blocking


def test_dagster_definitions_validate_passes():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr
