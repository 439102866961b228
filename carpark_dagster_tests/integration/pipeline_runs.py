"""Runs of the whole five-asset pipeline in-process, against the real services, with the tick
clock pinned: a run "at" a time processes every window due by then."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from carpark_dagster.defs.tick import assets
from carpark_dagster.resources import (
    CarparkConfigResource,
    ElasticsearchResource,
    GateSimulatorResource,
    InboxResource,
    PostgresResource,
    RunPickleIOManager,
    TickClockResource,
)

# The morning the tests simulate: ticks start at 07:00 Singapore time.
START = "2026-11-27T07:00+08:00"


def pipeline_resources(
    postgres: PostgresResource,
    search: ElasticsearchResource,
    base_dir: object,
    seed: int,
    config: CarparkConfigResource | None = None,
    source: str = "simulator",
) -> dict:
    """The pipeline's resources: the test's database and alias, a simulator with `seed`, an
    inbox in `base_dir`/inbox read when `source` says so."""
    return {
        "postgres": postgres,
        "search": search,
        "carpark_config": config or CarparkConfigResource(),
        "gate_simulator": GateSimulatorResource(seed=seed, volume_scale=1.5),
        "io_manager": RunPickleIOManager(base_dir=str(base_dir)),
        "tick_clock": TickClockResource(start=START),
        "inbox": InboxResource(source=source, directory=str(Path(str(base_dir)) / "inbox")),
    }


def run_pipeline(
    resources: dict,
    at: str,
    replay: tuple[str, str] | None = None,
    selection: list | None = None,
) -> dg.ExecuteInProcessResult:
    """One run of the whole pipeline at time `at` (or replaying a range); failures are in the
    result, not raised."""
    clock = resources["tick_clock"]
    pinned = TickClockResource(
        start=clock.start, now=at, max_windows_per_run=clock.max_windows_per_run
    )
    run_resources = {**resources, "tick_clock": pinned}
    run_config = None
    if replay is not None:
        tick = {"config": {"replay_from": replay[0], "replay_to": replay[1]}}
        run_config = {"ops": {"raw_car_events": tick}}
    return dg.materialize(
        selection or dg.load_assets_from_modules([assets]),
        resources=run_resources,
        raise_on_error=False,
        run_config=run_config,
    )
