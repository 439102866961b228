"""The retention rules: one list, read from the environment, turned into bounded statements."""

import pytest

from carpark_dagster.resources.retention import (
    RETENTION_RULES,
    RetentionResource,
    batch_rows,
    days_kept,
    delete_batch_statement,
)


def test_the_defaults_and_what_the_environment_changes():
    assert days_kept({}) == {
        "gate_events": 400,
        "landed_events": 400,
        "quarantine": 400,
        "location_earnings": 90,
        "earnings_reports": 90,
        "run_failures": 90,
        "session_exits": 7,
        "dagster_runs": 90,
    }
    changed = days_kept(
        {"CARPARK_RETENTION_GATE_EVENTS_DAYS": "0", "CARPARK_RETENTION_DAGSTER_RUNS_DAYS": " 30 "}
    )
    assert (changed["gate_events"], changed["dagster_runs"]) == (0, 30)
    assert changed["landed_events"] == 0  # replays read both: one variable
    assert batch_rows({}) == 10_000
    resource = RetentionResource.from_environment({"CARPARK_RETENTION_BATCH_ROWS": "500"})
    assert (resource.batch_rows, resource.dagster_runs_days) == (500, 90)


@pytest.mark.parametrize("value", ["-1", "1.5", "a year", "1e3"])
def test_a_bad_value_is_refused_naming_the_variable_not_echoing_it(value):
    with pytest.raises(ValueError) as caught:
        days_kept({"CARPARK_RETENTION_QUARANTINE_DAYS": value})
    assert str(caught.value) == (
        "CARPARK_RETENTION_QUARANTINE_DAYS must be a whole number (for days, 0 keeps forever)"
    )


def test_a_batch_must_hold_a_row():
    with pytest.raises(ValueError, match="CARPARK_RETENTION_BATCH_ROWS must be at least 1"):
        batch_rows({"CARPARK_RETENTION_BATCH_ROWS": "0"})


def test_every_rule_has_its_own_table_and_variable_and_sessions_have_none():
    tables = [rule.table for rule in RETENTION_RULES]
    assert len(set(tables)) == len(tables)
    # One variable a rule, but the landed events share the gate events' (replays read both),
    # and the earnings report's history the ranking's (one history of earnings), and with it
    # their default.
    by_variable: dict[str, set[int]] = {}
    for rule in RETENTION_RULES:
        by_variable.setdefault(rule.env_var, set()).add(rule.default_days)
    assert len(by_variable) == len(tables) - 2
    assert all(len(defaults) == 1 for defaults in by_variable.values())
    assert "carpark.parking_sessions" not in tables
    assert all(rule.default_days > 0 for rule in RETENTION_RULES)


def test_statements_are_bounded_and_take_values_as_parameters():
    exits = next(rule for rule in RETENTION_RULES if rule.name == "session_exits")
    text = delete_batch_statement(exits).as_string(None)
    assert text.startswith('DELETE FROM "carpark"."session_exits" WHERE ctid = ANY(ARRAY(')
    assert 'WHERE t."exit_time" < %(cutoff)s AND (' in text
    assert text.endswith("LIMIT %(limit)s))")
