"""The tick job: the whole lineage graph, every window that is due, in one process."""

import dagster as dg

from carpark_dagster.defs.inbox.assets import INBOX_GROUP
from carpark_dagster.defs.tick.assets import GROUP, TICK_CHECKS

PIPELINE_TAG = "carpark/pipeline"

carpark_tick_job = dg.define_asset_job(
    "carpark_tick",
    # The group the tick's assets are defined in, not a copy of its name; with the checks in
    # their ops, not those of the stored state (the hourly carpark_checks job runs them).
    # Named positively, so the job also resolves where the stored-state checks are not
    # defined (tests that load the tick's assets alone).
    selection=dg.AssetSelection.groups(GROUP).without_checks()
    | dg.AssetSelection.checks(*TICK_CHECKS),
    description="Every five-minute window due since the last tick: events to sessions to "
    "PostgreSQL to search to earnings. With replay_from/replay_to (config of raw_car_events "
    "and carpark_table): re-process a range, idempotently.",
    # Ticks run one at a time (see dagster.yaml). That is a courtesy to the queue: what keeps
    # writers apart, whatever launched them, is the PostgreSQL writer lock.
    tags={PIPELINE_TAG: "tick"},
    # A linear chain: one process, no process start per step.
    executor_def=dg.in_process_executor,
)

carpark_inbox_job = dg.define_asset_job(
    "carpark_inbox",
    selection=dg.AssetSelection.groups(INBOX_GROUP),
    description="Land the complete gate files waiting in the inbox (the inbox sensor "
    "launches it); the next tick processes their events.",
    tags={PIPELINE_TAG: "inbox"},
    executor_def=dg.in_process_executor,
)
