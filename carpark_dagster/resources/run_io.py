"""Hands a run's in-between data (the windows' events, their tick batches) from one asset to the
next: one pickle per run and asset, so that two runs never read each other's data, and a
re-execution of a failed run reads what its parent run stored. The base directory must be
shared by every process of a run (a volume in docker-compose).
"""

from __future__ import annotations

import pickle
import shutil
import time
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from carpark_dagster.resources.storage import storage_path


class RunPickleIOManager(dg.ConfigurableIOManager):
    base_dir: str = Field(default_factory=lambda: storage_path("runs"))
    retention_days: float = Field(
        default=7, gt=0, description="Runs' data older than this is deleted when a run writes."
    )

    def _path(self, run_id: str, asset_key: dg.AssetKey) -> Path:
        return Path(self.base_dir, run_id, *asset_key.path).with_suffix(".pickle")

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        path = self._path(context.run_id, context.asset_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with partial.open("wb") as f:
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(path)
        self._prune(Path(self.base_dir), keep=context.run_id)

    def _prune(self, base: Path, keep: str) -> None:
        """Drop the folders of runs written more than `retention_days` ago: only in-between
        data, and the ticks they fed are in PostgreSQL."""
        cutoff = time.time() - self.retention_days * 86_400
        for run in base.iterdir():
            try:
                if run.is_dir() and run.name != keep and run.stat().st_mtime < cutoff:
                    shutil.rmtree(run)
            except FileNotFoundError:  # another run pruned it first
                pass

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        path = self._path(upstream.run_id, context.asset_key)
        if not path.exists():
            raise FileNotFoundError(
                f"no stored output of {context.asset_key.to_user_string()} for run "
                f"{upstream.run_id} at {path}; materialise the upstream asset first"
            )
        with path.open("rb") as f:
            return pickle.load(f)
