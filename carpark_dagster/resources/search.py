"""The search engine (Elasticsearch or OpenSearch) as a Dagster resource.

One engine-neutral code path: the index template, aliases, bulk actions and aggregations below
are the same JSON for both engines; `engines.py` holds the little that differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

import dagster as dg
import pandas as pd
from pydantic import Field

from carpark_dagster.resources.engines import ConnectionSettings, Engine, EngineError, connect

DEFAULT_URL = "http://127.0.0.1:9250"
SESSIONS_ALIAS = "carpark-sessions"
LEGACY_ALIAS = "frompostgresql"  # the lab's Kibana data view looked for this name
MAX_LOCATIONS = 10_000

SESSION_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "session_id": {"type": "keyword"},
        "plate": {"type": "keyword"},
        "location_id": {"type": "keyword"},
        "entry_time": {"type": "date"},
        "exit_time": {"type": "date"},
        "duration_minutes": {"type": "integer"},
        "charge_cents": {"type": "long"},
        "charge": {"type": "scaled_float", "scaling_factor": 100},
        "tariff": {"type": "keyword"},
        "updated_at": {"type": "date"},
    },
}


@dataclass
class BulkOutcome:
    indexed: int = 0
    failures: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class LocationTotals:
    location_id: str
    sessions: int
    total_charge_cents: int

    @property
    def average_charge_cents(self) -> Decimal:
        return (Decimal(self.total_charge_cents) / Decimal(self.sessions)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_EVEN
        )


class SessionIndex:
    """Parking sessions in the search engine, behind the alias `alias`."""

    def __init__(
        self,
        engine: Engine,
        alias: str,
        extra_aliases: tuple[str, ...],
        shards: int,
        replicas: int,
        refresh_interval: str,
    ):
        self.engine = engine
        self.alias = alias
        self.extra_aliases = extra_aliases
        self._settings = {
            "number_of_shards": shards,
            "number_of_replicas": replicas,
            "refresh_interval": refresh_interval,
        }

    @property
    def first_index(self) -> str:
        return f"{self.alias}-v1"

    def ensure(self) -> None:
        """Create or update the template; create the first index and aliases if missing."""
        self.engine.request(
            "PUT",
            f"/_index_template/{self.alias}",
            body={
                "index_patterns": [f"{self.alias}-v*"],
                "template": {"settings": self._settings, "mappings": SESSION_MAPPING},
            },
        )
        if self._alias_exists(self.alias):
            return
        aliases = {name: {} for name in (self.alias, *self.extra_aliases)}
        try:
            self.engine.request("PUT", f"/{self.first_index}", body={"aliases": aliases})
        except EngineError as exc:
            # Another run created it first: fine, it came from the same template.
            if exc.status != 400 or "already_exists" not in str(exc):
                raise

    def _alias_exists(self, name: str) -> bool:
        try:
            self.engine.request("GET", f"/_alias/{name}")
        except EngineError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def index_sessions(self, sessions: Iterable[dict], chunk_size: int = 2_000) -> BulkOutcome:
        """Index sessions (`_id` = session id); collect per-document failures instead of raising."""
        outcome = BulkOutcome()
        results = self.engine.streaming_bulk(
            (self._action(s) for s in sessions),
            chunk_size=chunk_size,
            max_chunk_bytes=10 * 1024 * 1024,
            raise_on_error=False,
            raise_on_exception=True,
            max_retries=5,
            initial_backoff=1,
            max_backoff=30,
        )
        for ok, item in results:
            if ok:
                outcome.indexed += 1
            else:
                detail = next(iter(item.values()))
                outcome.failures.append(
                    {
                        "id": detail.get("_id"),
                        "status": detail.get("status"),
                        "reason": _reason(detail.get("error")),
                    }
                )
        return outcome

    def _action(self, session: dict) -> dict:
        return {
            "_op_type": "index",
            "_index": self.alias,
            "_id": session["session_id"],
            "_source": session_document(session),
        }

    def refresh(self) -> None:
        self.engine.request("POST", f"/{self.alias}/_refresh")

    def totals_by_location(self) -> list[LocationTotals]:
        """Document count and sum of `charge_cents` per location, from one aggregation."""
        body = {
            "size": 0,
            "aggs": {
                "locations": {
                    "terms": {"field": "location_id", "size": MAX_LOCATIONS},
                    "aggs": {"charge_cents": {"sum": {"field": "charge_cents"}}},
                }
            },
        }
        answer = self.engine.request("POST", f"/{self.alias}/_search", body=body)
        return [
            LocationTotals(
                location_id=bucket["key"],
                sessions=int(bucket["doc_count"]),
                # A sum over `long` comes back as a double; exact below 2**53 cents.
                total_charge_cents=round(bucket["charge_cents"]["value"]),
            )
            for bucket in answer["aggregations"]["locations"]["buckets"]
        ]

    def count(self) -> int:
        return int(self.engine.request("GET", f"/{self.alias}/_count")["count"])


def session_document(session: dict) -> dict:
    """The search document of a closed session: times ISO 8601 with offset, money in cents."""
    cents = int(session["charge_cents"])
    return {
        "session_id": session["session_id"],
        "plate": session["plate"],
        "location_id": session["location_id"],
        "entry_time": _iso(session["entry_time"]),
        "exit_time": _iso(session["exit_time"]),
        "duration_minutes": int(session["duration_seconds"]) // 60,
        "charge_cents": cents,
        "charge": f"{Decimal(cents) / 100:.2f}",
        "tariff": session["tariff"],
        "updated_at": _iso(session["updated_at"]),
    }


def top_average_charges(totals: list[LocationTotals], top: int = 5) -> pd.DataFrame:
    """The lab's question: the `top` locations by average charge (ties: location id)."""
    ranked = sorted(
        (t for t in totals if t.sessions > 0),
        key=lambda t: (-t.average_charge_cents, t.location_id),
    )[:top]
    return pd.DataFrame(
        [
            {
                "rank": i,
                "location_id": t.location_id,
                "sessions": t.sessions,
                "total_charge_cents": t.total_charge_cents,
                "average_charge_cents": t.average_charge_cents,
            }
            for i, t in enumerate(ranked, start=1)
        ],
        columns=["rank", "location_id", "sessions", "total_charge_cents", "average_charge_cents"],
    )


class ElasticsearchResource(dg.ConfigurableResource):
    """The serving store: Elasticsearch (operators) or OpenSearch (development, CI).

    `engine="auto"` asks the root endpoint which one it is and uses that engine's client.
    """

    url: str = Field(default=DEFAULT_URL, description="Base URL of the search engine.")
    username: str | None = Field(default=None, description="Basic-auth user.")
    password: str | None = Field(default=None, description="Basic-auth password.")
    api_key: str | None = Field(default=None, description="API key (instead of basic auth).")
    ca_certs: str | None = Field(default=None, description="CA bundle path for TLS.")
    verify_certs: bool = Field(default=True, description="Verify TLS certificates.")
    engine: Literal["auto", "elasticsearch", "opensearch"] = "auto"
    alias: str = Field(default=SESSIONS_ALIAS, description="Alias the pipeline writes to.")
    legacy_alias: str | None = Field(default=LEGACY_ALIAS, description="Extra read alias.")
    shards: int = 1
    replicas: int = 0
    refresh_interval: str = "5s"
    request_timeout_s: float = 30.0

    def settings(self) -> ConnectionSettings:
        return ConnectionSettings(
            url=self.url,
            username=self.username,
            password=self.password,
            api_key=self.api_key,
            ca_certs=self.ca_certs,
            verify_certs=self.verify_certs,
            request_timeout_s=self.request_timeout_s,
        )

    @contextmanager
    def session_index(self) -> Iterator[SessionIndex]:
        if not self.verify_certs:
            dg.get_dagster_logger().warning(
                "TLS certificate verification is OFF for %s: use this only on a local machine",
                self.url,
            )
        engine = connect(self.settings(), self.engine)
        try:
            yield SessionIndex(
                engine,
                alias=self.alias,
                extra_aliases=(self.legacy_alias,) if self.legacy_alias else (),
                shards=self.shards,
                replicas=self.replicas,
                refresh_interval=self.refresh_interval,
            )
        finally:
            engine.close()


def _iso(value: Any) -> str:
    return pd.Timestamp(value).isoformat()


def _reason(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('type')}: {error.get('reason')}"
    return str(error)
