from datetime import UTC, datetime

import dagster as dg

from carpark_dagster.automation import bootstrap_window_keys, first_tick_sensor

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def test_bootstrap_covers_the_complete_windows_of_the_last_three_hours():
    now = datetime(2026, 11, 28, 2, 3, 30, tzinfo=UTC)  # 10:03:30 in Singapore
    assert bootstrap_window_keys(now) == ("2026-11-28-07:00", "2026-11-28-09:55")


def test_a_fresh_instance_gets_one_run_over_the_last_hours():
    with dg.instance_for_test() as instance:
        result = first_tick_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.RunRequest)
    assert result.run_key.startswith("bootstrap-")
    first, last = bootstrap_window_keys(datetime.now(UTC))
    assert result.tags[RANGE_START] == first
    assert result.tags[RANGE_END] == last


def test_once_data_exists_the_sensor_stays_quiet():
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization("carpark_table"))
        result = first_tick_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SkipReason)
