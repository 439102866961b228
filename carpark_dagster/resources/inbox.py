"""Where gate events come from, and the inbox directory real gate files are dropped in.

`source` selects what produces events: the simulated gates, the inbox, or both. Files are
taken from the inbox once complete: a `*.csv` or `*.jsonl` file (not hidden) that has not
changed for `settle_seconds`. Writing under another name (`.name.csv.part`, say) and renaming
when done is the safe way; copying in place works too, after the settle time. Each file is
then moved to `done/` or, refused, to `rejected/` with `<name>.reason` beside it.
"""

from __future__ import annotations

import os
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

import dagster as dg
from pydantic import Field, field_validator

from carpark_dagster.domain.inbox import GATE_FILE_SUFFIXES, InboxRules
from carpark_dagster.resources.storage import storage_path

DONE = "done"
REJECTED = "rejected"


class EventSource(StrEnum):
    SIMULATOR = "simulator"
    INBOX = "inbox"
    BOTH = "both"


class InboxResource(dg.ConfigurableResource):
    """The event sources in use, and the inbox of gate event files."""

    source: str = Field(
        default=EventSource.SIMULATOR.value,
        description="simulator, inbox or both: what produces gate events (CARPARK_SOURCE).",
    )
    directory: str = Field(
        default_factory=lambda: storage_path("inbox"),
        description="The inbox (CARPARK_INBOX_DIR); done/ and rejected/ are made inside it.",
    )
    settle_seconds: float = Field(
        default=5.0, ge=0, description="A file unchanged for this long is complete."
    )
    max_file_mb: int = Field(default=2048, ge=1, description="Bigger files are refused.")
    future_tolerance_minutes: int = Field(
        default=15,
        ge=0,
        description="Events later than now plus this are quarantined (the tick's own tolerance).",
    )

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        try:
            return EventSource(value.strip().lower()).value
        except ValueError:
            choices = ", ".join(s.value for s in EventSource)
            raise ValueError(f"CARPARK_SOURCE must be one of {choices}") from None

    @property
    def simulator_on(self) -> bool:
        return self.source in (EventSource.SIMULATOR, EventSource.BOTH)

    @property
    def inbox_on(self) -> bool:
        return self.source in (EventSource.INBOX, EventSource.BOTH)

    @property
    def path(self) -> Path:
        return Path(self.directory)

    def rules(self, known_locations: frozenset[str]) -> InboxRules:
        return InboxRules(
            max_file_bytes=self.max_file_mb * 1024 * 1024,
            future_tolerance=timedelta(minutes=self.future_tolerance_minutes),
            known_locations=known_locations,
        )

    def complete_files(self, now_s: float) -> list[Path]:
        """Gate files in the inbox (not in its sub-folders) unchanged for `settle_seconds`
        at `now_s` (seconds since the epoch), oldest first."""
        if not self.path.is_dir():
            return []
        ready = []
        with os.scandir(self.path) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") or not name.lower().endswith(GATE_FILE_SUFFIXES):
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
                modified = entry.stat(follow_symlinks=False).st_mtime
                if now_s - modified >= self.settle_seconds:
                    ready.append((modified, name))
        return [self.path / name for _, name in sorted(ready)]

    def file_away(self, path: Path, refused_reason: str | None) -> Path:
        """Move a handled file to done/, or to rejected/ with `<name>.reason` beside it. A
        name already there gets a number, so nothing is overwritten."""
        folder = self.path / (REJECTED if refused_reason is not None else DONE)
        folder.mkdir(parents=True, exist_ok=True)
        target = _free_name(folder, path.name)
        if refused_reason is not None:
            target.with_name(target.name + ".reason").write_text(refused_reason + "\n")
        os.replace(path, target)
        return target


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    n = 1
    while target.exists() or target.with_name(target.name + ".reason").exists():
        stem, dot, suffix = name.partition(".")
        target = folder / f"{stem}.{n}{dot}{suffix}"
        n += 1
    return target
