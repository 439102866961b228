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


@pytest.mark.parametrize("argv", [[], ["search"]])
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
