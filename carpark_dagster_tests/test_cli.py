"""The `carpark` command without services: help, usage errors, exit codes, one-line errors."""

import subprocess
import sys
from pathlib import Path

import pytest

from carpark_dagster.cli import EXIT_FAILED, EXIT_USAGE, main


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--help"], ["migrate", "import-legacy", "search", "Exit codes"]),
        (["migrate", "--help"], ["--status", "--allow-drop"]),
        (["import-legacy", "--help"], ["FILE"]),
        (["search", "--help"], ["rebuild"]),
        (["search", "rebuild", "--help"], ["--page-size"]),
        (["config", "check", "--help"], ["FILE"]),
        (["report", "--help"], ["--period", "--format", "table,csv,json"]),
    ],
)
def test_every_command_has_help(argv, expected, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: carpark")
    assert all(word in out for word in expected)


@pytest.mark.parametrize(
    "argv",
    [
        ["frobnicate"],
        ["import-legacy"],  # no file
        ["import-legacy", "a.csv", "--from-postgres", "host=lab"],  # two sources
        ["import-legacy", "--from-postgres", "host=lab", "--batch-rows", "0"],
        ["search", "rebuild", "--page-size", "0"],
        ["search", "rebuild", "--page-size", "many"],
        ["migrate", "--allow-drop", "extra"],
        ["report", "--format", "xml"],
        ["report", "--period", "3w"],
    ],
)
def test_bad_usage_exits_2_with_a_message(argv, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == EXIT_USAGE
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["search"], ["config"]])
def test_a_group_without_its_command_shows_what_there_is(argv, capsys):
    assert main(argv) == EXIT_USAGE
    assert "usage: carpark" in capsys.readouterr().err


def test_an_unreachable_database_is_one_line_and_exit_1(monkeypatch, capsys):
    monkeypatch.setenv("CARPARK_POSTGRES_DSN", "postgresql://carpark:s3cret@127.0.0.1:9/carpark")
    assert main(["migrate"]) == EXIT_FAILED
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("carpark migrate: cannot connect to PostgreSQL at 127.0.0.1:9/carpark")
    assert "s3cret" not in line


def test_debug_adds_the_traceback(monkeypatch, capsys):
    monkeypatch.setenv("CARPARK_POSTGRES_DSN", "postgresql://carpark@127.0.0.1:9/carpark")
    assert main(["--debug", "migrate"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("carpark migrate: cannot connect")


def test_a_bug_is_reported_as_one_line_not_a_traceback(monkeypatch, capsys):
    def broken(args):
        raise KeyError("oops")

    monkeypatch.setattr("carpark_dagster.cli.migrate", broken)
    assert main(["migrate"]) == EXIT_FAILED
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (
        "carpark migrate: unexpected error (KeyError): 'oops' (run with --debug for the traceback)"
    )


def test_the_installed_command_runs():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "carpark"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0
    assert "search" in result.stdout


def test_config_check_prints_the_effective_configuration(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("CARPARK_CONFIG", raising=False)
    assert main(["config", "check"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("carpark_dagster/config/carpark.toml: valid")
    assert out[1] == "lateness: 24 h (events later than this are set aside)"
    assert out[2:4] == [
        "tariffs (2):",
        "  default: per_block, 60 cents per 30 min, grace 0 min, night cap none, daily cap none, "
        "exit not recorded 0 cents, Asia/Singapore",
    ]
    assert "locations (6):" in out
    assert out[-1] == (
        "  Park5 (Carpark 5): tariff default, plates any, capacity 200, 400 sessions a day "
        "(simulator), max stay 72 h"
    )
    # CARPARK_CONFIG is the default file
    site = tmp_path / "site.toml"
    site.write_text("[tariffs.default]\n[locations.A]\ncapacity = 5\nsessions_per_day = 9\n")
    monkeypatch.setenv("CARPARK_CONFIG", str(site))
    assert main(["config", "check"]) == 0
    assert "  A (A): tariff default, plates any, capacity 5, 9 sessions a day" in (
        capsys.readouterr().out
    )


def test_config_check_lists_every_problem_one_per_line_and_exits_2(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        "[defaults]\nlateness_hours = nan\ncapacity = 3000000000\nsessions_per_day = 1\n"
        "[tariffs.default]\nrate_cents = 100000000000000\n"
        '[locations.""]\n[locations.A]\nmax_stay_hours = true\n'
    )
    assert main(["config", "check", str(bad)]) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{bad}: [tariffs.default]: tariff 'default': rate_cents must be a whole number from 0 "
        "to 60000561774 (got a number out of range)",
        f"{bad}: [defaults]: lateness_hours must be a number of hours more than 0 to 8784 "
        "(got nan)",
        f"{bad}: [locations]: a location id must be 1 to 64 printable characters without "
        "spaces at either end",
        f"{bad}: [locations.A]: capacity must be a whole number from 0 to 2147483647 "
        "(got a number out of range)",
        f"{bad}: [locations.A]: max_stay_hours must be a number of hours from 1 to 8784 "
        "(got a boolean)",
    ]
    broken = tmp_path / "broken.toml"
    broken.write_text("[locations\n")
    assert main(["config", "check", str(broken)]) == EXIT_USAGE
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"{broken}: not valid TOML")


def test_the_lab_dsn_from_the_environment_must_be_set(monkeypatch, capsys):
    monkeypatch.delenv("CARPARK_LAB_POSTGRES_DSN", raising=False)
    assert main(["import-legacy", "--from-postgres"]) == EXIT_USAGE
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (
        "carpark import-legacy: CARPARK_LAB_POSTGRES_DSN is not set: it should hold the lab "
        "database's DSN"
    )


@pytest.mark.parametrize(
    "table", ["", "a.b.c", 'public."Car"Park"', "x" * 64, "public.Car\x00Park", "."]
)
def test_a_bad_table_name_is_refused_before_anything_connects(table, monkeypatch, capsys):
    monkeypatch.setenv("CARPARK_POSTGRES_DSN", "postgresql://carpark@127.0.0.1:9/carpark")
    argv = ["import-legacy", "--from-postgres", "host=127.0.0.1 port=9", "--table", table]
    assert main(argv) == EXIT_USAGE
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("carpark import-legacy: --table must be TABLE or SCHEMA.TABLE")
