"""The checks job: every check of the stored state, nothing materialised, in one process."""

import dagster as dg

from carpark_dagster.defs.automation.jobs import PIPELINE_TAG
from carpark_dagster.defs.checks.stored_state import STORED_STATE_CHECKS

carpark_checks_job = dg.define_asset_job(
    "carpark_checks",
    selection=dg.AssetSelection.checks(*STORED_STATE_CHECKS),
    description="The checks of the stored state (PostgreSQL and the search index), without "
    "materialising any asset. A failed ERROR check fails the run.",
    # Queued with the ticks (one at a time, see dagster.yaml): it takes the writer lock like
    # them, so it judges the state between two ticks, never one half-written.
    tags={PIPELINE_TAG: "checks"},
    executor_def=dg.in_process_executor,
)
