"""Import the lab's data into the sessions table: its `carpark_system.csv` files or its
PostgreSQL table.

    carpark import-legacy carpark_system.csv [more.csv ...]
    carpark import-legacy --from-postgres DSN [--table public.CarPark]

(also the Dagster job `import_legacy_csv`). Closed rows become sessions, blank exits open
sessions; charges are recomputed with each location's tariff and the recorded charge is kept
beside ours (`recorded_charge`, flagged by `charge_corrected`). Rows that cannot be taken go to
quarantine with a reason; exact repeats of a row (the lab's re-runs) are collapsed and counted.
Re-importing changes nothing. Both sources go through the same rules (`domain/legacy.py`);
the table is read in batches, each stored in its own transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd

from carpark_dagster.domain.config import CarparkConfig
from carpark_dagster.domain.legacy import (
    LAB_TABLE,
    parse_legacy_rows,
    parse_table_name,
    read_legacy_csv,
)
from carpark_dagster.domain.sessions import ANOMALY_COLUMNS, price_sessions
from carpark_dagster.domain.ticks import TickBatch
from carpark_dagster.resources.legacy_database import DEFAULT_BATCH_ROWS, LegacyDatabase
from carpark_dagster.resources.postgres import PostgresResource

Seen = tuple[frozenset[str], frozenset[str]]  # session ids and row keys of a batch


@dataclass(frozen=True)
class ImportSummary:
    file: str
    rows_read: int
    sessions: int
    open_sessions: int
    charges_corrected: int
    rows_rejected: int  # quarantined, with a reason
    duplicates: int  # exact repeats of an earlier row, dropped (nothing of them is lost)
    sessions_written: int
    quarantine_written: int
    seconds: float

    def lines(self) -> list[str]:
        return [
            f"{self.file}:",
            f"  rows read          {self.rows_read:>8}",
            f"  sessions           {self.sessions:>8}"
            f"  (closed {self.sessions - self.open_sessions}, still parked {self.open_sessions})",
            f"  charges corrected  {self.charges_corrected:>8}  (the lab's charge differed from"
            " the tariff's)",
            f"  rows rejected      {self.rows_rejected:>8}  (see carpark.quarantine)",
            f"  duplicates         {self.duplicates:>8}  (exact repeats of a row, e.g. the lab's"
            " re-runs: collapsed)",
            f"  written            {self.sessions_written:>8}  sessions,"
            f" {self.quarantine_written} quarantined rows (0 when imported before)",
            f"  took               {self.seconds:>8.2f} s",
        ]

    def __add__(self, other: ImportSummary) -> ImportSummary:
        counts = {
            name: getattr(self, name) + getattr(other, name)
            for name in self.__dataclass_fields__
            if name != "file"
        }
        return ImportSummary(file=self.file, **counts)


@dataclass(frozen=True)
class ImportProgress:
    rows_read: int
    sessions: int
    seconds: float

    def line(self) -> str:
        rate = self.rows_read / self.seconds if self.seconds > 0 else 0.0
        return (
            f"... {self.rows_read} rows read, {self.sessions} sessions, "
            f"{self.seconds:.1f} s ({rate:,.0f} rows/s)"
        )


def import_legacy_file(
    path: str | Path,
    postgres: PostgresResource,
    config: CarparkConfig,
    now: datetime | None = None,
) -> ImportSummary:
    started = time.perf_counter()
    path = Path(path)
    summary, _ = _import_rows(
        read_legacy_csv(path), postgres, config, f"legacy:{path.name}", _now(now)
    )
    return _finished(summary, str(path), started)


def import_legacy_table(
    database: LegacyDatabase,
    postgres: PostgresResource,
    config: CarparkConfig,
    table: str = LAB_TABLE,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Callable[[ImportProgress], None] | None = None,
    now: datetime | None = None,
) -> ImportSummary:
    """Import the lab's table `table` (`schema.table`), `batch_rows` rows per transaction;
    `progress` is told after each batch."""
    started = time.perf_counter()
    parts = parse_table_name(table)
    name = ".".join(parts)
    source = f"legacy:postgres:{database.dbname()}/{name}"
    now = _now(now)
    total = _empty(name)
    earlier: Seen = (frozenset(), frozenset())
    for raw in database.read_rows(parts, batch_rows):
        batch, earlier = _import_rows(raw, postgres, config, source, now, earlier)
        total += batch
        if progress is not None:
            progress(ImportProgress(total.rows_read, total.sessions, time.perf_counter() - started))
    return _finished(total, f"{name} in {database.describe()}", started)


def _import_rows(
    raw: pd.DataFrame,
    postgres: PostgresResource,
    config: CarparkConfig,
    source: str,
    now: datetime,
    earlier: Seen = (frozenset(), frozenset()),
) -> tuple[ImportSummary, Seen]:
    """Store one batch of the lab's rows; return its counts and what it has seen (repeats of
    which in the next batch are duplicates: the table is read in order)."""
    rows = parse_legacy_rows(
        raw,
        known_locations=set(config.locations),
        now=now,
        earlier_session_ids=earlier[0],
        earlier_row_keys=earlier[1],
    )
    tariffs = {loc: location.tariff for loc, location in config.locations.items()}
    sessions = price_sessions(rows.sessions, tariffs)
    closed = sessions["exit_time"].notna()
    recorded = sessions["recorded_charge"]
    corrected = (
        closed
        & recorded.notna()
        & (
            recorded.map(lambda d: d * 100 if isinstance(d, Decimal) else None)
            != sessions["charge_cents"].astype(object)
        )
    )
    anomalies = rows.rejected.rename(columns={"record_key": "event_id"})[ANOMALY_COLUMNS]
    counts = postgres.record_tick(TickBatch.of_sessions(sessions, anomalies), source=source)
    summary = ImportSummary(
        file="",
        rows_read=rows.rows_read,
        sessions=len(sessions),
        open_sessions=int((~closed).sum()),
        charges_corrected=int(corrected.sum()),
        rows_rejected=len(rows.rejected),
        duplicates=rows.duplicates,
        sessions_written=counts.sessions_written,
        quarantine_written=counts.anomalies_quarantined,
        seconds=0.0,
    )
    return summary, (frozenset(sessions["session_id"]), rows.row_keys)


def _empty(file: str) -> ImportSummary:
    return ImportSummary(file, 0, 0, 0, 0, 0, 0, 0, 0, 0.0)


def _finished(summary: ImportSummary, file: str, started: float) -> ImportSummary:
    return replace(summary, file=file, seconds=time.perf_counter() - started)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)
