"""The work behind the checks of the stored state (docs/checks.md) that is more than one read:
judging the charges of the sessions changed since the last evaluation, and reconciling the
search index with PostgreSQL. Plain Python over the resources, no Dagster needed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from carpark_dagster.domain.checks import ChargeFindings, judge_charges
from carpark_dagster.domain.earnings import totals_differences, totals_without
from carpark_dagster.domain.sessions import Watermark, watermark_of
from carpark_dagster.domain.tariff import Tariff
from carpark_dagster.resources.postgres import PostgresResource
from carpark_dagster.resources.search import SessionIndex

# Where the stored-charges check has got to, beside the search sync's in carpark.sync_watermarks.
CHARGES_CONSUMER = "check:stored_charges_follow_tariff"


@dataclass(frozen=True)
class ChargesOutcome:
    """An evaluation of the stored charges: what it found in the sessions changed between
    `checked_from` and `checked_until`, and whether it reached the last change."""

    findings: ChargeFindings
    checked_from: Watermark
    checked_until: Watermark
    caught_up: bool


def judge_changed_charges(
    postgres: PostgresResource,
    tariffs: Mapping[str, Tariff],
    limit: int,
    page_size: int,
    consumer: str = CHARGES_CONSUMER,
) -> ChargesOutcome:
    """Judge the charges of the sessions changed since the last evaluation (at most `limit`,
    in keyset order), then move the consumer's watermark past them: each change is judged
    once, so the cost follows the new data, not the history. A session changed again (a late
    exit, a replay) is judged again. Call it as the database's writer (the checks job is),
    so no change commits behind the watermark meanwhile."""
    started = mark = postgres.watermark(consumer)
    findings = ChargeFindings()
    read = 0
    caught_up = False
    while read < limit:
        wanted = min(page_size, limit - read)
        page = postgres.changed_sessions(mark, wanted)
        findings.add(judge_charges(page, tariffs))
        read += len(page)
        if page:
            mark = watermark_of(page[-1])
        if len(page) < wanted:
            caught_up = True
            break
    if not caught_up:
        caught_up = not postgres.changed_sessions(mark, 1)
    if mark != started:
        postgres.set_watermark(consumer, mark)
    return ChargesOutcome(findings, checked_from=started, checked_until=mark, caught_up=caught_up)


def search_differences(postgres: PostgresResource, index: SessionIndex) -> tuple[list[dict], int]:
    """Per location, where the index's document count or charge sum differs from PostgreSQL's
    closed sessions less the search dead letters (`totals_differences`), and how many dead
    letters there are; before the first sync there is no index, which holds nothing."""
    expected = postgres.search_expectation(dead_letters_shown=0)
    if index.current_index() is None:
        found = []
    else:
        index.refresh()
        found = index.totals_by_location()
    closed = totals_without(expected.closed, expected.dead_lettered)
    return totals_differences(closed, found), expected.dead_letter_count
