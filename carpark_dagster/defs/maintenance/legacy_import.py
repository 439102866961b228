"""The legacy import as a Dagster job, for operators who prefer the UI to the command line."""

from dataclasses import asdict

import dagster as dg
from pydantic import Field

from carpark_dagster.lib.legacy_import import import_legacy_file
from carpark_dagster.resources import CarparkConfigResource, PostgresResource


class LegacyImportConfig(dg.Config):
    paths: list[str] = Field(description="carpark_system.csv files, as the code server sees them")


@dg.op(description="Import the lab's carpark_system.csv files into carpark.parking_sessions.")
def import_legacy_files(
    context: dg.OpExecutionContext,
    config: LegacyImportConfig,
    postgres: PostgresResource,
    carpark_config: CarparkConfigResource,
) -> dg.Output[list[dict]]:
    settings = carpark_config.load()
    summaries = []
    for path in config.paths:
        summary = import_legacy_file(path, postgres, settings)
        context.log.info("\n".join(summary.lines()))
        summaries.append(asdict(summary))
    return dg.Output(
        summaries,
        metadata={
            key: sum(s[key] for s in summaries)
            for key in (
                "rows_read",
                "sessions",
                "open_sessions",
                "charges_corrected",
                "rows_rejected",
                "sessions_written",
            )
        },
    )


@dg.job(
    description="Import the lab's carpark_system.csv files (config: paths; also: carpark "
    "import-legacy)."
)
def import_legacy_csv():
    import_legacy_files()
