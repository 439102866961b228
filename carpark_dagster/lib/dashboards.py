"""The saved-object bundles for Kibana 8.x and OpenSearch Dashboards 2.x, generated here and
committed as `carpark_dagster/dashboards/*.ndjson` (a test checks the files equal this output;
`python -m carpark_dagster.lib.dashboards` rewrites them).

Both bundles hold the same charts with the same aggregations: Kibana's as Lens visualizations,
OpenSearch Dashboards' (which has no Lens) as classic ones. Each bundle also has a data view on
the lab's pattern `frompostgresql*` whose fields are the lab's names (field aliases in the
index mapping, `resources/search.py`), with the lab's question asked in those names.

Ids are fixed, so a second import overwrites the first instead of adding copies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from carpark_dagster.resources.search import LEGACY_ALIAS, SESSIONS_ALIAS

Product = Literal["kibana", "opensearch-dashboards"]
PRODUCTS: tuple[Product, ...] = ("kibana", "opensearch-dashboards")
BUNDLE_DIR = Path(__file__).resolve().parents[1] / "dashboards"
BUNDLE_FILES: dict[Product, str] = {
    "kibana": "kibana.ndjson",
    "opensearch-dashboards": "opensearch-dashboards.ndjson",
}

# Kibana: the versions the objects are written in; an import migrates them to the running
# release (8.9 or later: the first with `typeMigrationVersion`).
KIBANA_CORE_MIGRATION = "8.8.0"
KIBANA_TYPE_MIGRATION = {"index-pattern": "8.0.0", "lens": "8.9.0", "dashboard": "8.9.0"}
# OpenSearch Dashboards 2.x still reads Kibana 7.10's `migrationVersion`.
OSD_MIGRATION = {"index-pattern": "7.6.0", "visualization": "7.10.0", "dashboard": "7.9.3"}
OSD_PANEL_VERSION = "2.19.0"

TOP_N = 5  # the lab's question: the top 5 locations by average charge
LOCATIONS_SHOWN = 10  # series in "earnings over time by location"


@dataclass(frozen=True)
class DataView:
    id: str
    title: str  # the index pattern: an alias, or a wildcard pattern
    name: str
    time_field: str


@dataclass(frozen=True)
class Chart:
    """One chart, engine-neutral: a metric (count, or avg/sum of a field) over a bucketing
    (terms on a field, ordered by the metric; or a date histogram, optionally split by terms)."""

    id: str
    title: str
    data_view: DataView
    metric: Literal["count", "avg", "sum"]
    metric_field: str | None
    metric_label: str
    terms_field: str | None = None
    terms_size: int = TOP_N
    date_field: str | None = None
    interval: str | None = None  # "auto" or a calendar interval such as "1h"
    description: str = ""


SESSIONS_VIEW = DataView("carpark-sessions", SESSIONS_ALIAS, "Carpark sessions", "exit_time")
# The lab created its data view with `fromposgresql*` (sic), which matches nothing.
LAB_VIEW = DataView(
    "carpark-lab-frompostgresql", f"{LEGACY_ALIAS}*", "Lab: frompostgresql", "Exit_DateTime"
)
DATA_VIEWS = (SESSIONS_VIEW, LAB_VIEW)

TOP_AVERAGE = Chart(
    id="carpark-top-5-average-charge",
    title="Top 5 average parking charge by location",
    data_view=SESSIONS_VIEW,
    metric="avg",
    metric_field="charge",
    metric_label="Average charge ($)",
    terms_field="location_id",
    description="The lab's question: the five locations with the highest average charge per "
    "closed session, in dollars.",
)
EARNINGS_OVER_TIME = Chart(
    id="carpark-earnings-over-time",
    title="Earnings over time by location",
    data_view=SESSIONS_VIEW,
    metric="sum",
    metric_field="charge",
    metric_label="Earnings ($)",
    terms_field="location_id",
    terms_size=LOCATIONS_SHOWN,
    date_field="exit_time",
    interval="auto",
    description="Charges of the sessions closed in each interval, per location (the ten "
    "highest-earning locations).",
)
SESSIONS_PER_HOUR = Chart(
    id="carpark-sessions-per-hour",
    title="Sessions per hour",
    data_view=SESSIONS_VIEW,
    metric="count",
    metric_field=None,
    metric_label="Closed sessions",
    date_field="exit_time",
    interval="1h",
    description="Closed sessions per hour of exit.",
)
LAB_TOP_AVERAGE = Chart(
    id="carpark-lab-top-5-average-charge",
    title="Top 5 average parking charge by location (lab field names)",
    data_view=LAB_VIEW,
    metric="avg",
    metric_field="Parking_Charges",
    metric_label="Average of Parking_Charges",
    terms_field="LocationID.keyword",
    description="The lab's visualization as lab users built it: `LocationID.keyword` and "
    "`Parking_Charges` on `frompostgresql*`.",
)
CHARTS = (TOP_AVERAGE, EARNINGS_OVER_TIME, SESSIONS_PER_HOUR, LAB_TOP_AVERAGE)
DASHBOARD_ID = "carpark-earnings"
DASHBOARD_TITLE = "Carpark earnings"
DASHBOARD_CHARTS = (TOP_AVERAGE, EARNINGS_OVER_TIME, SESSIONS_PER_HOUR)

_EMPTY_QUERY = {"query": "", "language": "kuery"}


# ------------------------------------------------------------------------- Kibana


def kibana_objects() -> list[dict[str, Any]]:
    objects = [_kibana_data_view(view) for view in DATA_VIEWS]
    objects += [_lens(chart) for chart in CHARTS]
    objects.append(_kibana_dashboard())
    return objects


def _kibana_object(kind: str, id: str, attributes: dict, references: list) -> dict[str, Any]:
    return {
        "attributes": attributes,
        "coreMigrationVersion": KIBANA_CORE_MIGRATION,
        "id": id,
        "references": references,
        "type": kind,
        "typeMigrationVersion": KIBANA_TYPE_MIGRATION[kind],
    }


def _kibana_data_view(view: DataView) -> dict[str, Any]:
    return _kibana_object(
        "index-pattern",
        view.id,
        {
            "allowNoIndex": True,
            "fieldAttrs": "{}",
            "fieldFormatMap": "{}",
            "fields": "[]",  # read from the engine when the data view is opened
            "name": view.name,
            "runtimeFieldMap": "{}",
            "sourceFilters": "[]",
            "timeFieldName": view.time_field,
            "title": view.title,
            "typeMeta": "{}",
        },
        [],
    )


def _lens(chart: Chart) -> dict[str, Any]:
    layer = "layer1"
    metric_id, terms_id, date_id = "metric", "terms", "date"
    columns: dict[str, Any] = {}
    order: list[str] = []
    if chart.date_field:
        columns[date_id] = {
            "label": chart.date_field,
            "dataType": "date",
            "operationType": "date_histogram",
            "sourceField": chart.date_field,
            "isBucketed": True,
            "scale": "interval",
            "params": {"interval": chart.interval, "includeEmptyRows": True, "dropPartials": False},
        }
        order.append(date_id)
    if chart.terms_field:
        columns[terms_id] = {
            "label": chart.terms_field,
            "dataType": "string",
            "operationType": "terms",
            "sourceField": chart.terms_field,
            "isBucketed": True,
            "scale": "ordinal",
            "params": {
                "size": chart.terms_size,
                "orderBy": {"type": "column", "columnId": metric_id},
                "orderDirection": "desc",
                "otherBucket": False,
                "missingBucket": False,
                "parentFormat": {"id": "terms"},
            },
        }
        order.append(terms_id)
    columns[metric_id] = {
        "label": chart.metric_label,
        "customLabel": True,
        "dataType": "number",
        "operationType": {"count": "count", "avg": "average", "sum": "sum"}[chart.metric],
        "sourceField": chart.metric_field or "___records___",
        "isBucketed": False,
        "scale": "ratio",
        "params": {"emptyAsNull": True},
    }
    order.append(metric_id)

    if chart.date_field:
        x_accessor, split = date_id, terms_id if chart.terms_field else None
        series = "bar_stacked" if split else "bar"
    else:
        x_accessor, split, series = terms_id, None, "bar"
    xy_layer: dict[str, Any] = {
        "layerId": layer,
        "layerType": "data",
        "seriesType": series,
        "xAccessor": x_accessor,
        "accessors": [metric_id],
    }
    if split:
        xy_layer["splitAccessor"] = split
    state = {
        "datasourceStates": {
            "formBased": {
                "layers": {
                    layer: {"columnOrder": order, "columns": columns, "incompleteColumns": {}}
                }
            }
        },
        "visualization": {
            "legend": {"isVisible": True, "position": "right"},
            "preferredSeriesType": series,
            "valueLabels": "hide" if chart.date_field else "show",
            "layers": [xy_layer],
        },
        "query": _EMPTY_QUERY,
        "filters": [],
        "adHocDataViews": {},
        "internalReferences": [],
    }
    return _kibana_object(
        "lens",
        chart.id,
        {
            "title": chart.title,
            "description": chart.description,
            "visualizationType": "lnsXY",
            "state": state,
        },
        [
            {
                "type": "index-pattern",
                "id": chart.data_view.id,
                "name": f"indexpattern-datasource-layer-{layer}",
            }
        ],
    )


def _kibana_dashboard() -> dict[str, Any]:
    panels, references = [], []
    for n, (chart, grid) in enumerate(zip(DASHBOARD_CHARTS, _GRID, strict=True)):
        ref = f"panel_{n}"
        panels.append(
            {
                "version": KIBANA_TYPE_MIGRATION["dashboard"],
                "type": "lens",
                "gridData": {**grid, "i": str(n)},
                "panelIndex": str(n),
                "embeddableConfig": {"enhancements": {}},
                "panelRefName": ref,
            }
        )
        references.append({"name": ref, "type": "lens", "id": chart.id})
    return _kibana_object(
        "dashboard",
        DASHBOARD_ID,
        {
            "title": DASHBOARD_TITLE,
            "description": "Earnings per carpark location, from the carpark-sessions index.",
            "panelsJSON": _compact(panels),
            "optionsJSON": _compact(
                {"useMargins": True, "syncColors": False, "hidePanelTitles": False}
            ),
            "timeRestore": True,
            "timeFrom": "now-7d",
            "timeTo": "now",
            "refreshInterval": {"pause": False, "value": 300_000},
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": _compact({"query": _EMPTY_QUERY, "filter": []})
            },
        },
        references,
    )


_GRID = (
    {"x": 0, "y": 0, "w": 24, "h": 15},
    {"x": 24, "y": 0, "w": 24, "h": 15},
    {"x": 0, "y": 15, "w": 48, "h": 12},
)


# ------------------------------------------------------------------------- OpenSearch Dashboards


def opensearch_dashboards_objects() -> list[dict[str, Any]]:
    objects = [_osd_index_pattern(view) for view in DATA_VIEWS]
    objects += [_osd_visualization(chart) for chart in CHARTS]
    objects.append(_osd_dashboard())
    return objects


def _osd_object(kind: str, id: str, attributes: dict, references: list) -> dict[str, Any]:
    return {
        "attributes": attributes,
        "id": id,
        "migrationVersion": {kind: OSD_MIGRATION[kind]},
        "references": references,
        "type": kind,
    }


def _osd_index_pattern(view: DataView) -> dict[str, Any]:
    return _osd_object(
        "index-pattern", view.id, {"title": view.title, "timeFieldName": view.time_field}, []
    )


def _osd_visualization(chart: Chart) -> dict[str, Any]:
    aggs: list[dict[str, Any]] = [
        {
            "id": "1",
            "enabled": True,
            "type": chart.metric,
            "schema": "metric",
            "params": {"field": chart.metric_field, "customLabel": chart.metric_label}
            if chart.metric_field
            else {"customLabel": chart.metric_label},
        }
    ]
    if chart.date_field:
        aggs.append(
            {
                "id": "2",
                "enabled": True,
                "type": "date_histogram",
                "schema": "segment",
                "params": {
                    "field": chart.date_field,
                    "interval": "h" if chart.interval == "1h" else chart.interval,
                    "min_doc_count": 1,
                    "extended_bounds": {},
                },
            }
        )
    if chart.terms_field:
        aggs.append(
            {
                "id": "3",
                "enabled": True,
                "type": "terms",
                "schema": "group" if chart.date_field else "segment",
                "params": {
                    "field": chart.terms_field,
                    "orderBy": "1",
                    "order": "desc",
                    "size": chart.terms_size,
                    "otherBucket": False,
                    "missingBucket": False,
                },
            }
        )
    vis_state = {
        "title": chart.title,
        "type": "histogram",
        "aggs": aggs,
        "params": _histogram_params(chart, stacked=bool(chart.date_field and chart.terms_field)),
    }
    return _osd_object(
        "visualization",
        chart.id,
        {
            "title": chart.title,
            "description": chart.description,
            "visState": _compact(vis_state),
            "uiStateJSON": "{}",
            "version": 1,
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": _compact(
                    {
                        "query": _EMPTY_QUERY,
                        "filter": [],
                        "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
                    }
                )
            },
        },
        [
            {
                "name": "kibanaSavedObjectMeta.searchSourceJSON.index",
                "type": "index-pattern",
                "id": chart.data_view.id,
            }
        ],
    )


def _histogram_params(chart: Chart, stacked: bool) -> dict[str, Any]:
    return {
        "type": "histogram",
        "grid": {"categoryLines": False},
        "categoryAxes": [
            {
                "id": "CategoryAxis-1",
                "type": "category",
                "position": "bottom",
                "show": True,
                "style": {},
                "scale": {"type": "linear"},
                "labels": {"show": True, "filter": True, "truncate": 100},
                "title": {},
            }
        ],
        "valueAxes": [
            {
                "id": "ValueAxis-1",
                "name": "LeftAxis-1",
                "type": "value",
                "position": "left",
                "show": True,
                "style": {},
                "scale": {"type": "linear", "mode": "normal"},
                "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                "title": {"text": chart.metric_label},
            }
        ],
        "seriesParams": [
            {
                "show": True,
                "type": "histogram",
                "mode": "stacked" if stacked else "normal",
                "data": {"label": chart.metric_label, "id": "1"},
                "valueAxis": "ValueAxis-1",
                "drawLinesBetweenPoints": True,
                "lineWidth": 2,
                "showCircles": True,
            }
        ],
        "addTooltip": True,
        "addLegend": True,
        "legendPosition": "right",
        "times": [],
        "addTimeMarker": False,
        "labels": {"show": not chart.date_field},
    }


def _osd_dashboard() -> dict[str, Any]:
    panels, references = [], []
    for n, (chart, grid) in enumerate(zip(DASHBOARD_CHARTS, _GRID, strict=True)):
        ref = f"panel_{n}"
        panels.append(
            {
                "embeddableConfig": {},
                "gridData": {**grid, "i": str(n)},
                "panelIndex": str(n),
                "version": OSD_PANEL_VERSION,
                "panelRefName": ref,
            }
        )
        references.append({"name": ref, "type": "visualization", "id": chart.id})
    return _osd_object(
        "dashboard",
        DASHBOARD_ID,
        {
            "title": DASHBOARD_TITLE,
            "hits": 0,
            "description": "Earnings per carpark location, from the carpark-sessions index.",
            "panelsJSON": _compact(panels),
            "optionsJSON": _compact({"useMargins": True, "hidePanelTitles": False}),
            "version": 1,
            "timeRestore": True,
            "timeFrom": "now-7d",
            "timeTo": "now",
            "refreshInterval": {"pause": False, "value": 300_000},
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": _compact({"query": _EMPTY_QUERY, "filter": []})
            },
        },
        references,
    )


# ------------------------------------------------------------------------- files


def bundle_objects(product: Product) -> list[dict[str, Any]]:
    return kibana_objects() if product == "kibana" else opensearch_dashboards_objects()


def to_ndjson(objects: list[dict[str, Any]]) -> str:
    """One object per line, keys sorted, so the committed files diff line by line."""
    return "".join(json.dumps(o, sort_keys=True, ensure_ascii=False) + "\n" for o in objects)


def bundle_path(product: Product) -> Path:
    return BUNDLE_DIR / BUNDLE_FILES[product]


def write_bundles(directory: Path = BUNDLE_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for product in PRODUCTS:
        path = directory / BUNDLE_FILES[product]
        path.write_text(to_ndjson(bundle_objects(product)), encoding="utf-8")
        written.append(path)
    return written


def _compact(value: Any) -> str:
    """A JSON document stored as a string attribute, as the products store them."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


if __name__ == "__main__":
    for path in write_bundles():
        print(path)
