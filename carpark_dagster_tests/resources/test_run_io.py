"""The run IO manager's retention (its round trip is exercised by the pipeline tests)."""

import os
import time

from carpark_dagster.resources.run_io import RunPickleIOManager


def test_runs_older_than_the_retention_are_pruned(tmp_path):
    manager = RunPickleIOManager(base_dir=str(tmp_path), retention_days=1)
    stale, fresh, current = (tmp_path / name for name in ("run-a", "run-b", "run-c"))
    for run in (stale, fresh, current):
        (run / "raw_car_events.pickle").parent.mkdir()
        (run / "raw_car_events.pickle").write_bytes(b"x")
    other = tmp_path / "notes.txt"
    other.write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86_400
    for path in (stale, current, other):
        os.utime(path, (two_days_ago, two_days_ago))

    manager._prune(tmp_path, keep="run-c")

    assert not stale.exists()
    assert fresh.exists()
    assert current.exists()  # the run writing now keeps its data, however old its folder
    assert other.exists()  # only runs' folders
