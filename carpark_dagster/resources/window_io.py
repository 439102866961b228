"""Hands a window's in-between data (events, the tick batch) from one asset to the next.

Dagster's filesystem IO manager keeps one pickle per partition and cannot store the output of
a run that covers many windows at once (a single-run backfill). This one keys the pickle by the
time window, whatever its length. The base directory must be shared by every process of a run
(a volume in docker-compose).
"""

from __future__ import annotations

import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field


def _default_base_dir() -> str:
    home = os.environ.get("DAGSTER_HOME")
    root = (
        Path(home) / "storage" if home else Path(tempfile.gettempdir()) / "carpark-dagster-storage"
    )
    return str(root / "windows")


class WindowPickleIOManager(dg.ConfigurableIOManager):
    base_dir: str = Field(default_factory=_default_base_dir)
    retention_days: float = Field(
        default=7, gt=0, description="Stored windows older than this are deleted on write."
    )

    def _path(self, asset_key: dg.AssetKey, window: dg.TimeWindow) -> Path:
        name = f"{window.start:%Y%m%dT%H%M%z}_{window.end:%Y%m%dT%H%M%z}.pickle"
        return Path(self.base_dir, *asset_key.path, name)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        path = self._path(context.asset_key, context.asset_partitions_time_window)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with partial.open("wb") as f:
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(path)
        context.add_output_metadata({"path": str(path)})
        self._prune(path.parent)

    def _prune(self, folder: Path) -> None:
        """Drop this asset's windows written more than `retention_days` ago: they were only
        in-between data, and the tick they fed is in PostgreSQL."""
        cutoff = time.time() - self.retention_days * 86_400
        for old in folder.glob("*.pickle"):
            try:
                if old.stat().st_mtime < cutoff:
                    old.unlink()
            except FileNotFoundError:  # another run pruned it first
                pass

    def load_input(self, context: dg.InputContext) -> Any:
        path = self._path(context.asset_key, context.asset_partitions_time_window)
        if not path.exists():
            raise FileNotFoundError(
                f"no stored output of {context.asset_key.to_user_string()} for this window at "
                f"{path}; materialise the upstream asset for the same window first"
            )
        with path.open("rb") as f:
            return pickle.load(f)
