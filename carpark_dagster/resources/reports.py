"""Where the dashboard pages go (docs/reporting.md): `latest.html` and one page per carpark
day, `earnings-YYYY-MM-DD.html`, kept for `keep_days` days. `make run` serves the directory on
127.0.0.1. Each page is written to a temporary file and renamed, so a reader never sees half
a page."""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
from pydantic import Field

from carpark_dagster.resources.storage import storage_path

LATEST = "latest.html"
_DAILY = re.compile(r"^earnings-(\d{4})-(\d{2})-(\d{2})\.html$")


def daily_name(day: date) -> str:
    return f"earnings-{day.isoformat()}.html"


class ReportsResource(dg.ConfigurableResource):
    directory: str = Field(
        default_factory=lambda: storage_path("reports"),
        description="Where the dashboard pages are written (CARPARK_REPORTS_DIR).",
    )
    keep_days: int = Field(
        default=30, ge=1, description="Daily pages kept (CARPARK_REPORTS_KEEP_DAYS)."
    )

    def write_dashboard(self, html: str, day: date) -> list[Path]:
        """`latest.html` and the page of `day` (replaced through the day: the last render of a
        day stays); pages older than `keep_days` before `day` deleted. The paths written."""
        folder = Path(self.directory)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name in (daily_name(day), LATEST):
            path = folder / name
            temporary = folder / f".{name}.tmp"
            temporary.write_text(html, encoding="utf-8")
            os.replace(temporary, path)
            written.append(path)
        self.prune(day)
        return written

    def prune(self, today: date) -> list[str]:
        """Delete the daily pages older than `keep_days` before `today`; their names."""
        oldest = today - timedelta(days=self.keep_days - 1)
        deleted = []
        for path in Path(self.directory).glob("earnings-*.html"):
            match = _DAILY.match(path.name)
            if not match:
                continue
            try:
                day = date(*(int(g) for g in match.groups()))
            except ValueError:
                continue
            if day < oldest:
                path.unlink(missing_ok=True)
                deleted.append(path.name)
        return sorted(deleted)
