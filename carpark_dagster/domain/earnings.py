"""Earnings per carpark location: the totals both stores report, the lab's question (the top
locations by average charge), and the reconciliation of PostgreSQL against the search index.

PostgreSQL and the search engine each answer with `LocationTotals`, so the comparison and the
ranking never care where the figures came from. Money is integer cents; averages are exact
decimals rounded half-even to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import pandas as pd

RANKING_COLUMNS = ["rank", "location_id", "sessions", "total_charge_cents", "average_charge_cents"]


@dataclass(frozen=True)
class LocationTotals:
    """Closed sessions at one location and the sum of their charges."""

    location_id: str
    sessions: int
    total_charge_cents: int

    @property
    def average_charge_cents(self) -> Decimal:
        return (Decimal(self.total_charge_cents) / Decimal(self.sessions)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_EVEN
        )


def top_average_charges(totals: Iterable[LocationTotals], top: int = 5) -> pd.DataFrame:
    """The lab's question: the `top` locations by average charge (ties: location id)."""
    ranked = sorted(
        (t for t in totals if t.sessions > 0),
        key=lambda t: (-t.average_charge_cents, t.location_id),
    )[:top]
    return pd.DataFrame(
        [
            {
                "rank": i,
                "location_id": t.location_id,
                "sessions": t.sessions,
                "total_charge_cents": t.total_charge_cents,
                "average_charge_cents": t.average_charge_cents,
            }
            for i, t in enumerate(ranked, start=1)
        ],
        columns=RANKING_COLUMNS,
    )


def totals_without(
    totals: Iterable[LocationTotals], excluded: Iterable[LocationTotals]
) -> list[LocationTotals]:
    """`totals` less `excluded`, location by location (say, PostgreSQL's closed sessions less
    those the search engine refused, to compare with the index). A location left with no
    session and no charge is dropped, as the stores leave it out."""
    left = {t.location_id: (t.sessions, t.total_charge_cents) for t in totals}
    for t in excluded:
        sessions, cents = left.get(t.location_id, (0, 0))
        left[t.location_id] = (sessions - t.sessions, cents - t.total_charge_cents)
    return [
        LocationTotals(location, sessions, cents)
        for location, (sessions, cents) in sorted(left.items())
        if sessions or cents
    ]


def totals_differences(
    postgres: Iterable[LocationTotals], search: Iterable[LocationTotals]
) -> list[dict]:
    """Per location, where PostgreSQL's closed sessions and the index disagree in document
    count or sum of `charge_cents`; empty when they agree."""
    expected = {t.location_id: (t.sessions, t.total_charge_cents) for t in postgres}
    found = {t.location_id: (t.sessions, t.total_charge_cents) for t in search}
    differences = []
    for location in sorted(expected.keys() | found.keys()):
        postgres_side = expected.get(location, (0, 0))
        index_side = found.get(location, (0, 0))
        if postgres_side != index_side:
            differences.append(
                {
                    "location_id": location,
                    "postgres_sessions": postgres_side[0],
                    "index_documents": index_side[0],
                    "postgres_charge_cents": postgres_side[1],
                    "index_charge_cents": index_side[1],
                }
            )
    return differences
