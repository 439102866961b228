"""Files in the lab's two shapes (docs/events-and-sessions.md), made by the tests themselves,
so that no test needs the lab's own samples in ../shared/data. Tests may also read those
samples when they are there (`shared_samples`), and skip that part when they are not.

The rows follow the lab's generator: Singapore local times, the lab's charge formula
(`timedelta.seconds / 3600 / 2 * 0.6`, wrong on every closed row), blank exit and charge for a
car still parked, and a few rows whose entry is later than their exit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HEADER = "Plate,LocationID,Entry_DateTime,Exit_DateTime,Parking_Charges"
NOTEBOOK_TIME = "%d/%m/%Y %H:%M:%S"
DUMP_TIME = "%Y-%m-%d %H:%M:%S"
CRLF = "\r\n"  # as pandas wrote both files on the lab's machines


@dataclass(frozen=True)
class LabRow:
    plate: str
    location_id: str
    entry: datetime
    exit: datetime | None  # None: still parked

    @property
    def lab_charge(self) -> str:
        """The lab's formula, as its generator wrote it (a float's repr)."""
        if self.exit is None:
            return ""
        return repr((self.exit - self.entry).seconds / 3600 / 2 * 0.6)


@dataclass(frozen=True)
class LabSample:
    rows: list[LabRow]

    @property
    def closed(self) -> list[LabRow]:
        return [r for r in self.rows if r.exit is not None and r.exit >= r.entry]

    @property
    def still_parked(self) -> list[LabRow]:
        return [r for r in self.rows if r.exit is None]

    @property
    def entry_after_exit(self) -> list[LabRow]:
        return [r for r in self.rows if r.exit is not None and r.exit < r.entry]

    def write_notebook_file(self, path: Path) -> Path:
        """The notebook's `carpark_system.csv`: BOM, day-first times, no index column."""
        lines = [HEADER] + [",".join(_cells(r, NOTEBOOK_TIME)) for r in self.rows]
        path.write_bytes(("\ufeff" + CRLF.join(lines) + CRLF).encode("utf-8"))
        return path

    def write_dag_dump(self, path: Path, rows: int | None = None) -> Path:
        """The Airflow DAG's dump of the `CarPark` table: an unnamed index column, ISO times,
        no BOM; the first `rows` rows (all by default)."""
        lines = ["," + HEADER] + [
            f"{i}," + ",".join(_cells(r, DUMP_TIME)) for i, r in enumerate(self.rows[:rows])
        ]
        path.write_bytes((CRLF.join(lines) + CRLF).encode("utf-8"))
        return path


def lab_sample(closed: int = 30, parked: int = 4, entry_after_exit: int = 2) -> LabSample:
    """Deterministic rows at the lab's six locations: `closed` sessions of 7 minutes to about
    5 hours, `parked` cars with no exit yet, and `entry_after_exit` rows of the lab's sign bug.
    Every plate is distinct, so no two rows are duplicates."""
    start = datetime(2025, 10, 8, 7, 3, 11)
    rows = []
    for i in range(closed + parked + entry_after_exit):
        entry = start + timedelta(minutes=37 * i, seconds=13 * i)
        stay = timedelta(minutes=7 + (i * 53) % 290, seconds=i % 60)
        if i < closed:
            exit_ = entry + stay
        elif i < closed + parked:
            exit_ = None
        else:
            exit_ = entry - stay
        rows.append(LabRow(f"SBS{1000 + i}", f"Park{i % 6}", entry, exit_))
    return LabSample(rows)


def tariff_cents(row: LabRow) -> int:
    """The default tariff: 60 cents per started 30 minutes."""
    seconds = int((row.exit - row.entry).total_seconds())
    return -(-seconds // 1800) * 60


def shared_samples() -> tuple[Path, Path]:
    """The lab's own sample files, when ../shared/data is there; else the test is skipped."""
    notebook, dump = SHARED_DATA / "lab_carpark_system.csv", SHARED_DATA / "lab_carpark_dump.csv"
    if not (notebook.exists() and dump.exists()):
        pytest.skip(f"the lab's sample files are not in {SHARED_DATA} (optional)")
    return notebook, dump


def _cells(row: LabRow, time_format: str) -> list[str]:
    return [
        row.plate,
        row.location_id,
        row.entry.strftime(time_format),
        row.exit.strftime(time_format) if row.exit else "",
        row.lab_charge,
    ]
