"""When ticks start and what "now" is: the configuration of the time model."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from carpark_dagster.domain.windows import default_start, parse_moment

DEFAULT_MAX_WINDOWS_PER_RUN = 288  # a day


class TickClockResource(dg.ConfigurableResource):
    """Where the five-minute windows start, and how many one run may catch up."""

    start: str | None = Field(
        default=None,
        description="The first window (ISO date or time; without an offset, carpark time). "
        "Default: local midnight of the day of the first run. Only the first tick reads it.",
    )
    now: str | None = Field(
        default=None, description="A fixed 'now' (tests, demonstrations); default: the clock."
    )
    max_windows_per_run: int = Field(
        default=DEFAULT_MAX_WINDOWS_PER_RUN,
        ge=1,
        description="Windows one run processes at most; the next tick continues.",
    )

    def current_time(self) -> datetime:
        return parse_moment(self.now, "now") if self.now else datetime.now(UTC)

    def start_for(self, now: datetime) -> datetime:
        return parse_moment(self.start, "CARPARK_START") if self.start else default_start(now)
