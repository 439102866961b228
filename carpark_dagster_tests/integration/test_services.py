"""`make up` is idempotent: a second call leaves one PostgreSQL and one search node."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("CARPARK_STATE_DIR", ROOT / ".state"))


def _processes(marker: str, program: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(program.encode()) and marker.encode() in b" ".join(argv):
            found.append(int(entry.name))
    return found


@pytest.mark.services
def test_up_twice_leaves_one_postgres_and_one_search_node():
    for _ in range(2):
        subprocess.run([ROOT / "ops" / "services.sh", "up"], check=True, capture_output=True)
    pg_data = str((STATE / "postgres").resolve() / "data")
    assert len(_processes(pg_data, "postgres")) == 1
    assert len(_processes(str(STATE / "opensearch" / "node"), "java")) == 1
    status = subprocess.run(
        [ROOT / "ops" / "services.sh", "status"], capture_output=True, text=True, check=True
    )
    assert "postgres:   running" in status.stdout
    assert "opensearch: running" in status.stdout
