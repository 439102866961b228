"""Resources configured from environment variables (documented in .env.example).

Where a variable is unset, the local default that `make up` provides applies. Inside Dagster,
secrets are passed as `dg.EnvVar`, so their values never show in the UI; command-line tools
ask for plain values instead (`resolve=True`).
"""

from __future__ import annotations

import os

import dagster as dg

from carpark_dagster.domain.alerts import DEFAULT_UI_URL
from carpark_dagster.domain.config import ConfigError
from carpark_dagster.resources import (
    CarparkConfigResource,
    CheckLimitsResource,
    ElasticsearchResource,
    GateSimulatorResource,
    InboxResource,
    PostgresResource,
    RunPickleIOManager,
    TickClockResource,
)
from carpark_dagster.resources.alerts import AlertWebhookResource
from carpark_dagster.resources.reports import ReportsResource
from carpark_dagster.resources.retention import RetentionResource
from carpark_dagster.resources.search import LEGACY_ALIAS, SESSIONS_ALIAS


class _Env:
    """Reads variables as `dg.EnvVar` (inside Dagster) or, resolved, as their values."""

    def __init__(self, resolve: bool):
        self.resolve = resolve

    def text(self, name: str, default=None):
        """The variable when it is set, else `default`."""
        if not os.environ.get(name):
            return default
        return os.environ[name] if self.resolve else dg.EnvVar(name)

    def int(self, name: str, default: int):
        if not os.environ.get(name):
            return default
        return int(os.environ[name]) if self.resolve else dg.EnvVar.int(name)


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {value!r}") from None


def _legacy_alias() -> str | None:
    """The lab's alias; `none` turns it off."""
    value = os.environ.get("CARPARK_ES_LEGACY_ALIAS")
    if not value:
        return LEGACY_ALIAS
    return None if value.strip().lower() == "none" else value


LAB_POSTGRES_DSN = "CARPARK_LAB_POSTGRES_DSN"
LAB_VARIABLE_PREFIX = LAB_POSTGRES_DSN.removesuffix("POSTGRES_DSN")  # CARPARK_LAB_


def lab_postgres_dsn(variable: str = LAB_POSTGRES_DSN) -> str:
    """The lab database's DSN, from `variable` (a name starting CARPARK_LAB_: a job's run
    config names the variable, never the DSN, and cannot point at another secret)."""
    if not variable.startswith(LAB_VARIABLE_PREFIX) or not variable.isidentifier():
        raise ConfigError(
            f"the lab database's DSN must come from a variable named {LAB_VARIABLE_PREFIX}..."
            f" (e.g. {LAB_POSTGRES_DSN})"
        )
    dsn = os.environ.get(variable, "").strip()
    if not dsn:
        raise ConfigError(f"{variable} is not set: it should hold the lab database's DSN")
    return dsn


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() not in {"0", "false", "no", "off"}


def build_resources(
    resolve: bool = False,
) -> dict[str, dg.ConfigurableResource | dg.ConfigurableIOManager]:
    """Every resource; `resolve=True` reads the variables now (for tools outside Dagster)."""
    env = _Env(resolve)
    dsn = env.text("CARPARK_POSTGRES_DSN", PostgresResource().dsn)
    return {
        "postgres": PostgresResource(
            dsn=dsn,
            writer_lock_wait_s=_env_float(
                "CARPARK_WRITER_LOCK_WAIT_S", PostgresResource().writer_lock_wait_s
            ),
        ),
        # The failure sensor's: records failures without waiting for the writer lock.
        "postgres_monitor": PostgresResource(dsn=dsn, writer=False),
        "alert_webhook": AlertWebhookResource(
            # A secret (chat webhooks carry their token in the URL): an EnvVar in Dagster.
            url=env.text("CARPARK_ALERT_WEBHOOK_URL"),
            ui_url=os.environ.get("CARPARK_UI_URL") or DEFAULT_UI_URL,
        ),
        "retention": RetentionResource.from_environment(),
        "search": ElasticsearchResource(
            url=env.text("CARPARK_ES_URL", ElasticsearchResource().url),
            username=env.text("CARPARK_ES_USERNAME"),
            password=env.text("CARPARK_ES_PASSWORD"),
            api_key=env.text("CARPARK_ES_API_KEY"),
            ca_certs=env.text("CARPARK_ES_CA_CERTS"),
            verify_certs=_flag("CARPARK_ES_VERIFY_CERTS", True),
            engine=os.environ.get("CARPARK_ES_ENGINE") or "auto",
            request_timeout_s=_env_float("CARPARK_ES_TIMEOUT_S", 30.0),
            max_retries=env.int("CARPARK_ES_MAX_RETRIES", 3),
            alias=env.text("CARPARK_ES_ALIAS", SESSIONS_ALIAS),
            legacy_alias=_legacy_alias(),
            shards=env.int("CARPARK_ES_SHARDS", 1),
            replicas=env.int("CARPARK_ES_REPLICAS", 0),
            refresh_interval=env.text("CARPARK_ES_REFRESH_INTERVAL", "5s"),
        ),
        "io_manager": RunPickleIOManager(),
        "reports": ReportsResource(
            # Not secret: plain values.
            directory=os.environ.get("CARPARK_REPORTS_DIR") or ReportsResource().directory,
            keep_days=env.int("CARPARK_REPORTS_KEEP_DAYS", ReportsResource().keep_days),
        ),
        "tick_clock": TickClockResource(
            start=env.text("CARPARK_START"),
            max_windows_per_run=env.int(
                "CARPARK_MAX_WINDOWS_PER_RUN", TickClockResource().max_windows_per_run
            ),
        ),
        "carpark_config": CarparkConfigResource(path=env.text("CARPARK_CONFIG")),
        "inbox": InboxResource(
            # Not secret, and checked when read: plain values.
            source=os.environ.get("CARPARK_SOURCE") or InboxResource().source,
            directory=os.environ.get("CARPARK_INBOX_DIR") or InboxResource().directory,
            max_file_mb=env.int("CARPARK_INBOX_MAX_FILE_MB", InboxResource().max_file_mb),
        ),
        "check_limits": CheckLimitsResource(
            quarantine_max_per_hour=env.int(
                "CARPARK_QUARANTINE_MAX_PER_HOUR", CheckLimitsResource().quarantine_max_per_hour
            ),
        ),
        "gate_simulator": GateSimulatorResource(
            seed=env.int("CARPARK_SIM_SEED", 8),
            volume_scale=_env_float("CARPARK_SIM_VOLUME_SCALE", 1.0),
            dirty_share=_env_float("CARPARK_SIM_DIRTY_SHARE", 0.01),
        ),
    }
