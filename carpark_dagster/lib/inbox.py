"""Landing gate event files: each file once by content, good records for the ticks, bad
records to quarantine with their line, refused files remembered with their reason.

The inbox asset and `carpark ingest` both call `land_file`; the caller holds the database's
writer lock, so no tick runs while a file lands (docs/time-model.md, "Landed events").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from carpark_dagster.domain.inbox import (
    FileChunk,
    FileRefused,
    InboxRules,
    content_digest,
    read_gate_file,
)
from carpark_dagster.resources.postgres import PostgresResource

LANDED = "landed"
DUPLICATE = "duplicate"
REFUSED = "refused"


@dataclass(frozen=True)
class FileOutcome:
    """What became of one file; `reason` is a fixed text (never the file's content)."""

    name: str
    status: str  # LANDED, DUPLICATE (same content as a file before) or REFUSED
    events: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reason: str | None = None
    landed_at: datetime | None = None

    @property
    def refused(self) -> bool:
        return self.status == REFUSED

    def summary(self) -> str:
        if self.status == REFUSED:
            return f"{self.name}: refused, {self.reason}"
        if self.status == DUPLICATE:
            return f"{self.name}: already processed ({self.reason})"
        return (
            f"{self.name}: {self.events} events ({self.duplicates} seen before), "
            f"{self.quarantined} records quarantined"
        )


def land_file(
    postgres: PostgresResource, path: Path, rules: InboxRules, now: datetime
) -> FileOutcome:
    """Land one file, or recognise its content as one that came before."""
    name = path.name
    try:
        size = path.stat().st_size
        digest = content_digest(path)
    except OSError as exc:
        return FileOutcome(name, REFUSED, reason=f"cannot be read ({exc.strerror or 'I/O error'})")
    before = postgres.inbox_file(digest)
    if before is not None:
        what = f"same content as {before.file_name}"
        if before.status == REFUSED:
            return FileOutcome(name, REFUSED, reason=f"{before.reason} ({what})")
        return FileOutcome(name, DUPLICATE, reason=what)
    try:
        chunks = _refusing_on_error(read_gate_file(path, rules, now))
        landed = postgres.land_file(digest, name, size, chunks, now)
    except FileRefused as exc:
        postgres.refuse_file(digest, name, size, exc.reason, now)
        return FileOutcome(name, REFUSED, reason=exc.reason)
    return FileOutcome(
        name,
        LANDED,
        events=landed.events,
        duplicates=landed.duplicates,
        quarantined=landed.quarantined,
        landed_at=landed.landed_at,
    )


def _refusing_on_error(chunks: Iterator[FileChunk]) -> Iterator[FileChunk]:
    """A file the reader fails on in a way it did not foresee is refused like any bad file:
    one file never blocks the inbox. (Errors of the database are raised outside this
    generator, so they stop the landing instead of refusing the file.)"""
    try:
        yield from chunks
    except (FileRefused, OSError):  # an OSError (disk, permissions) is no fault of the file
        raise
    except Exception as exc:
        raise FileRefused(f"could not be read ({type(exc).__name__})") from exc
