"""The dashboard bundles and the lab's field names, against an index the pipeline made on the
real search node: every field a chart uses exists with a type its aggregation needs, and each
chart's aggregation, sent as a search, returns the top 5 `location_earnings` computed.

Kibana cannot run here: the Lens state and the classic `visState` of the committed bundles are
translated into the search request each product would send (the same aggregation tree), and
that request goes to the engine.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest

from carpark_dagster.domain.earnings import top_average_charges
from carpark_dagster.lib.dashboards import LAB_VIEW, SESSIONS_VIEW, bundle_path
from carpark_dagster.resources import ElasticsearchResource, PostgresResource
from carpark_dagster.resources.engines import EngineError
from carpark_dagster_tests.integration.conftest import SEARCH_URL, databases, migrated
from carpark_dagster_tests.integration.pipeline_runs import pipeline_resources, run_pipeline

TICK = "2026-11-27T09:00+08:00"  # two hours of simulated morning traffic

# The lab's question as a lab user's Kibana asks it: its dynamic mapping's names.
LAB_TOP_5 = {
    "size": 0,
    "aggs": {
        "0": {
            "terms": {"field": "LocationID.keyword", "size": 5, "order": {"1": "desc"}},
            "aggs": {"1": {"avg": {"field": "Parking_Charges"}}},
        }
    },
}


class Pipeline:
    def __init__(self, postgres: PostgresResource, search: ElasticsearchResource):
        self.postgres = postgres
        self.search = search
        # The data views' titles, as the test's own aliases (`frompostgresql*` matches the
        # lab alias in production; here the test's lab alias).
        self.targets = {SESSIONS_VIEW.title: search.alias, LAB_VIEW.title: search.legacy_alias}

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        with self.search.session_index() as index:
            return index.engine.request(method, path, body=body)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Iterator[Pipeline]:
    """One run of the pipeline for the module: its database, its aliases (the lab alias
    too), dropped after."""
    alias = f"test-{uuid.uuid4().hex[:10]}-sessions"
    search = ElasticsearchResource(
        url=SEARCH_URL, alias=alias, legacy_alias=f"{alias}-frompostgresql"
    )
    with databases() as create:
        postgres = migrated(create())
        resources = pipeline_resources(postgres, search, tmp_path_factory.mktemp("run"), seed=7)
        try:
            result = run_pipeline(resources, TICK)
            assert result.success
            with search.session_index() as index:
                index.refresh()
            yield Pipeline(postgres, search)
        finally:
            with search.session_index() as index:
                index.engine.request("DELETE", f"/{alias}-v*")
                try:
                    index.engine.request("DELETE", f"/_index_template/{alias}")
                except EngineError as exc:
                    if exc.status != 404:
                        raise


def _earnings_top_5(pipeline: Pipeline) -> list[tuple[str, Decimal]]:
    """What `location_earnings` stored at its last computation: (location, average cents)."""
    with pipeline.postgres.connect() as conn:
        rows = conn.execute(
            """SELECT location_id, average_charge_cents FROM carpark.location_earnings
               WHERE computed_at = (SELECT max(computed_at) FROM carpark.location_earnings)
               ORDER BY rank"""
        ).fetchall()
    return [(location, Decimal(cents)) for location, cents in rows]


def _cents(dollars: float) -> Decimal:
    return (Decimal(repr(dollars)) * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def _ranking(answer: dict, terms: str, metric: str) -> list[tuple[str, Decimal]]:
    return [
        (bucket["key"], _cents(bucket[metric]["value"]))
        for bucket in answer["aggregations"][terms]["buckets"]
    ]


# ------------------------------------------------------------------ the lab's field names


def test_the_lab_style_aggregation_on_the_lab_alias_gives_location_earnings_top_5(pipeline):
    answer = pipeline.request("POST", f"/{pipeline.search.legacy_alias}/_search", LAB_TOP_5)
    expected = _earnings_top_5(pipeline)

    assert len(expected) == 5
    assert _ranking(answer, "0", "1") == expected  # ids, values and order
    # location_earnings itself agrees with PostgreSQL's closed sessions.
    from_postgres = top_average_charges(pipeline.postgres.closed_totals_by_location())
    assert list(
        zip(from_postgres["location_id"], from_postgres["average_charge_cents"], strict=True)
    ) == (expected)


def test_the_lab_names_search_and_aggregate_like_ours(pipeline):
    target = pipeline.search.legacy_alias
    (location, _), *_ = _earnings_top_5(pipeline)

    def hits(query: dict) -> int:
        body = {"size": 0, "track_total_hits": True, "query": query}
        return pipeline.request("POST", f"/{target}/_search", body)["hits"]["total"]["value"]

    at_location = hits({"term": {"location_id": location}})
    assert at_location > 0
    assert hits({"term": {"LocationID.keyword": location}}) == at_location
    assert hits({"query_string": {"query": f"LocationID.keyword:{location}"}}) == at_location
    plate = pipeline.request("POST", f"/{target}/_search", {"size": 1})["hits"]["hits"][0]
    plate = plate["_source"]["plate"]
    assert hits({"term": {"Plate.keyword": plate}}) == hits({"term": {"plate": plate}}) > 0
    assert hits({"range": {"Exit_DateTime": {"gte": "2026-11-27T08:00+08:00"}}}) == hits(
        {"range": {"exit_time": {"gte": "2026-11-27T08:00+08:00"}}}
    )
    assert hits({"range": {"Entry_DateTime": {"lt": "2026-11-27T08:00+08:00"}}}) == hits(
        {"range": {"entry_time": {"lt": "2026-11-27T08:00+08:00"}}}
    )
    assert hits({"range": {"Parking_Charges": {"gte": 1.2}}}) == hits(
        {"range": {"charge": {"gte": 1.2}}}
    )
    # What cannot work (docs/dashboards.md): the bare `LocationID` is the object holding the
    # alias `keyword`, not a field, so a search on it finds nothing.
    assert hits({"query_string": {"query": f"LocationID:{location}"}}) == 0
    # Documents never carry the lab's names: they cannot be written through an alias.
    with pytest.raises(EngineError) as refused:
        pipeline.request("POST", f"/{target}/_doc", {"LocationID": {"keyword": "X"}})
    assert refused.value.status == 400


def test_the_engine_refuses_the_bare_lab_name_beside_its_keyword_alias(pipeline):
    """Why the bare `LocationID` is not an alias too (docs/dashboards.md): an alias cannot
    have sub-fields, and `LocationID.keyword` makes `LocationID` an object."""
    index = f"{pipeline.search.alias}-scratch"  # outside the template's `-v*` pattern
    both = {
        "location_id": {"type": "keyword"},
        "LocationID": {"type": "alias", "path": "location_id"},
        "LocationID.keyword": {"type": "alias", "path": "location_id"},
    }
    try:
        with pytest.raises(EngineError) as refused:
            pipeline.request("PUT", f"/{index}", {"mappings": {"properties": both}})
    finally:
        try:
            pipeline.request("DELETE", f"/{index}")
        except EngineError as exc:
            if exc.status != 404:
                raise
    assert refused.value.status == 400
    assert "field alias" in str(refused.value)


# ------------------------------------------------------------------ the bundles' charts


def _objects(product: str) -> list[dict]:
    return [json.loads(line) for line in Path(bundle_path(product)).read_text().splitlines()]


def _data_view_titles(objects: list[dict]) -> dict[str, str]:
    return {o["id"]: o["attributes"]["title"] for o in objects if o["type"] == "index-pattern"}


def lens_search(lens: dict) -> tuple[str, dict, list[tuple[str, str]]]:
    """The search a Lens XY chart sends: (data view id, body, [(field, operation)]).
    Buckets nest in the layer's column order, metrics inside the innermost bucket."""
    ((layer_id, layer),) = lens["attributes"]["state"]["datasourceStates"]["formBased"][
        "layers"
    ].items()
    (view,) = [
        r["id"]
        for r in lens["references"]
        if r["name"] == f"indexpattern-datasource-layer-{layer_id}"
    ]
    columns = layer["columns"]
    metrics = {
        cid: c for cid, c in columns.items() if not c["isBucketed"]
    }  # operationType: average, sum, count
    metric_aggs = {
        cid: {{"average": "avg", "sum": "sum"}[c["operationType"]]: {"field": c["sourceField"]}}
        for cid, c in metrics.items()
        if c["operationType"] != "count"
    }
    fields = [(c["sourceField"], c["operationType"]) for c in columns.values()]
    aggs: dict = metric_aggs
    for cid in reversed([c for c in layer["columnOrder"] if columns[c]["isBucketed"]]):
        column = columns[cid]
        if column["operationType"] == "terms":
            params = column["params"]
            by = params["orderBy"]
            key = by["columnId"] if by["columnId"] in metric_aggs else "_count"
            bucket = {
                "terms": {
                    "field": column["sourceField"],
                    "size": params["size"],
                    "order": {key: params["orderDirection"]},
                }
            }
        else:
            interval = column["params"]["interval"]
            bucket = {
                "date_histogram": {
                    "field": column["sourceField"],
                    "calendar_interval": "1h" if interval == "auto" else interval,
                }
            }
        aggs = {cid: {**bucket, "aggs": aggs}}
    return view, {"size": 0, "aggs": aggs}, fields


def classic_search(vis: dict) -> tuple[str, dict, list[tuple[str, str]]]:
    """The search a classic visualization sends, from its visState (segment outside group)."""
    state = json.loads(vis["attributes"]["visState"])
    (view,) = [r["id"] for r in vis["references"] if r["type"] == "index-pattern"]
    metrics = [a for a in state["aggs"] if a["schema"] == "metric"]
    buckets = [a for a in state["aggs"] if a["schema"] in ("segment", "group")]
    buckets.sort(key=lambda a: a["schema"] != "segment")
    metric_aggs = {
        a["id"]: {a["type"]: {"field": a["params"]["field"]}}
        for a in metrics
        if a["type"] != "count"
    }
    fields = [(a["params"]["field"], a["type"]) for a in state["aggs"] if "field" in a["params"]]
    aggs: dict = metric_aggs
    for agg in reversed(buckets):
        params = agg["params"]
        if agg["type"] == "terms":
            key = params["orderBy"] if params["orderBy"] in metric_aggs else "_count"
            bucket = {
                "terms": {
                    "field": params["field"],
                    "size": params["size"],
                    "order": {key: params["order"]},
                }
            }
        else:
            interval = {"auto": "1h", "h": "1h"}.get(params["interval"], params["interval"])
            bucket = {"date_histogram": {"field": params["field"], "calendar_interval": interval}}
        aggs = {agg["id"]: {**bucket, "aggs": aggs}}
    return view, {"size": 0, "aggs": aggs}, fields


def _charts(product: str) -> list[tuple[dict, tuple[str, dict, list]]]:
    objects = _objects(product)
    kind, translate = (
        ("lens", lens_search) if product == "kibana" else ("visualization", classic_search)
    )
    return [(o, translate(o)) for o in objects if o["type"] == kind]


# The types each operation needs (as the engines' field capabilities report them).
NEEDS = {
    "terms": {"keyword"},
    "average": {"scaled_float", "long", "integer", "double", "float"},
    "avg": {"scaled_float", "long", "integer", "double", "float"},
    "sum": {"scaled_float", "long", "integer", "double", "float"},
    "date_histogram": {"date"},
}


@pytest.mark.parametrize("product", ["kibana", "opensearch-dashboards"])
def test_every_field_a_chart_uses_exists_with_an_aggregatable_type(pipeline, product):
    titles = _data_view_titles(_objects(product))
    checked = 0
    for _, (view, _, fields) in _charts(product):
        target = pipeline.targets[titles[view]]
        for field, operation in fields:
            if field == "___records___":  # Lens's document count
                continue
            caps = pipeline.request("GET", f"/{target}/_field_caps?fields={field}")["fields"]
            assert field in caps, f"{field} is not in the mapping of {target}"
            ((type_, cap),) = caps[field].items()
            assert type_ in NEEDS[operation], (field, type_, operation)
            assert cap["aggregatable"] is True
            checked += 1
    assert checked == 8  # 2 + 3 + 1 + 2 fields in the four charts
    # The data views' time fields are dates too.
    for view in _objects(product):
        if view["type"] != "index-pattern":
            continue
        target = pipeline.targets[view["attributes"]["title"]]
        field = view["attributes"]["timeFieldName"]
        caps = pipeline.request("GET", f"/{target}/_field_caps?fields={field}")["fields"]
        assert list(caps[field]) == ["date"]


@pytest.mark.parametrize("product", ["kibana", "opensearch-dashboards"])
def test_each_top_5_chart_returns_location_earnings_top_5(pipeline, product):
    expected = _earnings_top_5(pipeline)
    titles = _data_view_titles(_objects(product))
    top_charts = [
        (chart, request)
        for chart, request in _charts(product)
        if "Top 5 average" in chart["attributes"]["title"]
    ]
    assert len(top_charts) == 2  # ours, and the lab's names on the lab's pattern
    for _, (view, body, _) in top_charts:
        ((terms_id, terms),) = body["aggs"].items()
        (metric_id,) = terms["aggs"]
        answer = pipeline.request("POST", f"/{pipeline.targets[titles[view]]}/_search", body)
        assert _ranking(answer, terms_id, metric_id) == expected


@pytest.mark.parametrize("product", ["kibana", "opensearch-dashboards"])
def test_the_time_charts_add_up_to_postgres(pipeline, product):
    """Earnings over time by location and sessions per hour: every bucket's figures, summed,
    are PostgreSQL's closed sessions (the ten largest locations for the earnings chart)."""
    totals = {t.location_id: t for t in pipeline.postgres.closed_totals_by_location()}
    titles = _data_view_titles(_objects(product))
    seen = set()
    for chart, (view, body, _) in _charts(product):
        title = chart["attributes"]["title"]
        if title not in ("Earnings over time by location", "Sessions per hour"):
            continue
        seen.add(title)
        answer = pipeline.request("POST", f"/{pipeline.targets[titles[view]]}/_search", body)
        (dates,) = answer["aggregations"].values()
        if title == "Sessions per hour":
            assert sum(b["doc_count"] for b in dates["buckets"]) == sum(
                t.sessions for t in totals.values()
            )
            continue
        by_location: dict[str, Decimal] = {}
        for bucket in dates["buckets"]:
            (locations,) = (v for k, v in bucket.items() if isinstance(v, dict))
            for loc in locations["buckets"]:
                (metric,) = (v for v in loc.values() if isinstance(v, dict))
                by_location[loc["key"]] = by_location.get(loc["key"], 0) + _cents(metric["value"])
        # Six locations, fewer than the chart's ten: every one is in every bucket it has.
        assert {loc: int(c) for loc, c in by_location.items()} == {
            loc: t.total_charge_cents for loc, t in totals.items()
        }
    assert seen == {"Earnings over time by location", "Sessions per hour"}
