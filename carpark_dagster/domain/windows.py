"""Five-minute windows of carpark time: which ones a tick processes.

Every tick processes, in order, each complete window from where the last one stopped
(`processed_until`) up to now, and judges each window's events as of that window's end. A
tick after an outage therefore catches up in one run, and a catch-up, a replay or a backfill
gives exactly what ticks at each window's end would have given (docs/time-model.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from carpark_dagster.domain.events import CARPARK_TIMEZONE

WINDOW = timedelta(minutes=5)
LOCAL_TZ = ZoneInfo(CARPARK_TIMEZONE)
_EPOCH = datetime(2000, 1, 1, tzinfo=LOCAL_TZ)  # a window boundary


class WindowError(ValueError):
    """A time or range of windows that cannot be processed; the message says why."""


@dataclass(frozen=True, order=True)
class Window:
    """`[start, end)`, five minutes of carpark time."""

    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"{self.start.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}"


def floor_window(moment: datetime) -> datetime:
    """The start of the window holding `moment` (in carpark time)."""
    _require_aware(moment)
    steps = (moment.astimezone(LOCAL_TZ) - _EPOCH) // WINDOW
    return (_EPOCH + steps * WINDOW).astimezone(LOCAL_TZ)


def windows_between(start: datetime, end: datetime) -> list[Window]:
    """The windows of `[start, end)`; both must be window boundaries."""
    for moment, name in ((start, "start"), (end, "end")):
        if floor_window(moment) != moment:
            raise WindowError(f"{name} {moment.isoformat()} is not on a five-minute boundary")
    count = max(0, (end - start) // WINDOW)
    first = start.astimezone(LOCAL_TZ)
    return [Window(first + i * WINDOW, first + (i + 1) * WINDOW) for i in range(count)]


def due_windows(processed_until: datetime, now: datetime, limit: int) -> list[Window]:
    """The complete windows after `processed_until` at `now`, oldest first, at most `limit`
    (the rest are due at the next tick)."""
    if limit < 1:
        raise WindowError(f"at least one window per run, not {limit}")
    last_end = floor_window(now)
    windows = windows_between(processed_until, max(processed_until, last_end))
    return windows[:limit]


def default_start(now: datetime) -> datetime:
    """Where a fresh install starts: local midnight of the day of its first run, when the
    carpark is taken to be empty."""
    return local_midnight(now.astimezone(LOCAL_TZ).date())


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=LOCAL_TZ)


def parse_moment(text: str, what: str) -> datetime:
    """An ISO date (local midnight) or date and time; without an offset, carpark time."""
    try:
        if len(text.strip()) == 10:
            return local_midnight(date.fromisoformat(text.strip()))
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise WindowError(
            f"{what}: not an ISO date or time (like 2026-11-27 or 2026-11-27T09:00+08:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_TZ)


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise WindowError(f"{moment.isoformat()} has no time zone")
