"""Import the lab's `carpark_system.csv` into the sessions table.

    carpark import-legacy carpark_system.csv [more.csv ...]

(also the Dagster job `import_legacy_csv`). Closed rows become sessions, blank exits open
sessions; charges are recomputed with each location's tariff and the recorded charge is kept
beside ours (`recorded_charge`, flagged by `charge_corrected`). Rows that cannot be taken go to
quarantine with a reason. Re-importing a file changes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from carpark_dagster.domain.config import CarparkConfig
from carpark_dagster.domain.legacy import parse_legacy_rows, read_legacy_csv
from carpark_dagster.domain.sessions import ANOMALY_COLUMNS, price_sessions
from carpark_dagster.domain.ticks import TickBatch
from carpark_dagster.resources.postgres import PostgresResource


@dataclass(frozen=True)
class ImportSummary:
    file: str
    rows_read: int
    sessions: int
    open_sessions: int
    charges_corrected: int
    rows_rejected: int
    sessions_written: int
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
            f"  written            {self.sessions_written:>8}  (0 when imported before)",
            f"  took               {self.seconds:>8.2f} s",
        ]


def import_legacy_file(
    path: str | Path, postgres: PostgresResource, config: CarparkConfig
) -> ImportSummary:
    started = time.perf_counter()
    path = Path(path)
    rows = parse_legacy_rows(read_legacy_csv(path), known_locations=set(config.locations))
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
    counts = postgres.record_tick(
        TickBatch.of_sessions(sessions, anomalies),
        source=f"legacy:{path.name}",
    )
    return ImportSummary(
        file=str(path),
        rows_read=rows.rows_read,
        sessions=len(sessions),
        open_sessions=int((~closed).sum()),
        charges_corrected=int(corrected.sum()),
        rows_rejected=len(rows.rejected),
        sessions_written=counts.sessions_written,
        seconds=time.perf_counter() - started,
    )
