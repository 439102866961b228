"""The legacy import as a Dagster job, for operators who prefer the UI to the command line:
the lab's CSV files (`paths`) and/or its PostgreSQL table (`from_postgres`).

The lab database's DSN is never in the run config (which the UI shows): the config names an
environment variable of the code server and run containers that holds it
(`dsn_env_var`, default CARPARK_LAB_POSTGRES_DSN; only names starting CARPARK_LAB_)."""

from dataclasses import asdict

import dagster as dg
from pydantic import Field

from carpark_dagster.domain.config import ConfigError
from carpark_dagster.domain.legacy import LAB_TABLE, LegacyFormatError
from carpark_dagster.lib.legacy_import import import_legacy_file, import_legacy_table
from carpark_dagster.resources import CarparkConfigResource, PostgresResource
from carpark_dagster.resources.legacy_database import (
    DEFAULT_BATCH_ROWS,
    LegacyDatabase,
    LegacyDatabaseUnavailable,
)
from carpark_dagster.settings import LAB_POSTGRES_DSN, lab_postgres_dsn

TOTALS = (
    "rows_read",
    "sessions",
    "open_sessions",
    "charges_corrected",
    "rows_rejected",
    "duplicates",
    "sessions_written",
    "quarantine_written",
)


class LegacyImportConfig(dg.Config):
    paths: list[str] = Field(
        default=[], description="carpark_system.csv files, as the code server sees them"
    )
    from_postgres: bool = Field(
        default=False, description="Also import the lab's PostgreSQL table (read-only)."
    )
    dsn_env_var: str = Field(
        default=LAB_POSTGRES_DSN,
        description="The environment variable holding the lab database's DSN (its name, "
        "never the DSN: run config is shown in the UI). Must start with CARPARK_LAB_.",
    )
    table: str = Field(default=LAB_TABLE, description="The lab's table, [schema.]table.")
    batch_rows: int = Field(
        default=DEFAULT_BATCH_ROWS, ge=1, description="Rows read and stored per transaction."
    )


@dg.op(
    description="Import the lab's carpark_system.csv files and/or its PostgreSQL table into "
    "carpark.parking_sessions."
)
def import_legacy_files(
    context: dg.OpExecutionContext,
    config: LegacyImportConfig,
    postgres: PostgresResource,
    carpark_config: CarparkConfigResource,
) -> dg.Output[list[dict]]:
    settings = carpark_config.load()
    if not config.paths and not config.from_postgres:
        raise dg.Failure("nothing to import: give paths, or from_postgres: true")
    summaries = []
    if config.from_postgres:
        try:
            lab = LegacyDatabase(lab_postgres_dsn(config.dsn_env_var))
            summary = import_legacy_table(
                lab,
                postgres,
                settings,
                table=config.table,
                batch_rows=config.batch_rows,
                progress=lambda p: context.log.info(p.line()),
            )
        except (ConfigError, LegacyFormatError, LegacyDatabaseUnavailable) as exc:
            # One line, already without the password: no traceback quoting psycopg.
            raise dg.Failure(str(exc)) from None
        context.log.info("\n".join(summary.lines()))
        summaries.append(asdict(summary))
    for path in config.paths:
        summary = import_legacy_file(path, postgres, settings)
        context.log.info("\n".join(summary.lines()))
        summaries.append(asdict(summary))
    return dg.Output(summaries, metadata={key: sum(s[key] for s in summaries) for key in TOTALS})


@dg.job(
    description="Import the lab's carpark_system.csv files (config: paths) or its PostgreSQL "
    "table (config: from_postgres, with the DSN in CARPARK_LAB_POSTGRES_DSN); also: carpark "
    "import-legacy."
)
def import_legacy_csv():
    import_legacy_files()
