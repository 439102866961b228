"""Five-minute windows of carpark time (Asia/Singapore)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from carpark_dagster.domain.events import CARPARK_TIMEZONE

TICK_CRON = "*/5 * * * *"

five_minute_windows = dg.TimeWindowPartitionsDefinition(
    cron_schedule=TICK_CRON,
    start=datetime(2026, 11, 1, tzinfo=ZoneInfo(CARPARK_TIMEZONE)),
    timezone=CARPARK_TIMEZONE,
    fmt="%Y-%m-%d-%H:%M",
)
