"""The whole tick through Dagster's own execution, against the lab's method in the same run.

    .venv/bin/python bench/bench_tick.py [--history 100000 1000000] [--scale 1170]
    (or: make bench-tick)

For each history size: a scratch database filled with that many stored sessions (and their
search documents, so the reconciliation check holds) and two hours of warm-up ticks. Then
five ticks of about 10,000 sessions each per history, the histories taking turns tick by
tick, every tick a fresh process that runs the tick job's assets (the five of the lineage and
the dashboard page) with `dg.materialize` (in-process executor, as deployed). Printed per
tick: run time (RUN_START to RUN_SUCCESS in Dagster's event log), wall time of the
materialize call, the process's peak RSS, the simulator's share, sessions closed and events.

Halfway through the ticks, the lab's method, re-implemented (`lab_method`): generate N rows,
insert them with `executemany`, read the whole table back and dump it to CSV, index every
row with one request each; at 10,000 new rows on 100,000 stored. The machine is shared and
noisy: what is compared (the histories, the tick and the lab's method) is measured in the
same minutes of one run.

Targets (issue 12): tick run time <= 2.5 s at 10k sessions per tick (>= 50x the lab's method);
within +25% from 100k to 1M stored; peak RSS <= 500 MB; simulator <= 0.3 s per window.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import random
import resource
import statistics
import string
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

BASE_DSN = os.environ.get("CARPARK_POSTGRES_DSN") or "postgresql://carpark@127.0.0.1:55432/carpark"
SEARCH_URL = os.environ.get("CARPARK_ES_URL") or "http://127.0.0.1:9250"
DAY = "2026-11-25"  # a Wednesday: weekday traffic
START = f"{DAY}T09:00+08:00"  # the carpark starts empty here
WARM_UP_UNTIL = f"{DAY}T11:00+08:00"
TICKS = [f"{DAY}T11:{minute:02d}+08:00" for minute in (5, 10, 15, 20, 25)]
SESSIONS_PER_DAY_AT_SCALE_1 = 400 * 6

# Stored closed sessions, long before the ticks, with their exits logged (as ticks leave them).
FILL_HISTORY = """
WITH filled AS (
INSERT INTO carpark.parking_sessions (session_id, plate, location_id, entry_event_id,
    exit_event_id, entry_time, exit_time, duration_seconds, charge_cents, tariff, updated_at,
    status, source)
SELECT 'ses-hist-' || lpad(g::text, 9, '0'), 'SH' || lpad((g %% 200000)::text, 6, '0'),
       'Park' || (g %% 6), 'hist-' || g || '-in', 'hist-' || g || '-out',
       %(t0)s + g * interval '1 second', %(t0)s + g * interval '1 second' + interval '75 min',
       4500, 180, 'default', %(t0)s + g * interval '1 millisecond', 'closed', 'bench'
FROM generate_series(1, %(n)s::bigint) AS g
RETURNING location_id, plate, exit_time, session_id
)
INSERT INTO carpark.session_exits (location_id, plate, exit_time, session_id)
SELECT * FROM filled ORDER BY (exit_time AT TIME ZONE 'UTC')::date, location_id, plate
"""

log = logging.getLogger("bench_tick")


# --------------------------------------------------------------------------- one tick (child)


def run_tick(args: argparse.Namespace) -> dict:
    """One tick at `args.now`, in this (fresh) process, through Dagster's execution."""
    import dagster as dg

    from carpark_dagster.defs.tick import assets, dashboard
    from carpark_dagster.resources import (
        CarparkConfigResource,
        ElasticsearchResource,
        GateSimulatorResource,
        InboxResource,
        PostgresResource,
        RunPickleIOManager,
        TickClockResource,
    )
    from carpark_dagster.resources.reports import ReportsResource

    resources = {
        "postgres": PostgresResource(dsn=args.dsn),
        "search": ElasticsearchResource(url=SEARCH_URL, alias=args.alias, legacy_alias=None),
        "carpark_config": CarparkConfigResource(),
        "gate_simulator": GateSimulatorResource(
            seed=8, volume_scale=args.scale, plan_dir=args.plan_dir
        ),
        "io_manager": RunPickleIOManager(base_dir=args.io_dir),
        "inbox": InboxResource(),
        "reports": ReportsResource(directory=str(Path(args.io_dir).parent / "reports")),
        "tick_clock": TickClockResource(
            start=START, now=args.now, max_windows_per_run=args.max_windows
        ),
    }
    # A run worker loads the code location before it runs (loading it freezes what was
    # loaded out of the garbage collector's full passes: carpark_dagster/definitions.py).
    from carpark_dagster.definitions import defs

    defs()
    with dg.instance_for_test() as instance:
        started = time.perf_counter()
        result = dg.materialize(
            dg.load_assets_from_modules([assets, dashboard]),
            resources=resources,
            instance=instance,
        )
        wall = time.perf_counter() - started
        run_seconds = _run_seconds(instance, result.run_id)
    times = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            times[event.step_key] = event.event_specific_data.duration_ms / 1000
    metadata = _materializations(result)
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    return {
        "success": result.success,
        "run_seconds": run_seconds,
        "wall_seconds": wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "steps": times,
        "closed": metadata["closed_sessions"]["closed_sessions"],
        "events": metadata["raw_car_events"]["events"],
        "windows": metadata["raw_car_events"]["windows"],
        "checks": checks,
    }


def _materializations(result) -> dict[str, dict]:
    found = {}
    for node in ("raw_car_events", "closed_sessions", "carpark_table", "es_index"):
        [m] = result.asset_materializations_for_node(node)
        found[node] = {k: v.value for k, v in m.metadata.items()}
    return found


def _run_seconds(instance, run_id: str) -> float:
    """RUN_START to RUN_SUCCESS, from the run's event log."""
    stamps = {
        entry.dagster_event.event_type_value: entry.timestamp
        for entry in instance.all_logs(run_id)
        if entry.dagster_event is not None
    }
    end = stamps.get("RUN_SUCCESS", stamps.get("PIPELINE_SUCCESS"))
    start = stamps.get("RUN_START", stamps.get("PIPELINE_START"))
    if end is None or start is None:
        raise RuntimeError(f"the run's log has no start or success: {sorted(stamps)}")
    return end - start


def tick_in_a_fresh_process(
    dsn: str, alias: str, now: str, scale: float, plan_dir: str, io_dir: str, max_windows: int
) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        "--dsn",
        dsn,
        "--alias",
        alias,
        "--now",
        now,
        "--scale",
        str(scale),
        "--plan-dir",
        plan_dir,
        "--io-dir",
        io_dir,
        "--max-windows",
        str(max_windows),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the tick at {now} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- setting up


def scratch_database() -> str:
    name = f"carpark_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(BASE_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return make_conninfo(BASE_DSN, dbname=name)


def drop_database(dsn: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(BASE_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare(dsn: str, alias: str, history: int) -> None:
    """Migrations, `history` stored sessions, and their documents in the index."""
    from carpark_dagster.lib.search_rebuild import rebuild_search_index
    from carpark_dagster.resources import ElasticsearchResource, PostgresResource

    postgres = PostgresResource(dsn=dsn)
    postgres.migrate()
    started = time.perf_counter()
    with postgres.connect() as conn:
        conn.execute(
            FILL_HISTORY, {"n": history, "t0": datetime.fromisoformat("2025-01-01T00:00+08:00")}
        )
        conn.execute("VACUUM ANALYZE carpark.parking_sessions")
        conn.execute("VACUUM ANALYZE carpark.session_exits")
    search = ElasticsearchResource(url=SEARCH_URL, alias=alias, legacy_alias=None)
    with search.session_index() as index:
        rebuild_search_index(postgres, index, log)
    log.warning(
        "history of %s sessions stored and indexed in %.1fs",
        f"{history:,}",
        time.perf_counter() - started,
    )


def analyze(dsn: str) -> None:
    """Statistics as autovacuum keeps them on a live system: the warm-up filled the tables
    faster than it would have looked at them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")


def drop_alias(alias: str) -> None:
    from carpark_dagster.resources import ElasticsearchResource

    search = ElasticsearchResource(url=SEARCH_URL, alias=alias, legacy_alias=None)
    with search.session_index() as index:
        index.engine.request("DELETE", f"/{alias}-v*")
        index.engine.request("DELETE", f"/_index_template/{alias}")


# --------------------------------------------------------------------------- the lab's method


def lab_method(new_rows: int, stored: int) -> float:
    """One tick of the lab's two DAGs: generate rows, `executemany` them into "CarPark", read
    the whole table back into a CSV file, then index every row with one request each."""
    from opensearchpy import OpenSearch

    dsn = scratch_database()
    index = f"bench-lab-{uuid.uuid4().hex[:8]}"
    client = OpenSearch(hosts=[SEARCH_URL], timeout=60)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                'CREATE TABLE public."CarPark" ("Plate" text, "LocationID" text, '
                '"Entry_DateTime" timestamp, "Exit_DateTime" timestamp, "Parking_Charges" float)'
            )
            with conn.cursor().copy('COPY public."CarPark" FROM STDIN') as copy:
                for row in _lab_rows(stored, random.Random(1)):
                    copy.write_row(row)
        # The lab's Elasticsearch created indices on first write; this node does not.
        client.indices.create(index=index)
        started = time.perf_counter()
        rows = list(_lab_rows(new_rows, random.Random(2)))
        with psycopg.connect(dsn) as conn, conn.cursor() as cur:
            cur.executemany(
                'INSERT INTO public."CarPark"("Plate", "LocationID", "Entry_DateTime", '
                '"Exit_DateTime", "Parking_Charges") VALUES (%s, %s, %s, %s, %s)',
                rows,
            )
            conn.commit()
            cur.execute('SELECT * FROM public."CarPark"')
            table = cur.fetchall()
        with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="") as dump:
            writer = csv.writer(dump)
            writer.writerow(
                ["Plate", "LocationID", "Entry_DateTime", "Exit_DateTime", "Parking_Charges"]
            )
            writer.writerows(table)
            dump.flush()
            with open(dump.name, newline="") as again:
                for number, record in enumerate(csv.DictReader(again)):
                    client.index(index=index, id=str(number), body=record)
        return time.perf_counter() - started
    finally:
        client.indices.delete(index=index, ignore_unavailable=True)
        client.close()
        drop_database(dsn)


def _lab_rows(n: int, rng: random.Random):
    """Rows as the lab's generator made them (its charge formula included)."""
    base = datetime(2026, 11, 25, 8, 0)
    for _ in range(n):
        entry = base + timedelta(seconds=rng.randrange(12 * 3600))
        exit_ = entry + timedelta(seconds=rng.randrange(60, 6 * 3600))
        plate = (
            "S" + "".join(rng.choices(string.ascii_uppercase, k=2)) + str(rng.randrange(1000, 9999))
        )
        yield (
            plate,
            f"Park{rng.randrange(6)}",
            entry,
            exit_,
            (exit_ - entry).seconds / 3600 / 2 * 0.6,
        )


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, nargs="+", default=[100_000, 1_000_000])
    # ~10,000 sessions close in the measured ticks, on average (late morning of a weekday:
    # 10.6k at 11:05 down to 9.4k at 11:25).
    parser.add_argument("--scale", type=float, default=1170, help="simulator volume scale")
    parser.add_argument("--skip-lab", action="store_true", help="leave out the lab's method")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for name in ("--dsn", "--alias", "--now", "--plan-dir", "--io-dir"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--max-windows", type=int, default=288, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        logging.basicConfig(level=logging.ERROR)
        print(json.dumps(run_tick(args)))
        return

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    for noisy in ("opensearch", "elastic_transport"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="bench-tick-"))
    plan_dir, io_dir = str(work / "plans"), str(work / "runs")
    print(
        f"simulator scale {args.scale:g}: about "
        f"{args.scale * SESSIONS_PER_DAY_AT_SCALE_1 / 288:,.0f} sessions per window on "
        "average over a weekday"
    )
    stores: list[tuple[int, str, str]] = []  # history, database, search alias
    runs: dict[int, list[float]] = {history: [] for history in args.history}
    closed: dict[int, list[int]] = {history: [] for history in args.history}
    lab = None
    try:
        for history in args.history:
            dsn, alias = scratch_database(), f"bench-tick-{uuid.uuid4().hex[:8]}"
            stores.append((history, dsn, alias))
            prepare(dsn, alias, history)
            warm = tick_in_a_fresh_process(
                dsn, alias, WARM_UP_UNTIL, args.scale, plan_dir, io_dir, max_windows=288
            )
            print(
                f"{history:,} stored sessions; warm-up: {warm['windows']} windows, "
                f"{warm['closed']:,} sessions closed in {warm['run_seconds']:.1f}s"
            )
            analyze(dsn)
        # The histories take turns, tick by tick, and the lab's method runs halfway through:
        # what is compared is measured in the same minutes of this shared, noisy machine.
        print("\n  tick     stored   run s   wall s   RSS MB   simulate s  closed   events  checks")
        for round_, now in enumerate(TICKS):
            if round_ == len(TICKS) // 2 and not args.skip_lab:
                print("  the lab's method: 10,000 new rows on 100,000 stored ...", flush=True)
                lab = lab_method(10_000, 100_000)
                print(f"  ... {lab:.1f}s")
            for history, dsn, alias in stores:
                tick = tick_in_a_fresh_process(dsn, alias, now, args.scale, plan_dir, io_dir, 288)
                runs[history].append(tick["run_seconds"])
                closed[history].append(tick["closed"])
                ok = "pass" if all(tick["checks"].values()) and tick["success"] else "FAIL"
                print(
                    f"  {now[11:16]}  {history:>9,}  {tick['run_seconds']:6.2f}"
                    f"  {tick['wall_seconds']:7.2f}  {tick['peak_rss_mb']:7.0f}"
                    f"  {tick['steps']['raw_car_events']:11.2f}  {tick['closed']:6,}"
                    f"  {tick['events']:7,}  {ok}",
                    flush=True,
                )
                print(
                    "         steps: "
                    + ", ".join(f"{step} {seconds:.2f}s" for step, seconds in tick["steps"].items())
                )
    finally:
        for _, dsn, alias in stores:
            drop_database(dsn)
            drop_alias(alias)
    median_runs = {history: statistics.median(times) for history, times in runs.items()}
    print()
    for history, median in median_runs.items():
        print(
            f"{history:,} stored: median run time {median:.2f}s; sessions closed per tick: "
            f"{statistics.mean(closed[history]):,.0f} on average"
        )
    if len(median_runs) > 1:
        small, large = min(median_runs), max(median_runs)
        change = median_runs[large] / median_runs[small] - 1
        print(f"{large:,} against {small:,} stored: {change:+.0%} (target <= +25%)")
    if lab is not None:
        ours = median_runs.get(100_000) or next(iter(median_runs.values()))
        print(
            f"the lab's method {lab:.1f}s per tick; the tick's median run time {ours:.2f}s: "
            f"{lab / ours:.0f}x (target >= 50x)"
        )


if __name__ == "__main__":
    main()
