"""`make up` is idempotent: a second call leaves one PostgreSQL and one search node."""

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("CARPARK_STATE_DIR", ROOT / ".state"))


def _processes(marker: str, program: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(program.encode()) and marker.encode() in b" ".join(argv):
            found.append(int(entry.name))
    return found


@pytest.mark.services
def test_up_twice_leaves_one_postgres_and_one_search_node():
    for _ in range(2):
        subprocess.run([ROOT / "ops" / "services.sh", "up"], check=True, capture_output=True)
    pg_data = str((STATE / "postgres").resolve() / "data")
    assert len(_processes(pg_data, "postgres")) == 1
    assert len(_processes(str(STATE / "opensearch" / "node"), "java")) == 1
    status = subprocess.run(
        [ROOT / "ops" / "services.sh", "status"], capture_output=True, text=True, check=True
    )
    assert "postgres:   running" in status.stdout
    assert "opensearch: running" in status.stdout


def _up_postgres(state: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CARPARK_STATE_DIR": str(state)}
    return subprocess.run(
        [ROOT / "ops" / "services.sh", "up", "postgres"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_state_directory_that_is_a_link_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "state").symlink_to(tmp_path / "elsewhere")
    done = _up_postgres(tmp_path / "state")
    assert done.returncode == 1
    assert "is a symbolic link; refusing to use it" in done.stderr
    assert list((tmp_path / "elsewhere").iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can make a directory of another user")
def test_a_state_directory_of_another_user_is_refused(tmp_path):
    (tmp_path / "state").mkdir()
    os.chown(tmp_path / "state", 65534, 65534)  # nobody
    done = _up_postgres(tmp_path / "state")
    assert done.returncode == 1
    assert "belongs to another user; refusing to use it" in done.stderr
    assert list((tmp_path / "state").iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="the /var/tmp fallback is taken only as root")
def test_a_prepared_var_tmp_directory_is_refused_and_nothing_is_handed_over(tmp_path):
    """As root with the state directory where the postgres user cannot go (pytest's tmp_path
    is mode 700), the cluster would live in /var/tmp/carpark-<hash>: another local user who
    made that directory first, with a link inside, gets nothing chowned to postgres."""
    state = tmp_path / "state"
    digest = hashlib.sha1(str(state).encode()).hexdigest()[:12]
    trap = Path(f"/var/tmp/carpark-{digest}")
    victim = tmp_path / "victim"
    victim.mkdir()
    trap.mkdir()
    try:
        (trap / "postgres").symlink_to(victim)
        os.chown(trap, 65534, 65534, follow_symlinks=False)
        done = _up_postgres(state)
        assert done.returncode == 1
        assert f"{trap} already exists and belongs to another user" in done.stderr
        assert victim.stat().st_uid == 0
        assert not (state / "postgres").exists()
    finally:
        (trap / "postgres").unlink()
        trap.rmdir()


def test_the_cluster_wants_a_password_and_env_gives_it():
    """scram-sha-256 for every connection; the DSN of `ops/services.sh env` carries the
    generated password, which no one else can read."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    printed = subprocess.run(
        [ROOT / "ops" / "services.sh", "env"], capture_output=True, text=True, check=True
    ).stdout
    dsn = next(line.split("=", 1)[1] for line in printed.splitlines() if "POSTGRES_DSN" in line)
    password = conninfo_to_dict(dsn)["password"]
    assert len(password) == 48
    secrets = STATE / "secrets"
    assert (secrets.stat().st_mode & 0o777) == 0o700
    assert ((secrets / "carpark.password").stat().st_mode & 0o777) == 0o600
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("carpark",)
    without = make_conninfo(dsn, password="", passfile="/nonexistent")
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(without, connect_timeout=5)
    hba = (STATE / "postgres").resolve() / "data" / "pg_hba.conf"
    rules = [
        line.split()
        for line in hba.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules and all(rule[-1] == "scram-sha-256" for rule in rules)
