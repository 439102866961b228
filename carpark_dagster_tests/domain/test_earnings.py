"""Earnings per location: the lab's top-5 question and the reconciliation of the two stores."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from carpark_dagster.domain.earnings import (
    RANKING_COLUMNS,
    LocationTotals,
    top_average_charges,
    totals_differences,
    totals_without,
)


def test_the_top_five_are_ranked_by_average_charge_with_ties_by_location():
    totals = [
        LocationTotals("Park0", 4, 480),  # 120.00
        LocationTotals("Park1", 3, 400),  # 133.33
        LocationTotals("Park2", 2, 240),  # 120.00, ties with Park0
        LocationTotals("Park3", 1, 60),
        LocationTotals("Park4", 5, 1000),  # 200.00
        LocationTotals("Park5", 2, 121),  # 60.50
        LocationTotals("Park6", 0, 0),  # no sessions: not ranked
    ]
    ranking = top_average_charges(totals)
    assert list(ranking.columns) == RANKING_COLUMNS
    assert ranking["location_id"].tolist() == ["Park4", "Park1", "Park0", "Park2", "Park5"]
    assert ranking["rank"].tolist() == [1, 2, 3, 4, 5]
    assert ranking["sessions"].tolist() == [5, 3, 4, 2, 2]
    assert ranking["total_charge_cents"].tolist() == [1000, 400, 480, 240, 121]
    assert ranking["average_charge_cents"].tolist() == [
        Decimal("200.00"),
        Decimal("133.33"),
        Decimal("120.00"),
        Decimal("120.00"),
        Decimal("60.50"),
    ]


def test_averages_are_exact_cents_rounded_half_even():
    assert LocationTotals("P", 8, 1).average_charge_cents == Decimal("0.12")  # 0.125
    assert LocationTotals("P", 8, 3).average_charge_cents == Decimal("0.38")  # 0.375
    assert LocationTotals("P", 3, 200).average_charge_cents == Decimal("66.67")


def test_no_sessions_give_an_empty_ranking_with_its_columns():
    ranking = top_average_charges([])
    assert ranking.empty and list(ranking.columns) == RANKING_COLUMNS


def test_reconciliation_names_every_location_that_differs():
    postgres = [
        LocationTotals("Park0", 3, 300),
        LocationTotals("Park1", 2, 120),
        LocationTotals("Park2", 1, 60),
    ]
    index = [
        LocationTotals("Park0", 3, 300),
        LocationTotals("Park1", 2, 180),  # a charge differs
        LocationTotals("Park9", 1, 1),  # a location PostgreSQL does not have
    ]  # and Park2 is missing

    differences = totals_differences(postgres, index)

    assert differences == [
        {
            "location_id": "Park1",
            "postgres_sessions": 2,
            "index_documents": 2,
            "postgres_charge_cents": 120,
            "index_charge_cents": 180,
        },
        {
            "location_id": "Park2",
            "postgres_sessions": 1,
            "index_documents": 0,
            "postgres_charge_cents": 60,
            "index_charge_cents": 0,
        },
        {
            "location_id": "Park9",
            "postgres_sessions": 0,
            "index_documents": 1,
            "postgres_charge_cents": 0,
            "index_charge_cents": 1,
        },
    ]
    assert totals_differences(postgres, list(postgres)) == []


@given(st.lists(st.tuples(st.integers(1, 50), st.integers(0, 10**9)), min_size=1, max_size=12))
def test_the_ranking_never_puts_a_lower_average_above_a_higher_one(figures):
    totals = [LocationTotals(f"Park{i}", n, cents) for i, (n, cents) in enumerate(figures)]
    ranking = top_average_charges(totals, top=5)
    averages = ranking["average_charge_cents"].tolist()
    assert averages == sorted(averages, reverse=True)
    assert len(ranking) == min(5, len(totals))
    best = max(t.average_charge_cents for t in totals)
    assert averages[0] == best


def test_totals_without_the_dead_letters_subtract_per_location_and_drop_what_is_left_empty():
    closed = [
        LocationTotals("Park0", 10, 1200),
        LocationTotals("Park1", 2, 120),
        LocationTotals("Park2", 5, 300),
    ]
    dead = [LocationTotals("Park1", 2, 120), LocationTotals("Park0", 1, 60)]
    assert totals_without(closed, dead) == [
        LocationTotals("Park0", 9, 1140),
        LocationTotals("Park2", 5, 300),
    ]
    assert totals_without(closed, []) == sorted(closed, key=lambda t: t.location_id)
    # A dead letter at a location PostgreSQL does not list shows as a negative (a mismatch),
    # never silently dropped.
    assert totals_without([], [LocationTotals("Park9", 1, 60)]) == [
        LocationTotals("Park9", -1, -60)
    ]


@given(
    st.lists(
        st.tuples(st.sampled_from(["Park0", "Park1", "Park2"]), st.integers(0, 10_000)),
        max_size=40,
    ),
    st.data(),
)
def test_the_index_less_its_dead_letters_reconciles_with_postgres_less_them(sessions, data):
    """Whatever sessions are refused: an index holding all the others matches PostgreSQL's
    totals less the refused ones, and matches nothing else if one more is missing."""
    refused = data.draw(st.sets(st.integers(0, max(len(sessions) - 1, 0))))
    refused &= set(range(len(sessions)))

    def totals(rows):
        found: dict[str, list[int]] = {}
        for location, cents in rows:
            found.setdefault(location, [0, 0])
            found[location][0] += 1
            found[location][1] += cents
        return [LocationTotals(loc, n, c) for loc, (n, c) in found.items()]

    indexed = [s for i, s in enumerate(sessions) if i not in refused]
    dead = [s for i, s in enumerate(sessions) if i in refused]
    assert totals_differences(totals_without(totals(sessions), totals(dead)), totals(indexed)) == []
    if indexed:
        assert (
            totals_differences(totals_without(totals(sessions), totals(dead)), totals(indexed[1:]))
            != []
        )
