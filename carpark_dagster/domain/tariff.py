"""Parking tariffs: money is integer cents, always.

The default tariff is the lab's rule stated correctly: 60 cents per *started* 30-minute block,
so 0 s costs 0, exactly 30:00 costs 60 and 30:01 costs 120. Multi-day stays are charged for
their full duration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np

NS_PER_SECOND = 1_000_000_000


@dataclass(frozen=True)
class Tariff:
    """A per-block tariff: `rate_cents` for every started block of `block_minutes`."""

    name: str = "default"
    block_minutes: int = 30
    rate_cents: int = 60

    def __post_init__(self) -> None:
        if self.block_minutes <= 0:
            raise ValueError(f"tariff {self.name!r}: block_minutes must be positive")
        if self.rate_cents < 0:
            raise ValueError(f"tariff {self.name!r}: rate_cents must not be negative")

    @property
    def block_ns(self) -> int:
        return self.block_minutes * 60 * NS_PER_SECOND

    def charge_cents(self, duration: timedelta) -> int:
        """Reference implementation for one stay (exact integer arithmetic)."""
        if duration < timedelta(0):
            raise ValueError(f"a stay cannot last a negative time ({duration})")
        micros = duration // timedelta(microseconds=1)
        block_micros = self.block_minutes * 60 * 1_000_000
        blocks = -(-micros // block_micros)  # ceiling division on integers
        return blocks * self.rate_cents

    def price(self, durations_ns: np.ndarray) -> np.ndarray:
        """Vectorised pricing: durations in nanoseconds (int64) to charges in cents (int64)."""
        durations = np.asarray(durations_ns, dtype=np.int64)
        if durations.size and durations.min() < 0:
            raise ValueError("a stay cannot last a negative time")
        blocks = -(-durations // self.block_ns)
        return blocks * np.int64(self.rate_cents)


DEFAULT_TARIFF = Tariff()
