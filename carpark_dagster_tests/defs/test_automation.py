"""The schedule and the first-tick sensor (what a tick processes is tested with the time
model: carpark_dagster_tests/domain/test_windows.py and integration/test_time_model.py)."""

from datetime import UTC, datetime

import dagster as dg

from carpark_dagster.defs.automation.schedules import every_five_minutes
from carpark_dagster.defs.automation.sensors import (
    FIRST_TICK_RUN_KEY,
    first_tick_request,
    first_tick_sensor,
)


def test_a_fresh_instance_gets_one_tick_at_once():
    with dg.instance_for_test() as instance:
        result = first_tick_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.RunRequest)
    assert result.run_key == FIRST_TICK_RUN_KEY


def test_once_data_exists_the_sensor_stays_quiet():
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization("carpark_table"))
        assert isinstance(first_tick_request(instance), dg.SkipReason)
        context = dg.build_sensor_context(instance=instance)
        assert isinstance(first_tick_sensor(context), dg.SkipReason)


def test_the_schedule_ticks_every_five_minutes_in_carpark_time_with_no_partitions():
    assert every_five_minutes.cron_schedule == "*/5 * * * *"
    assert every_five_minutes.execution_timezone == "Asia/Singapore"
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 27, 1, 5, tzinfo=UTC)
    )
    [request] = every_five_minutes.evaluate_tick(context).run_requests
    assert request.partition_key is None  # the tick works out what is due itself
