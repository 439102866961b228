"""The tick job: the whole lineage graph, one five-minute window (or a range) per run."""

import dagster as dg

from carpark_dagster.defs.tick.assets import GROUP

PIPELINE_TAG = "carpark/pipeline"

carpark_tick_job = dg.define_asset_job(
    "carpark_tick",
    # The group the tick's assets are defined in, not a copy of its name.
    selection=dg.AssetSelection.groups(GROUP),
    description="One five-minute tick: events to sessions to PostgreSQL to search to earnings.",
    # Ticks run one at a time (see dagster.yaml): open sessions carry from one to the next.
    tags={PIPELINE_TAG: "tick"},
)
