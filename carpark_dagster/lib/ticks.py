"""A tick: which windows are due, their events, their sessions, and storing them in order.

The assets `raw_car_events`, `closed_sessions` and `carpark_table` are these steps, one each;
`carpark replay` runs the same steps for a range. The time model is in docs/time-model.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from carpark_dagster.domain.config import CarparkConfig
from carpark_dagster.domain.events import EVENT_COLUMNS, empty_events
from carpark_dagster.domain.ticks import TickBatch, process_windows
from carpark_dagster.domain.windows import (
    Window,
    WindowError,
    due_windows,
    floor_window,
    windows_between,
)
from carpark_dagster.resources.clock import TickClockResource
from carpark_dagster.resources.postgres import (
    PostgresResource,
    ProgressStep,
    TickCounts,
    TickProgress,
)
from carpark_dagster.resources.simulator import GateSimulatorResource

# Where a run's events came from (`parking_sessions.source`).
SIMULATOR, INBOX = "simulator", "inbox"

# The events of each window, in order.
WindowEvents = list[tuple[Window, pd.DataFrame]]


@dataclass(frozen=True)
class TickPlan:
    """The windows a run processes: what is due since the last tick, or a replayed range."""

    windows: list[Window]
    progress: TickProgress  # before this run
    replay: bool = False

    @property
    def caught_up_from(self) -> datetime | None:
        return self.windows[0].start if self.windows else None

    @property
    def caught_up_to(self) -> datetime:
        return self.windows[-1].end if self.windows else self.progress.processed_until


@dataclass(frozen=True)
class TickWindows:
    """`raw_car_events`: the plan and each window's events, in order."""

    plan: TickPlan
    events: WindowEvents
    source: str = SIMULATOR  # what the events came from, kept on the sessions they make


@dataclass(frozen=True)
class TickRun:
    """`closed_sessions`: the plan and each window's batch, in order."""

    plan: TickPlan
    batches: list[TickBatch]
    source: str = SIMULATOR


def plan_tick(
    postgres: PostgresResource,
    clock: TickClockResource,
    replay: tuple[datetime, datetime] | None = None,
) -> TickPlan:
    """The due windows (at most the clock's `max_windows_per_run`), or the range `replay`,
    which must lie within what has been processed: replaying changes nothing that is right."""
    now = clock.current_time()
    if replay is None:
        progress = postgres.start_ticks(floor_window(clock.start_for(now)))
        windows = due_windows(progress.processed_until, now, clock.max_windows_per_run)
        return TickPlan(windows=windows, progress=progress)
    progress = postgres.tick_progress()
    start, end = replay
    # Before replayable_since, retention has deleted gate events a replay would re-read.
    if progress is None or not progress.replayable_since <= start < end <= progress.processed_until:
        done = (
            f"{progress.replayable_since.isoformat()} to {progress.processed_until.isoformat()}"
            if progress
            else "none yet"
        )
        held = (
            "; earlier ones' gate events were deleted by retention"
            if progress and progress.replayable_since > progress.start_at
            else ""
        )
        raise WindowError(
            f"replay {start.isoformat()} to {end.isoformat()}: only windows already processed "
            f"can be replayed ({done}{held}); the schedule processes later ones"
        )
    return TickPlan(windows=windows_between(start, end), progress=progress, replay=True)


def gather_windows(
    simulator: GateSimulatorResource | None,
    postgres: PostgresResource,
    config: CarparkConfig,
    plan: TickPlan,
) -> TickWindows:
    """Each window's events: the simulated gates' (unless `simulator` is None; they start
    empty at `start_at`), then the events landed from files in that window, in arrival
    order. A replay reads the same landed events again, so it gives what live ticks gave."""
    if not plan.windows:
        return TickWindows(plan, [], source=SIMULATOR if simulator is not None else INBOX)
    landed = postgres.landed_events(plan.windows[0].start, plan.windows[-1].end)
    since = plan.progress.start_at
    events: WindowEvents = []
    for window in plan.windows:
        parts = []
        if simulator is not None:
            parts.append(simulator.events_between(config, window.start, window.end, since))
        mine = landed[(landed["landed_at"] >= window.start) & (landed["landed_at"] < window.end)]
        if len(mine):
            parts.append(mine[EVENT_COLUMNS])
        if not parts:
            parts.append(empty_events())
        window_events = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        events.append((window, window_events))
    sources = [SIMULATOR] if simulator is not None else []
    if len(landed) or not sources:
        sources.append(INBOX)
    return TickWindows(plan, events, source="+".join(sources))


def close_windows(
    postgres: PostgresResource, config: CarparkConfig, windows: TickWindows
) -> TickRun:
    """Each window's tick batch, as ticks at each window's end would have made them."""
    batches = process_windows(windows.events, config, postgres.tick_inputs)
    return TickRun(windows.plan, batches, windows.source)


def store_batches(postgres: PostgresResource, run: TickRun) -> list[TickCounts]:
    """Each batch in its own transaction, in order. A live window counts as processed in the
    same transaction, so a run that stops half-way leaves no gap and no double; a batch made
    from a state that has moved on since (an old run re-executed) is refused."""
    counts = []
    for batch in run.batches:
        if run.plan.replay or batch.window is None:
            step = ProgressStep(expected=run.plan.progress.processed_until)
        else:
            step = ProgressStep(expected=batch.window.start, advance_to=batch.window.end)
        counts.append(postgres.record_tick(batch, source=run.source, progress=step))
    return counts
