"""Throughput of the vectorised tariff engine: `.venv/bin/python bench/bench_tariff.py`.

Prices 1,000,000 random sessions (entries spread over 2026, to the nanosecond; 80% short
stays, 15% overnight, 5% up to three days) with each tariff, and prints sessions per second
(best and median of several runs, after one warm-up run).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import time as clock

import numpy as np

from carpark_dagster.domain.tariff import DEFAULT_TARIFF, NightCap, Tariff, hdb_eps

NS_PER_MINUTE = 60 * 1_000_000_000
YEAR_2026_NS = 1_767_196_800 * 1_000_000_000  # 2026-01-01T00:00:00+08:00


def random_sessions(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    entry = YEAR_2026_NS + rng.integers(0, 365 * 24 * 60 * NS_PER_MINUTE, count, dtype=np.int64)
    kind = rng.random(count)
    minutes = np.where(
        kind < 0.80,
        rng.exponential(90.0, count),  # shopping, errands
        np.where(
            kind < 0.95, rng.uniform(8 * 60, 16 * 60, count), rng.uniform(0, 3 * 24 * 60, count)
        ),
    )
    duration = (minutes * NS_PER_MINUTE).astype(np.int64)
    return entry, entry + duration


def measure(tariff: Tariff, entry: np.ndarray, exit_: np.ndarray, repeats: int) -> list[float]:
    tariff.price(entry, exit_)  # warm-up: builds the night table for the year
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        tariff.price(entry, exit_)
        rates.append(entry.size / (time.perf_counter() - started))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    entry, exit_ = random_sessions(args.sessions, args.seed)
    mall = Tariff(
        name="mall (per_minute, night and daily caps)",
        billing="per_minute",
        block_minutes=30,
        rate_cents=90,
        night_cap=NightCap(clock(22, 30), clock(7, 0), 500),
        daily_cap_cents=2000,
    )
    print(f"{args.sessions:,} random sessions, best / median of {args.repeats} runs")
    for tariff in (DEFAULT_TARIFF, hdb_eps(), mall):
        rates = measure(tariff, entry, exit_, args.repeats)
        print(
            f"  {tariff.name:<42} {max(rates):>14,.0f} sessions/s"
            f"  (median {statistics.median(rates):,.0f})"
        )


if __name__ == "__main__":
    main()
