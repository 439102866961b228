"""The `carpark` command against the real database."""

import pytest

from carpark_dagster.cli import main


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
