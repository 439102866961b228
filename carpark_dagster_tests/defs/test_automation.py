from datetime import UTC, datetime

import dagster as dg

from carpark_dagster.defs.automation.sensors import (
    RANGE_END,
    RANGE_START,
    bootstrap_window_keys,
    first_tick_request,
    first_tick_sensor,
)

NOW = datetime(2026, 11, 28, 2, 3, 30, tzinfo=UTC)  # 10:03:30 in Singapore


def test_bootstrap_covers_the_complete_windows_of_the_last_three_hours():
    assert bootstrap_window_keys(NOW) == ("2026-11-28-07:00", "2026-11-28-09:55")


def test_a_fresh_instance_gets_one_run_over_the_last_hours():
    with dg.instance_for_test() as instance:
        result = first_tick_request(instance, NOW)
    assert isinstance(result, dg.RunRequest)
    assert result.run_key == "bootstrap-2026-11-28-07:00"
    assert (result.tags[RANGE_START], result.tags[RANGE_END]) == (
        "2026-11-28-07:00",
        "2026-11-28-09:55",
    )


def test_once_data_exists_the_sensor_stays_quiet():
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization("carpark_table"))
        assert isinstance(first_tick_request(instance, NOW), dg.SkipReason)
        # The sensor itself, as the daemon calls it.
        context = dg.build_sensor_context(instance=instance)
        assert isinstance(first_tick_sensor(context), dg.SkipReason)
