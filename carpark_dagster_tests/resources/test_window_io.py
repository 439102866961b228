"""The window IO manager's retention (its round trip is exercised by the pipeline tests)."""

import os
import time

from carpark_dagster.resources.window_io import WindowPickleIOManager


def test_windows_older_than_the_retention_are_pruned(tmp_path):
    manager = WindowPickleIOManager(base_dir=str(tmp_path), retention_days=1)
    stale = tmp_path / "20261101T0000+0000_20261101T0005+0000.pickle"
    fresh = tmp_path / "20261127T0000+0000_20261127T0005+0000.pickle"
    other = tmp_path / "notes.txt"
    for path in (stale, fresh, other):
        path.write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86_400
    for path in (stale, other):
        os.utime(path, (two_days_ago, two_days_ago))

    manager._prune(tmp_path)

    assert not stale.exists()
    assert fresh.exists()
    assert other.exists()  # only the manager's own files
