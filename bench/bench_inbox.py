"""Reading big gate-event files: rows/s and the reader's peak memory.

    .venv/bin/python bench/bench_inbox.py [--gb 1.0] [--dir /tmp]      (or: make bench-inbox)

Writes a CSV and a JSON Lines file of about `--gb` GB each (simulated plates, Singapore
times, one record in 200 malformed), then reads each in a fresh process with
`read_gate_file` and prints rows/s and the peak RSS of that process, next to its RSS before
reading (the growth is what reading costs). The files are deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from carpark_dagster.domain.events import EVENT_COLUMNS
from carpark_dagster.domain.inbox import InboxRules, read_gate_file
from carpark_dagster.domain.plates import sg_plates

BLOCK_ROWS = 100_000
START = datetime(2026, 11, 23, 0, 0)  # naive: Singapore local time
ID_PREFIX = "bench-xxxxx-"


def block_text(rng: np.random.Generator, suffix: str) -> str:
    """`BLOCK_ROWS` records as file text, their ids starting `ID_PREFIX`."""
    plates = sg_plates(rng, BLOCK_ROWS)
    seconds = np.sort(rng.integers(0, 86_400 * 7, BLOCK_ROWS))
    kinds = np.where(rng.random(BLOCK_ROWS) < 0.5, "entry", "exit")
    records = [
        {
            "event_id": f"{ID_PREFIX}{row:06d}",
            "plate": str(plates[row]),
            "location_id": f"Park{row % 6}",
            "event_type": str(kinds[row]),
            "event_time": (START + timedelta(seconds=int(seconds[row]))).isoformat(),
        }
        for row in range(BLOCK_ROWS)
    ]
    for record in records[::200]:
        record["event_time"] = "not a time"
    if suffix == ".csv":
        return "".join(",".join(r.values()) + "\r\n" for r in records)
    return "".join(json.dumps(r) + "\n" for r in records)


def write_file(path: Path, gigabytes: float) -> int:
    """Writes blocks until the file reaches the size; returns the number of records. Ten
    blocks are generated and written again with other ids (the reader sees no difference)."""
    rng = np.random.default_rng(13)
    blocks = [block_text(rng, path.suffix) for _ in range(10)]
    rows, limit = 0, int(gigabytes * 1e9)
    with path.open("w", encoding="utf-8", newline="") as out:
        if path.suffix == ".csv":
            out.write(",".join(EVENT_COLUMNS) + "\r\n")
        while out.tell() < limit:
            number = rows // BLOCK_ROWS
            out.write(blocks[number % 10].replace(ID_PREFIX, f"bench-{number:05d}-"))
            rows += BLOCK_ROWS
    return rows


def status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))


def read(path: Path) -> None:
    """In a fresh process: read the file, print one JSON line of figures."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the peak (VmHWM) starts again from the resident set now
    imported = status_kib("VmRSS:")
    started, cpu = time.perf_counter(), time.process_time()
    events = rejected = chunks = 0
    now = datetime.now(UTC)
    for chunk in read_gate_file(path, InboxRules(), now):
        events += len(chunk.events)
        rejected += len(chunk.rejected)
        chunks += 1
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = status_kib("VmHWM:")  # not ru_maxrss: that one survives exec from the parent
    figures = {"events": events, "rejected": rejected, "chunks": chunks}
    figures |= {"seconds": seconds, "cpu_seconds": cpu}
    print(json.dumps({**figures, "rss_imports_kib": imported, "rss_peak_kib": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="size of each file (GB)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the files")
    parser.add_argument("--read", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read is not None:
        read(args.read)
        return
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}"
    )
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        for name in ("events.csv", "events.jsonl"):
            path = Path(folder) / name
            started = time.perf_counter()
            rows = write_file(path, args.gb)
            written = time.perf_counter() - started
            size = path.stat().st_size
            run = subprocess.run(
                [sys.executable, __file__, "--read", str(path)],
                check=True,
                capture_output=True,
                text=True,
            )
            result = json.loads(run.stdout)
            assert result["events"] + result["rejected"] == rows, (result, rows)
            print(
                f"{name:13} {size / 1e9:5.2f} GB {rows:>11,} rows (written in {written:5.1f} s)  "
                f"read {result['seconds']:6.1f} s ({result['cpu_seconds']:.1f} s CPU)  "
                f"{rows / result['seconds']:>9,.0f} rows/s  "
                f"{size / 1e6 / result['seconds']:5.1f} MB/s  "
                f"peak RSS {result['rss_peak_kib'] / 1024:6.0f} MiB "
                f"(before reading {result['rss_imports_kib'] / 1024:4.0f} MiB)  "
                f"{result['chunks']} chunks, {result['rejected']:,} rejected"
            )
            path.unlink()


if __name__ == "__main__":
    main()
