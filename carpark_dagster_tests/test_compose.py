"""docker-compose.yaml, checked by a real Compose implementation: no Docker engine runs here, so
`ops/compose-check` (a small Go program on compose-go, the loader Docker Compose itself uses)
loads, interpolates and normalises the file as `docker compose config` would, and these tests
read what it prints. The program is built once per change of its sources, with the machine's Go
and the Go module proxy, into the state directory (git-ignored). Without Go these tests FAIL
with a message saying what to install: they never skip silently.

`make compose-smoke` (ops/compose-smoke.sh) starts the real stack where Docker runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yaml"
CHECKER = ROOT / "ops" / "compose-check"
STATE = Path(os.environ.get("CARPARK_STATE_DIR") or ROOT / ".state")

# One planted value per secret the file takes from .env: each must arrive where it belongs,
# and nowhere else.
SECRETS = {
    "CARPARK_POSTGRES_PASSWORD": "owner-Pw-0000000001",
    "CARPARK_PIPELINE_DB_PASSWORD": "app-Pw-0000000002",
    "CARPARK_DAGSTER_DB_PASSWORD": "dagster-Pw-0000000003",
    "ELASTIC_PASSWORD": "elastic-Pw-0000000004",
    "KIBANA_PASSWORD": "kibana-Pw-0000000005",
    "CARPARK_ES_PIPELINE_PASSWORD": "espipe-Pw-0000000006",
    "CARPARK_DASHBOARDS_PASSWORD": "dash-Pw-0000000007",
    "OPENSEARCH_ADMIN_PASSWORD": "osadmin-Pw-0000000008",
    "OPENSEARCH_DASHBOARDS_PASSWORD": "osd-Pw-0000000009",
}
# Which services may see each secret (least privilege: the owner's password only where the
# schema and the logins are made; the search superuser only in its setup and its node).
SECRET_HOLDERS = {
    "CARPARK_POSTGRES_PASSWORD": {"postgres", "migrate", "db_roles"},
    "CARPARK_PIPELINE_DB_PASSWORD": {
        "db_roles",
        "carpark_code",
        "dagster_webserver",
        "dagster_daemon",
    },
    "CARPARK_DAGSTER_DB_PASSWORD": {
        "db_roles",
        "carpark_code",
        "dagster_webserver",
        "dagster_daemon",
    },
    "ELASTIC_PASSWORD": {"setup", "elasticsearch"},
    "KIBANA_PASSWORD": {"setup", "kibana"},
    "CARPARK_ES_PIPELINE_PASSWORD": {
        "setup",
        "opensearch_certs",
        "opensearch_setup",
        "carpark_code",
        "dagster_webserver",
        "dagster_daemon",
    },
    "CARPARK_DASHBOARDS_PASSWORD": {"setup", "opensearch_certs", "opensearch_setup", "dashboards"},
    "OPENSEARCH_ADMIN_PASSWORD": {"opensearch_certs", "opensearch_setup"},
    "OPENSEARCH_DASHBOARDS_PASSWORD": {
        "opensearch_certs",
        "opensearch_setup",
        "opensearch_dashboards",
    },
}
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|DSN", re.IGNORECASE)

ELASTIC_STACK = {"setup", "elasticsearch", "kibana"}
OPENSEARCH_STACK = {"opensearch_certs", "opensearch", "opensearch_setup", "opensearch_dashboards"}
ALWAYS = {
    "postgres",
    "migrate",
    "db_roles",
    "carpark_code",
    "dagster_webserver",
    "dagster_daemon",
    "dashboards",
}
ONE_SHOTS = {"migrate", "db_roles", "setup", "opensearch_certs", "opensearch_setup", "dashboards"}
# Variables the code reads that run containers must NOT get: the dashboards import's own
# password (a Kibana admin's) belongs to the one-shot `dashboards` service only; the owner's
# database password is named in the code only to be redacted wherever it shows.
NOT_FOR_RUNS = {"CARPARK_DASHBOARDS_PASSWORD", "CARPARK_POSTGRES_PASSWORD"}


def _go() -> str:
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None:
        pytest.fail(
            "Go is needed to validate docker-compose.yaml with compose-go (ops/compose-check): "
            "install it (Debian: apt-get install golang-go, Go 1.24+) and re-run"
        )
    return go


@cache
def checker() -> Path:
    """ops/compose-check built into the state directory; rebuilt when its sources change."""
    binary = STATE / "bin" / "compose-check"
    sources = [CHECKER / n for n in ("main.go", "go.mod", "go.sum")]
    if binary.exists() and all(binary.stat().st_mtime >= s.stat().st_mtime for s in sources):
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOFLAGS": "-mod=readonly", "CGO_ENABLED": "0"}
    built = subprocess.run(
        [_go(), "build", "-o", str(binary), "."],
        cwd=CHECKER,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if built.returncode != 0:
        pytest.fail(
            "could not build ops/compose-check (needs the Go module proxy for "
            f"github.com/compose-spec/compose-go/v2 on first use):\n{built.stderr[-2000:]}"
        )
    return binary


def load(tmp_path: Path, profile: str | None = None, **env: str) -> dict:
    """The normalised project for an .env of the planted secrets plus `env`."""
    values = {"COMPOSE_PROFILES": "elasticsearch", **SECRETS, **env}
    env_file = tmp_path / f"env-{profile}-{len(list(tmp_path.iterdir()))}"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    args = [str(checker()), "-f", str(COMPOSE), "-env-file", str(env_file)]
    if profile:
        args += ["-profile", profile]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def code_reads() -> set[str]:
    code = "\n".join(p.read_text() for p in (ROOT / "carpark_dagster").rglob("*.py"))
    return set(re.findall(r'"(CARPARK_[A-Z_]+)"', code))


@pytest.fixture(scope="module", params=[None, "opensearch"], ids=["elasticsearch", "opensearch"])
def project(request, tmp_path_factory) -> dict:
    return load(tmp_path_factory.mktemp("compose"), request.param)


def test_the_file_loads_and_normalises_with_each_search_engine(tmp_path):
    default = load(tmp_path)
    assert set(default["services"]) == ALWAYS | ELASTIC_STACK
    opensearch = load(tmp_path, "opensearch")
    assert set(opensearch["services"]) == ALWAYS | OPENSEARCH_STACK
    # Both engines answer the pipeline as `search`, their UIs as `dashboards`.
    for project, engine, ui in (
        (default, "elasticsearch", "kibana"),
        (opensearch, "opensearch", "opensearch_dashboards"),
    ):
        assert "search" in project["services"][engine]["networks"]["carpark_network"]["aliases"]
        assert "dashboards" in project["services"][ui]["networks"]["carpark_network"]["aliases"]


def test_a_missing_password_is_refused_by_compose_itself(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text(
        "".join(f"{k}={v}\n" for k, v in SECRETS.items() if k != "CARPARK_PIPELINE_DB_PASSWORD")
    )
    done = subprocess.run(
        [str(checker()), "-f", str(COMPOSE), "-env-file", str(env_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "set CARPARK_PIPELINE_DB_PASSWORD in .env" in done.stderr


def test_no_literal_secret_in_the_file():
    raw = yaml.safe_load(COMPOSE.read_text())
    environments = [raw["x-dagster-env"]] + [
        s.get("environment", {}) for s in raw["services"].values()
    ]
    for environment in environments:
        if not isinstance(environment, dict):
            continue  # an alias of x-dagster-env, checked above
        for key, value in environment.items():
            if SECRET_KEY.search(key) and value:
                assert "${" in str(value), f"{key} holds a literal value"


def test_every_secret_comes_from_the_environment_and_reaches_only_its_holders(project):
    seen: dict[str, set[str]] = {name: set() for name in SECRETS}
    for service, spec in project["services"].items():
        for key, value in (spec.get("environment") or {}).items():
            for name, secret in SECRETS.items():
                if value and secret in value:
                    seen[name].add(service)
            if SECRET_KEY.search(key) and value and "PASSWORD" in key:
                assert value in SECRETS.values(), f"{service}.{key} is not from .env"
    active = set(project["services"])
    for name, holders in SECRET_HOLDERS.items():
        assert seen[name] <= holders, f"{name} leaks to {seen[name] - holders}"
    # And each secret does arrive where the active profile needs it.
    daemon = project["services"]["dagster_daemon"]["environment"]
    assert daemon["CARPARK_POSTGRES_DSN"] == (
        f"postgresql://carpark_app:{SECRETS['CARPARK_PIPELINE_DB_PASSWORD']}@postgres:5432/carpark"
    )
    assert daemon["CARPARK_ES_USERNAME"] == "carpark_pipeline"
    assert daemon["CARPARK_ES_PASSWORD"] == SECRETS["CARPARK_ES_PIPELINE_PASSWORD"]
    assert daemon["DAGSTER_POSTGRES_USER"] == "dagster"
    assert daemon["CARPARK_ES_URL"].startswith("https://")
    assert daemon["CARPARK_ES_VERIFY_CERTS"] == "true"
    assert seen["CARPARK_POSTGRES_PASSWORD"] == {"postgres", "migrate", "db_roles"}
    if "elasticsearch" in active:
        assert seen["ELASTIC_PASSWORD"] == {"setup", "elasticsearch"}


@pytest.mark.parametrize("address", [None, "10.20.30.40"])
def test_every_published_port_binds_to_the_configured_address(tmp_path, address):
    for profile in (None, "opensearch"):
        env = {"CARPARK_BIND_ADDRESS": address} if address else {}
        project = load(tmp_path, profile, **env)
        published = [
            (name, p) for name, s in project["services"].items() for p in s.get("ports", [])
        ]
        assert {name for name, _ in published} >= {"postgres", "dagster_webserver"}
        assert all(p["host_ip"] == (address or "127.0.0.1") for _, p in published), published


def test_every_image_is_pinned_to_an_exact_version(project):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, service in project["services"].items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        # x.y.z, or PostgreSQL's x.y (its exact releases); never a bare major or `latest`.
        assert repository and re.fullmatch(r"\d+\.\d+(\.\d+)?(-[a-z0-9.-]+)?", tag), (name, image)
        if repository == "carpark_dagster":
            assert tag == version, "the pipeline's image is tagged with the project's version"
    base = re.search(r"^FROM (\S+)", (ROOT / "ops/docker/Dockerfile").read_text(), re.M)
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", base.group(1))


def test_long_running_services_are_healthchecked_restarted_and_limited(project):
    for name, service in project["services"].items():
        if name in ONE_SHOTS:
            assert service.get("restart") in ("no", "on-failure:5"), name
            continue
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name
        assert service["mem_limit"], name
    # Waits are on health, or on a one-shot's success; Elasticsearch alone starts as soon as
    # the setup service has made the certificates (healthy), as in Elastic's recipe.
    for name, service in project["services"].items():
        for dependency, how in (service.get("depends_on") or {}).items():
            wanted = "service_healthy"
            if dependency in ONE_SHOTS and (name, dependency) != ("elasticsearch", "setup"):
                wanted = "service_completed_successfully"
            assert how["condition"] == wanted, (name, dependency)


def test_volumes_are_named_and_bind_mounts_only_read_only_scripts_and_the_socket(project):
    for name, service in project["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "volume":
                assert volume["source"] in project["volumes"], (name, volume)
            elif volume["source"] == "/var/run/docker.sock":
                assert name == "dagster_daemon"
            else:
                assert volume["type"] == "bind" and volume.get("read_only"), (name, volume)
                assert Path(volume["source"]).parent == ROOT / "ops" / "docker"
    # Only the CA's certificate volume reaches the pipeline, never the certificates' keys.
    for name in ("carpark_code", "dagster_webserver", "dagster_daemon", "dashboards"):
        sources = {v["source"] for v in project["services"][name].get("volumes", [])}
        assert not sources & {"es_certs", "opensearch_certs"}, name


def test_the_daemon_can_reach_the_docker_socket(tmp_path):
    assert load(tmp_path)["services"]["dagster_daemon"]["group_add"] == ["999"]
    custom = load(tmp_path, DOCKER_GID="125")["services"]["dagster_daemon"]
    assert custom["group_add"] == ["125"]
    assert any(v["target"] == "/var/run/docker.sock" for v in custom["volumes"])


def test_run_containers_join_a_network_and_volumes_of_the_file(project):
    launcher = yaml.safe_load((ROOT / "ops/docker/dagster.yaml").read_text())["run_launcher"]
    config = launcher["config"]
    networks = {n["name"] for n in project["networks"].values()}
    assert config["network"] in networks
    volumes = {v.get("name") for v in project["volumes"].values()}
    for mount in config["container_kwargs"]["volumes"]:
        assert mount.split(":")[0] in volumes, mount
    image = project["services"]["carpark_code"]["environment"]["DAGSTER_CURRENT_IMAGE"]
    assert image == project["services"]["carpark_code"]["image"]


def test_every_variable_the_code_reads_reaches_run_containers_and_is_documented(project):
    read = code_reads() - NOT_FOR_RUNS
    launcher = yaml.safe_load((ROOT / "ops/docker/dagster.yaml").read_text())["run_launcher"]
    passed = set(launcher["config"]["env_vars"])
    assert read <= passed, f"not passed to run containers: {sorted(read - passed)}"
    daemon = set(project["services"]["dagster_daemon"]["environment"])
    assert read <= daemon, f"not in the daemon's environment: {sorted(read - daemon)}"
    assert passed <= daemon | {"DAGSTER_CURRENT_IMAGE"}, sorted(passed - daemon)
    documented = (ROOT / ".env.example").read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)", COMPOSE.read_text())) | code_reads()
    assert {v for v in used if v not in documented} == set()


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        ("", "is empty"),
        ("short-pw", "too short"),
        ("has space in it!", "may hold only"),
        ('quote"inside-a-long-one', "may hold only"),
        ("long-enough-Pw_0.~", None),
    ],
)
def test_setup_services_refuse_empty_short_or_unquotable_passwords(value, refused):
    script = f'. "{ROOT}/ops/docker/check-passwords.sh"; check_passwords KIBANA_PASSWORD; echo ok'
    done = subprocess.run(
        ["bash", "-c", script],
        env={"KIBANA_PASSWORD": value, "PATH": os.defpath},
        capture_output=True,
        text=True,
    )
    if refused is None:
        assert (done.returncode, done.stdout.strip()) == (0, "ok")
    else:
        assert done.returncode == 1
        assert refused in done.stderr and "KIBANA_PASSWORD" in done.stderr
        if value:
            assert value not in done.stderr + done.stdout


@pytest.mark.parametrize(
    "script",
    [*sorted((ROOT / "ops/docker").glob("*.sh")), ROOT / "ops/compose-smoke.sh"],
    ids=lambda p: p.name,
)
def test_the_setup_scripts_parse(script):
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
