"""The `carpark` command against the real database."""

import pytest

from carpark_dagster.cli import main
from carpark_dagster.lib.ticks import close_windows, gather_windows, plan_tick, store_batches
from carpark_dagster.resources.postgres import StaleTick
from carpark_dagster.settings import build_resources


@pytest.mark.parametrize("command", [["migrate", "--status"], ["migrate"]])
def test_migrate_reports_and_applies(postgres_dsn, monkeypatch, capsys, command):
    monkeypatch.setenv("CARPARK_POSTGRES_DSN", postgres_dsn)
    assert main(command) == 0
    out = capsys.readouterr().out
    if command == ["migrate"]:
        assert out.startswith("applied: 0001_initial, ")
        assert main(["migrate"]) == 0
        assert capsys.readouterr().out == "up to date: nothing to apply\n"
    else:
        assert "0001_initial" in out and "pending" in out and "applied" not in out


def test_replay_re_processes_a_processed_range_and_changes_nothing(
    postgres, postgres_dsn, monkeypatch, capsys
):
    monkeypatch.setenv("CARPARK_POSTGRES_DSN", postgres_dsn)
    monkeypatch.setenv("CARPARK_START", "2026-11-27T07:00+08:00")
    # Nothing processed yet: every range is refused, and nothing is written.
    assert main(["replay", "--from", "2026-11-27T07:00", "--to", "2026-11-27T07:30"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("carpark replay: replay 2026-11-27T07:00:00+08:00 to ")
    assert "(none yet)" in line
    assert postgres.tick_progress() is None

    resources = build_resources(resolve=True)
    plan = plan_tick(postgres, pinned(resources["tick_clock"], "2026-11-27T08:00+08:00"))
    config = resources["carpark_config"].load()
    run = close_windows(
        postgres, config, gather_windows(resources["gate_simulator"], postgres, config, plan)
    )
    store_batches(postgres, run)
    before = _rows(postgres)

    assert main(["replay", "--from", "2026-11-27T07:00", "--to", "2026-11-27T08:00"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("replayed 12 windows, 2026-11-27 07:00 to 2026-11-27 07:55")
    assert "events new               0" in out
    assert "sessions written         0" in out
    assert _rows(postgres) == before

    # Later windows are the schedule's.
    assert main(["replay", "--from", "2026-11-27T07:30", "--to", "2026-11-27T08:30"]) == 2
    assert "only windows already processed can be replayed" in capsys.readouterr().err


def test_a_batch_made_before_other_ticks_were_stored_is_refused(postgres, monkeypatch):
    """As when a failed run is re-executed after later ticks: its stored batches would undo
    their work, so nothing of them is stored."""
    monkeypatch.setenv("CARPARK_START", "2026-11-27T07:00+08:00")
    resources = build_resources(resolve=True)
    config = resources["carpark_config"].load()
    simulator = resources["gate_simulator"]
    clock = pinned(resources["tick_clock"], "2026-11-27T07:30+08:00")
    old = close_windows(
        postgres, config, gather_windows(simulator, postgres, config, plan_tick(postgres, clock))
    )
    newer = close_windows(
        postgres, config, gather_windows(simulator, postgres, config, plan_tick(postgres, clock))
    )
    store_batches(postgres, newer)
    before = _rows(postgres)

    with pytest.raises(StaleTick, match="other ticks have been stored since"):
        store_batches(postgres, old)
    assert _rows(postgres) == before


def pinned(clock, now: str):
    return type(clock)(start=clock.start, now=now, max_windows_per_run=clock.max_windows_per_run)


def _rows(postgres) -> list[tuple]:
    with postgres.connect() as conn:
        return (
            conn.execute(
                "SELECT session_id, status, exit_time, charge_cents, updated_at "
                "FROM carpark.parking_sessions ORDER BY session_id"
            ).fetchall()
            + conn.execute("SELECT * FROM carpark.tick_progress").fetchall()
        )
