"""Domain throughput on this machine: simulation, sessionisation and pricing.

    .venv/bin/python bench/bench_domain.py      (or: make bench-domain)

Targets (issue 3): >= 500k events/s simulated, >= 1M sessions/s priced, at ~1M events.
"""

from __future__ import annotations

import platform
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from carpark_dagster.domain.sessions import SessionState, close_sessions, price_sessions
from carpark_dagster.domain.simulator import SimulationConfig, simulate_window
from carpark_dagster.domain.tariff import DEFAULT_TARIFF, hdb_eps

START = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # Tuesday 00:00 in Singapore


def best_of(runs: int, work):
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}"
    )

    # A day of traffic from a fresh process: plans of three days are built (cold caches).
    config = SimulationConfig(seed=1, volume_scale=250, dirty_share=0.01)

    def simulate():
        from carpark_dagster.domain import simulator

        simulator.plan_day.cache_clear()
        return simulate_window(config, START, START + timedelta(days=1))

    seconds, events = best_of(3, simulate)
    print(
        f"simulate:  {len(events):>9,} events   {seconds:6.2f} s  "
        f"{len(events) / seconds:>12,.0f} events/s   (target >= 500,000)"
    )

    clean = events.drop_duplicates("event_id")
    as_of = pd.Timestamp(START + timedelta(days=1, hours=1))
    seconds, batch = best_of(1, lambda: close_sessions(SessionState.empty(), clean, as_of))
    print(
        f"sessions:  {len(clean):>9,} events   {seconds:6.2f} s  "
        f"{len(clean) / seconds:>12,.0f} events/s   ({len(batch.closed):,} closed)"
    )

    rng = np.random.default_rng(7)
    n = 1_000_000
    entry = pd.Series(
        pd.to_datetime(START.timestamp() * 1e9 + rng.integers(0, 86_400, n) * 1e9, utc=True)
    )
    stays = pd.to_timedelta(np.clip(rng.lognormal(np.log(75 * 60), 1.0, n), 0, 47 * 3600), "s")
    sessions = pd.DataFrame(
        {
            "session_id": np.arange(n).astype(str),
            "plate": "P",
            "location_id": "Park0",
            "entry_event_id": "e",
            "exit_event_id": "x",
            "entry_time": entry,
            "exit_time": entry + stays,
        }
    )
    for tariff in (DEFAULT_TARIFF, hdb_eps()):
        seconds, _ = best_of(3, lambda t=tariff: price_sessions(sessions, t))
        print(
            f"price:     {n:>9,} sessions {seconds:6.2f} s  {n / seconds:>12,.0f} sessions/s "
            f"({tariff.name}; target >= 1,000,000)"
        )


if __name__ == "__main__":
    main()
