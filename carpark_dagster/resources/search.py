"""The search engine (Elasticsearch or OpenSearch) as a Dagster resource.

One engine-neutral code path: the index template, aliases, bulk actions and aggregations below
are the same JSON for both engines; `engines.py` holds the little that differs.

Layout in the engine: an index template for `<alias>-v*`, versioned concrete indices
(`<alias>-v1`, `-v2`, …) and the alias (plus the lab's `frompostgresql`) on exactly one of
them. A rebuild loads the next version and moves both aliases in one atomic request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

import dagster as dg
from pydantic import Field

from carpark_dagster.domain.earnings import LocationTotals
from carpark_dagster.domain.redaction import redact_url
from carpark_dagster.domain.reporting import (
    ALL_LOCATIONS,
    MoneyFigures,
    Period,
    hourly_from_buckets,
)
from carpark_dagster.domain.sessions import StoredSession
from carpark_dagster.resources.engines import (
    ConnectionSettings,
    Engine,
    EngineError,
    connect,
)

DEFAULT_URL = "http://127.0.0.1:9250"
SESSIONS_ALIAS = "carpark-sessions"
LEGACY_ALIAS = "frompostgresql"  # the lab's Kibana data view looked for this name
MAX_LOCATIONS = 10_000
REPORT_TIME_ZONE = "Asia/Singapore"  # carpark time, for the earnings by hour of day
NDJSON = "application/x-ndjson"  # what the engines read from `_msearch` (and `_bulk`)

# ISO 8601 only: a number in a date field would be a bug, not epoch milliseconds.
_DATE = {"type": "date", "format": "strict_date_optional_time"}
# A keyword longer than this is kept in the document but not indexed as a term, instead of the
# engine refusing the whole document (Lucene's limit is 32,766 bytes per term): a 40,000-
# character plate from the lab's data is stored, just not findable by an exact plate search.
# Characters, not bytes; every real value is far shorter.
KEYWORD_IGNORE_ABOVE = 256
_KEYWORD = {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
SESSION_FIELDS: dict[str, Any] = {
    "session_id": _KEYWORD,
    "plate": _KEYWORD,
    "location_id": _KEYWORD,
    "entry_time": _DATE,
    "exit_time": _DATE,
    "duration_minutes": {"type": "integer"},
    "charge_cents": {"type": "long"},
    "charge": {"type": "scaled_float", "scaling_factor": 100},
    "tariff": _KEYWORD,
    "updated_at": _DATE,
}
# The names the lab's Kibana knew (its dynamic mapping of public."CarPark"), as field aliases
# of ours: searches and aggregations on them read our fields, nothing is stored twice. Units
# agree: the lab's `Parking_Charges` was dollars, as `charge` is. The lab's `LocationID` and
# `Plate` were `text` with a `.keyword` multi-field; aggregations use the `.keyword` names, so
# those are the aliases. An alias cannot have sub-fields, so the bare `LocationID` / `Plate`
# cannot also be one (both engines refuse the mapping): `LocationID` is an object holding the
# alias `keyword`, and a search on bare `LocationID` finds nothing (docs/dashboards.md).
LAB_FIELD_ALIASES: dict[str, str] = {
    "Entry_DateTime": "entry_time",
    "Exit_DateTime": "exit_time",
    "Parking_Charges": "charge",
    "LocationID.keyword": "location_id",
    "Plate.keyword": "plate",
}


def alias_properties(aliases: dict[str, str]) -> dict[str, Any]:
    """Mapping properties for field aliases; a dotted name becomes an object path (the engines
    expand dotted names so anyway, and return them expanded)."""
    properties: dict[str, Any] = {}
    for name, path in aliases.items():
        *parents, leaf = name.split(".")
        level = properties
        for parent in parents:
            level = level.setdefault(parent, {"properties": {}})["properties"]
        level[leaf] = {"type": "alias", "path": path}
    return properties


SESSION_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {**SESSION_FIELDS, **alias_properties(LAB_FIELD_ALIASES)},
}
# Above the engines' built-in templates (100), so ours wins for `<alias>-v*`.
TEMPLATE_PRIORITY = 200

# Bulk requests: by count and by bytes, whichever fills first; 429s are retried with backoff.
BULK_CHUNK_DOCS = 5_000
BULK_CHUNK_BYTES = 10 * 1024 * 1024
BULK_429_RETRIES = 5
BULK_INITIAL_BACKOFF_S = 1
BULK_MAX_BACKOFF_S = 30
# Actions beyond one request go as this many concurrent streams of requests (contiguous
# slices): the engine indexes them on as many write threads while this process only waits
# (bench/RESULTS.md). Each stream keeps its own 429 retries.
BULK_STREAMS = 2
# Only what we read from each item comes back: about a quarter of the JSON to parse.
BULK_FILTER_PATH = "items.*._id,items.*.status,items.*.error"

# A bulk action as the two NDJSON lines the engine reads: the action line and the document
# (None for a delete). Built once, as text, in the thread that reads PostgreSQL; the clients'
# `streaming_bulk` takes such pairs from its `expand_action_callback` and sends them as they
# are, instead of copying and JSON-encoding two dicts per document in the sending thread.
BulkAction = tuple[str, str | None]

# A JSON string literal, quotes included (the C encoder the json module itself uses).
_json_str = json.encoder.encode_basestring


# The reason kept for a rejected document: the engine's error type and message, cut before
# the parts that quote the document's values, with any quoted text removed, at most this long.
REASON_MAX_CHARS = 300
_VALUE_QUOTES = (
    "Preview of field's value",
    "The prefix of the first immense term",
    "original message",
)
_QUOTED = re.compile(r"'[^']*'?|\"[^\"]*\"?")


class BulkItem(NamedTuple):
    """The engine's answer for one action. (A tuple: one is made per document sent.)"""

    id: str
    op: str
    ok: bool
    status: int | None = None
    reason: str = ""
    error_type: str = ""

    @property
    def rejected(self) -> bool:
        """The engine refused this document for what it holds (a value the mapping cannot
        take), as opposed to failing to handle it (see `is_rejection`): sending it again
        unchanged would be refused again."""
        return not self.ok and is_rejection(self.status, self.error_type)

    def failure(self) -> dict:
        return {"id": self.id, "op": self.op, "status": self.status, "reason": self.reason}


# 4xx answers about the index or the cluster, not the document: every document of the bulk
# gets them (a closed index is a 400, a write block or a missing permission a 403), and they
# go away when the engine is put right, so they stop the sync like an outage instead of
# turning every document into a dead letter.
NOT_THE_DOCUMENT_STATUSES = frozenset({401, 403, 404, 408, 409, 429})
NOT_THE_DOCUMENT_ERRORS = frozenset(
    {
        "index_closed_exception",
        "index_not_found_exception",
        "invalid_index_name_exception",
        "cluster_block_exception",
        "security_exception",
        "es_rejected_execution_exception",
        "rejected_execution_exception",
        "circuit_breaking_exception",
        "unavailable_shards_exception",
        "no_shard_available_action_exception",
    }
)


def is_rejection(status: int | None, error_type: str = "") -> bool:
    """Whether a failed document's answer says the document itself is at fault: a 4xx, but
    neither one about the index or the cluster nor a 429 (too busy, still after the retries).
    5xx and no answer at all are the engine failing."""
    return (
        status is not None
        and 400 <= status < 500
        and status not in NOT_THE_DOCUMENT_STATUSES
        and error_type not in NOT_THE_DOCUMENT_ERRORS
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
        self.shards = shards
        self.replicas = replicas
        self.refresh_interval = refresh_interval
        self._version = re.compile(rf"^{re.escape(alias)}-v(\d+)$")

    @property
    def aliases(self) -> tuple[str, ...]:
        return (self.alias, *self.extra_aliases)

    @property
    def template(self) -> dict:
        return {
            "index_patterns": [f"{self.alias}-v*"],
            "priority": TEMPLATE_PRIORITY,
            "template": {
                "settings": {
                    "number_of_shards": self.shards,
                    "number_of_replicas": self.replicas,
                    "refresh_interval": self.refresh_interval,
                },
                "mappings": SESSION_MAPPING,
            },
            "_meta": {"managed_by": "carpark_dagster"},
        }

    # ------------------------------------------------------------ layout

    def ensure(self) -> str:
        """Make the template, the current index and its aliases what this code expects, and
        return the current index. Idempotent: every sync calls it."""
        self.engine.request("PUT", f"/_index_template/{self.alias}", body=self.template)
        current = self.current_index()
        if current is None:
            current = self._create_first_index()
        self._point_extra_aliases_at(current)
        self._upgrade_in_place(current)
        return current

    def current_index(self) -> str | None:
        """The concrete index behind the alias, or None when there is no alias yet."""
        indices = self._indices_with_alias(self.alias)
        if len(indices) > 1:
            raise EngineError(
                f"alias {self.alias} at {self.engine.url} points at several indices "
                f"({', '.join(sorted(indices))}); keep one (POST /_aliases) and retry"
            )
        return next(iter(indices), None)

    def versioned_indices(self) -> dict[str, set[str]]:
        """Every `<alias>-v<N>` index, with the aliases pointing at it (maybe none)."""
        answer = self.engine.request("GET", f"/{self.alias}-v*/_alias")
        return {
            name: set(info.get("aliases", {}))
            for name, info in answer.items()
            if self._version.match(name)
        }

    def next_index(self) -> str:
        """`<alias>-v<N+1>`, N the highest version present (so never a name in use)."""
        versions = [int(self._version.match(name)[1]) for name in self.versioned_indices()]
        return f"{self.alias}-v{max(versions, default=0) + 1}"

    def create_index(self, name: str, bulk_load: bool = False) -> None:
        """A new index from the template. For a bulk load, without refreshes or replicas until
        `finish_bulk_load`: nobody searches it yet, and both slow the load down."""
        body = (
            {"settings": {"refresh_interval": "-1", "number_of_replicas": 0}} if bulk_load else {}
        )
        self.engine.request("PUT", f"/{name}", body=body)

    def finish_bulk_load(self, name: str) -> None:
        """Back to the configured refresh interval and replicas; refreshed; its primaries
        allocated (the engine answers 408 after 30 s if not)."""
        self._apply_dynamic_settings(name)
        self.refresh(name)
        # No `timeout` parameter: opensearch-py would take it for the client's own timeout.
        self.engine.request("GET", f"/_cluster/health/{name}", params={"wait_for_status": "yellow"})

    def swap_aliases(self, new: str) -> None:
        """Move every alias to `new` in ONE `_aliases` request: searches see the old index or
        the new one, never neither."""
        actions: list[dict] = []
        for alias in self.aliases:
            actions += [
                {"remove": {"index": index, "alias": alias}}
                for index in sorted(self._indices_with_alias(alias))
                if index != new
            ]
            actions.append({"add": {"index": new, "alias": alias}})
        self.engine.request("POST", "/_aliases", body={"actions": actions})

    def delete_index(self, name: str) -> None:
        try:
            self.engine.request("DELETE", f"/{name}")
        except EngineError as exc:
            if exc.status != 404:
                raise

    def _create_first_index(self) -> str:
        name = self.next_index()
        try:
            self.engine.request(
                "PUT", f"/{name}", body={"aliases": {alias: {} for alias in self.aliases}}
            )
        except EngineError as exc:
            # Another process created it first: fine, it came from the same template.
            if exc.status != 400 or "already_exists" not in str(exc):
                raise
        current = self.current_index()
        if current is None:
            raise EngineError(
                f"created {name} at {self.engine.url} but alias {self.alias} is missing"
            )
        return current

    def _point_extra_aliases_at(self, current: str) -> None:
        """The lab's alias follows the main one (say, after it was added to the config)."""
        actions: list[dict] = []
        for alias in self.extra_aliases:
            indices = self._indices_with_alias(alias)
            if indices == {current}:
                continue
            actions += [{"remove": {"index": i, "alias": alias}} for i in sorted(indices)]
            actions.append({"add": {"index": current, "alias": alias}})
        if actions:
            self.engine.request("POST", "/_aliases", body={"actions": actions})

    def _upgrade_in_place(self, current: str) -> None:
        """Apply what can change on a live index: new fields and field aliases (the lab's
        names), `ignore_above`, refresh interval, replicas.

        The settings also undo a bulk load's `refresh_interval: -1` if a crash left it behind.
        A mapping change that cannot be applied in place (a field's type) needs a rebuild; the
        old mapping keeps working meanwhile, so that is a warning, not a failure.
        """
        self._apply_dynamic_settings(current)
        try:
            self.engine.request("PUT", f"/{current}/_mapping", body=SESSION_MAPPING)
        except EngineError as exc:
            if exc.status != 400:
                raise
            dg.get_dagster_logger().warning(
                "the mapping of %s differs from this version's and cannot be changed in place "
                "(%s); run `carpark search rebuild` to apply it",
                current,
                exc,
            )

    def _apply_dynamic_settings(self, name: str) -> None:
        self.engine.request(
            "PUT",
            f"/{name}/_settings",
            body={
                "index": {
                    "refresh_interval": self.refresh_interval,
                    "number_of_replicas": self.replicas,
                }
            },
        )

    def _indices_with_alias(self, alias: str) -> set[str]:
        try:
            return set(self.engine.request("GET", f"/_alias/{alias}"))
        except EngineError as exc:
            if exc.status == 404:
                return set()
            raise

    # ------------------------------------------------------------ writes

    def bulk(self, actions: Iterable[BulkAction]) -> Iterator[BulkItem]:
        """Send actions with the client's `streaming_bulk` and yield one answer per action.

        Rejected documents come back as failed items instead of raising; a failed request
        (engine down, timeout) raises an EngineError after the answers already received.
        More actions than one request holds go as BULK_STREAMS concurrent streams; then the
        answers come once every stream has ended, and an EngineError after all of them.
        (Ids are unique within one call, so the streams never race on one document.)
        """
        actions = list(actions)
        if len(actions) <= BULK_CHUNK_DOCS or BULK_STREAMS < 2:
            yield from self._bulk_stream(actions)
            return
        size = -(-len(actions) // BULK_STREAMS)
        slices = [actions[i : i + size] for i in range(0, len(actions), size)]

        def stream(part: list[BulkAction]) -> tuple[list[BulkItem], EngineError | None]:
            answers: list[BulkItem] = []
            try:
                answers.extend(self._bulk_stream(part))
            except EngineError as exc:
                return answers, exc
            return answers, None

        with ThreadPoolExecutor(len(slices), thread_name_prefix="search-bulk") as pool:
            outcomes = list(pool.map(stream, slices))
        failure = None
        for answers, exc in outcomes:
            yield from answers
            failure = failure or exc
        if failure is not None:
            raise failure

    def _bulk_stream(self, actions: list[BulkAction]) -> Iterator[BulkItem]:
        """One stream of bulk requests, in order (see `bulk`)."""
        results = self.engine.streaming_bulk(
            actions,
            chunk_size=BULK_CHUNK_DOCS,
            max_chunk_bytes=BULK_CHUNK_BYTES,
            raise_on_error=False,
            raise_on_exception=True,
            max_retries=BULK_429_RETRIES,
            initial_backoff=BULK_INITIAL_BACKOFF_S,
            max_backoff=BULK_MAX_BACKOFF_S,
            filter_path=BULK_FILTER_PATH,
            expand_action_callback=_ready_lines,
        )
        for ok, item in results:
            ((op, detail),) = item.items()
            if ok:
                yield BulkItem(detail["_id"], op, True)
                continue
            status = detail.get("status")
            # Deleting a document that is not there leaves the index as we want it.
            done = op == "delete" and status == 404
            error = detail.get("error")
            reason = "" if done else rejection_reason(error)
            error_type = str(error.get("type", "")) if isinstance(error, dict) else ""
            yield BulkItem(detail.get("_id"), op, done, status, reason, error_type)

    def delete_documents(self, ids: Iterable[str], target: str | None = None) -> None:
        """Delete these documents (a missing one counts as deleted); raise an EngineError if
        the engine fails any of them."""
        failed = [
            item for item in self.bulk(delete_actions(ids, target or self.alias)) if not item.ok
        ]
        if failed:
            first = failed[0]
            raise EngineError(
                f"search engine at {self.engine.url} failed to delete {len(failed)} documents "
                f"(first: status {first.status}, {first.reason})",
                first.status,
            )

    def refresh(self, target: str | None = None) -> None:
        self.engine.request("POST", f"/{target or self.alias}/_refresh")

    # ------------------------------------------------------------ reads

    def totals_by_location(self, target: str | None = None) -> list[LocationTotals]:
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
        answer = self.engine.request("POST", f"/{target or self.alias}/_search", body=body)
        return [
            LocationTotals(
                location_id=bucket["key"],
                sessions=int(bucket["doc_count"]),
                # A sum over `long` comes back as a double; exact below 2**53 cents.
                total_charge_cents=round(bucket["charge_cents"]["value"]),
            )
            for bucket in answer["aggregations"]["locations"]["buckets"]
        ]

    def periods_money(
        self, periods: Sequence[Period], target: str | None = None
    ) -> list[tuple[MoneyFigures, dict[str, int | None]]]:
        """For each period: per location, documents and sum of `charge_cents` with `exit_time`
        in the period, and the charges by hour of day in carpark time (an hourly date
        histogram over the period, folded by hour); with the median stay per location and over
        all (ALL_LOCATIONS), in whole seconds. One search a period, all in one multi-search
        request (the engine runs them side by side: ~40% less time than one after another)."""
        index = target or self.alias
        lines = []
        for period in periods:
            lines.append(json.dumps({"index": index}))
            lines.append(json.dumps(_period_search(period)))
        answer = self.engine.request(
            "POST", "/_msearch", body="\n".join(lines) + "\n", content_type=NDJSON
        )
        figures = []
        for response in answer["responses"]:
            error = response.get("error")
            if error is not None:
                status = response.get("status")
                raise EngineError(
                    f"search engine at {self.engine.url} failed a search of the earnings "
                    f"report (status {status}): {rejection_reason(error)}",
                    status if isinstance(status, int) else None,
                )
            figures.append(_money_of(response["aggregations"]))
        return figures

    def count(self, target: str | None = None) -> int:
        return int(self.engine.request("GET", f"/{target or self.alias}/_count")["count"])


def _period_search(period: Period) -> dict:
    """The search behind one period's money and median stays (see `periods_money`)."""
    # The median of the whole minutes stayed, from an HDR histogram: exact for stays
    # under 2,048 minutes (34 h), within a minute up to 4,096 (docs/reporting.md).
    median = {
        "percentiles": {
            "field": "duration_minutes",
            "percents": [50],
            "hdr": {"number_of_significant_value_digits": 3},
        }
    }
    return {
        "size": 0,
        "query": {"range": {"exit_time": {"gte": _iso(period.start), "lt": _iso(period.end)}}},
        "aggs": {
            "locations": {
                "terms": {"field": "location_id", "size": MAX_LOCATIONS},
                "aggs": {
                    "charge_cents": {"sum": {"field": "charge_cents"}},
                    "median_stay": median,
                },
            },
            "median_stay": median,
            "hours": {
                "date_histogram": {
                    "field": "exit_time",
                    "fixed_interval": "1h",
                    "time_zone": REPORT_TIME_ZONE,
                    "min_doc_count": 1,
                },
                "aggs": {"charge_cents": {"sum": {"field": "charge_cents"}}},
            },
        },
    }


def _money_of(aggregations: dict) -> tuple[MoneyFigures, dict[str, int | None]]:
    """One period's figures from the aggregations of its search (see `periods_money`)."""
    buckets = aggregations["locations"]["buckets"]
    money = MoneyFigures(
        by_location={
            bucket["key"]: (
                int(bucket["doc_count"]),
                # A sum over `long` comes back as a double; exact below 2**53 cents.
                round(bucket["charge_cents"]["value"]),
            )
            for bucket in buckets
        },
        hourly_cents=hourly_from_buckets(
            (
                datetime.fromtimestamp(bucket["key"] / 1000, UTC),
                round(bucket["charge_cents"]["value"]),
            )
            for bucket in aggregations["hours"]["buckets"]
        ),
    )
    medians = {bucket["key"]: _median_seconds(bucket["median_stay"]) for bucket in buckets}
    medians[ALL_LOCATIONS] = _median_seconds(aggregations["median_stay"])
    return money, medians


def _median_seconds(aggregation: dict) -> int | None:
    """The median of a percentiles aggregation over whole minutes, in seconds (None: no
    documents). The engines answer `{"values": {"50.0": m}}`."""
    values = aggregation.get("values") or {}
    minutes = next(iter(values.values()), None)
    return None if minutes is None else round(minutes) * 60


def session_actions(sessions: Iterable[StoredSession], target: str) -> list[BulkAction]:
    """Bulk actions for sessions, `_id` = session id: closed ones indexed, open ones deleted
    (an open session has no document: a late exit may have re-opened it)."""
    index_line = '{"index":{"_index":' + _json_str(target) + ',"_id":'
    delete_line = '{"delete":{"_index":' + _json_str(target) + ',"_id":'
    actions: list[BulkAction] = []
    updated_at, updated_at_iso = None, ""
    for session in sessions:
        id_json = _json_str(session.session_id)
        if session.exit_time is None:
            actions.append((f"{delete_line}{id_json}}}}}", None))
            continue
        # Rows of one tick share their updated_at: format it once.
        if session.updated_at != updated_at:
            updated_at = session.updated_at
            updated_at_iso = _iso(updated_at)
        actions.append((f"{index_line}{id_json}}}}}", session_source(session, updated_at_iso)))
    return actions


def delete_actions(ids: Iterable[str], target: str) -> list[BulkAction]:
    """Bulk deletes of the documents with these ids."""
    delete_line = '{"delete":{"_index":' + _json_str(target) + ',"_id":'
    return [(f"{delete_line}{_json_str(i)}}}}}", None) for i in ids]


def session_document(session: StoredSession) -> dict:
    """The search document of a closed session: times ISO 8601 with offset, money in integer
    cents plus exact dollars. (`session_source` writes the same as JSON text, faster.)"""
    cents = int(session.charge_cents)
    return {
        "session_id": session.session_id,
        "plate": session.plate,
        "location_id": session.location_id,
        "entry_time": _iso(session.entry_time),
        "exit_time": _iso(session.exit_time),
        "duration_minutes": int(session.duration_seconds) // 60,
        "charge_cents": cents,
        "charge": _dollars(cents),
        "tariff": session.tariff,
        "updated_at": _iso(session.updated_at),
    }


def session_source(session: StoredSession, updated_at_iso: str | None = None) -> str:
    """`session_document` as JSON text, written directly: twice as fast as building the dict
    and encoding it, which matters at tens of thousands of documents a second. Strings go
    through the C JSON string encoder; times and numbers need no escaping."""
    cents = int(session.charge_cents)
    return (
        f'{{"session_id":{_json_str(session.session_id)}'
        f',"plate":{_json_str(session.plate)}'
        f',"location_id":{_json_str(session.location_id)}'
        f',"entry_time":"{_iso(session.entry_time)}"'
        f',"exit_time":"{_iso(session.exit_time)}"'
        f',"duration_minutes":{int(session.duration_seconds) // 60}'
        f',"charge_cents":{cents}'
        f',"charge":"{_dollars(cents)}"'
        f',"tariff":{_json_str(session.tariff)}'
        f',"updated_at":"{updated_at_iso or _iso(session.updated_at)}"}}'
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
    shards: int = Field(default=1, description="Primary shards of a new index.")
    replicas: int = Field(default=0, description="Replicas (0 suits a single node).")
    refresh_interval: str = Field(default="5s", description="How soon new documents show.")
    request_timeout_s: float = Field(default=30.0, description="Per-request timeout.")
    max_retries: int = Field(
        default=3, description="Retries of a request on connection errors and timeouts."
    )

    def settings(self) -> ConnectionSettings:
        return ConnectionSettings(
            url=self.url,
            username=self.username,
            password=self.password,
            api_key=self.api_key,
            ca_certs=self.ca_certs,
            verify_certs=self.verify_certs,
            request_timeout_s=self.request_timeout_s,
            max_retries=self.max_retries,
        )

    @contextmanager
    def session_index(self) -> Iterator[SessionIndex]:
        if not self.verify_certs:
            dg.get_dagster_logger().warning(
                "TLS certificate verification is OFF for %s: use this only on a local machine",
                redact_url(self.url),
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


def _iso(value: datetime) -> str:
    # PostgreSQL hands back timezone-aware datetimes; a naive one would be read as UTC by the
    # engine and silently shift Singapore times by eight hours.
    if value.tzinfo is None:
        raise ValueError(f"refusing to index a time without an offset: {value!r}")
    return value.isoformat()


def _dollars(cents: int) -> str:
    """Exact dollars as text ("12.30"): no float rounding on the way to the engine."""
    units, rest = divmod(abs(cents), 100)
    return f"{'-' if cents < 0 else ''}{units}.{rest:02d}"


def _ready_lines(action: BulkAction) -> BulkAction:
    return action


def rejection_reason(error: Any) -> str:
    """Why the engine refused a document, without the document: the error's type and message
    up to where the engines quote the value ("Preview of field's value: '…'", the prefix of an
    immense term), quoted text (ids, values) replaced by '…', the cause's type only (its
    message quotes the value too), at most REASON_MAX_CHARS characters."""
    if not isinstance(error, dict):
        return _shorten(_QUOTED.sub("'…'", str(error)))
    message = str(error.get("reason") or "")
    for marker in _VALUE_QUOTES:
        message = message.split(marker, 1)[0]
    message = _QUOTED.sub("'…'", message).strip().rstrip(".,;:").strip()
    text = f"{error.get('type', 'error')}: {message}" if message else str(error.get("type"))
    cause = error.get("caused_by")
    if isinstance(cause, dict) and cause.get("type"):
        text += f" (caused by {cause['type']})"
    return _shorten(text)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= REASON_MAX_CHARS else text[: REASON_MAX_CHARS - 1] + "…"
