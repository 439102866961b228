"""Where the platform keeps files of its own between runs: under Dagster's storage directory
(`$DAGSTER_HOME/storage`, a volume in docker-compose), or the system's temporary directory
when there is no DAGSTER_HOME (tests, the command line)."""

import os
import tempfile
from pathlib import Path


def storage_path(name: str) -> str:
    home = os.environ.get("DAGSTER_HOME")
    root = (
        Path(home) / "storage" if home else Path(tempfile.gettempdir()) / "carpark-dagster-storage"
    )
    return str(root / name)
