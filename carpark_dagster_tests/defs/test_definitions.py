"""The definitions load, validate, and keep their names (a rename breaks dashboards and runs)."""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from carpark_dagster.definitions import defs

ROOT = Path(__file__).resolve().parents[2]
DEFS = defs()
LINEAGE = ["raw_car_events", "closed_sessions", "carpark_table", "es_index", "location_earnings"]


def test_the_lineage_graph_is_the_five_assets_in_order():
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
        "carpark_inbox",
        "carpark_tick",
        "import_legacy_csv",
        "rebuild_search_index",
    ]
    assert [s.name for s in repository.schedule_defs] == ["every_five_minutes"]
    assert [s.name for s in repository.sensor_defs] == ["first_tick_sensor", "inbox_sensor"]
    assert sorted(DEFS.resources) == [
        "carpark_config",
        "gate_simulator",
        "inbox",
        "io_manager",
        "postgres",
        "search",
        "tick_clock",
    ]


def test_money_checks_are_blocking():
    graph = DEFS.resolve_asset_graph()
    checks = {key.name: graph.get_check_spec(key) for key in graph.asset_check_keys}
    assert checks["charges_follow_tariff"].blocking
    assert checks["search_matches_postgres"].blocking
    # Dead letters are a warning that stays visible; they do not hold the earnings back.
    assert not checks["search_has_no_dead_letters"].blocking


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
