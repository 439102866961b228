"""The earnings report as Dagster metadata: native tables (sortable columns) for the ranking and
the per-location figures, plain numbers for the totals (the asset's plots chart them over
time), and the top 5 as a bar chart (an SVG data URI in Markdown, which the UI renders)."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from carpark_dagster.domain.dashboard import (
    average_charge_by_location_chart,
    average_charge_chart,
    svg_data_uri,
)
from carpark_dagster.domain.reporting import EarningsReport, location_rows

RANKING_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("rank", "int"),
        dg.TableColumn("location_id", "string"),
        dg.TableColumn("sessions", "int"),
        dg.TableColumn("total_charge_cents", "int"),
        dg.TableColumn("average_charge", "string", description="dollars, exact to the cent"),
    ]
)
LOCATION_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("rank", "int", description="in the top 5 by average charge"),
        dg.TableColumn("location_id", "string", description="* is all locations"),
        dg.TableColumn("sessions", "int"),
        dg.TableColumn("total_charge_cents", "int"),
        dg.TableColumn("average_charge_cents", "string"),
        dg.TableColumn("average_stay_seconds", "int"),
        dg.TableColumn("median_stay_seconds", "int"),
        dg.TableColumn("occupied", "int"),
        dg.TableColumn("capacity", "int"),
    ]
)


def ranking_table(ranking: pd.DataFrame) -> dg.TableMetadataValue:
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord(
                {
                    "rank": int(r.rank),
                    "location_id": r.location_id,
                    "sessions": int(r.sessions),
                    "total_charge_cents": int(r.total_charge_cents),
                    "average_charge": f"${r.average_charge_cents / 100:.2f}",
                }
            )
            for r in ranking.itertuples(index=False)
        ],
        schema=RANKING_SCHEMA,
    )


def _location_table(rows: list[dict]) -> dg.TableMetadataValue:
    # A TableRecord takes no None, and every record the same fields: an absent figure (no
    # rank, no session to average) is an empty cell.
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord({k: "" if v is None else v for k, v in row.items()}) for row in rows
        ],
        schema=LOCATION_SCHEMA,
    )


def earnings_metadata(report: EarningsReport, ranking: pd.DataFrame, rows_kept: int) -> dict:
    headline = report.periods[0]
    metadata: dict = {
        "top_5_average_charge": ranking_table(ranking),
        "top_average_charge_cents": float(ranking["average_charge_cents"].iloc[0])
        if len(ranking)
        else 0.0,
        "computed_at": report.computed_at.isoformat(),
        "as_of": report.as_of.isoformat(),
        "watermark": report.watermark,
        "rows_kept": rows_kept,
        f"top_5_chart_{headline.period.name}": dg.MetadataValue.md(
            f"![Top 5 average charge by location]({svg_data_uri(average_charge_chart(headline))})"
        ),
        f"average_charge_chart_{headline.period.name}": dg.MetadataValue.md(
            "![Average charge by location]("
            f"{svg_data_uri(average_charge_by_location_chart(headline))})"
        ),
    }
    for p in report.periods:
        name = p.period.name
        metadata[f"top_5_{name}"] = _location_table(
            sorted(
                (r for r in location_rows(p, include_totals=False) if r["rank"] is not None),
                key=lambda r: r["rank"],
            )
        )
        metadata[f"locations_{name}"] = _location_table(location_rows(p))
        metadata[f"earnings_cents_{name}"] = p.totals.total_charge_cents
        metadata[f"sessions_{name}"] = p.totals.sessions
        if p.totals.average_stay_seconds is not None:
            metadata[f"average_stay_seconds_{name}"] = p.totals.average_stay_seconds
            metadata[f"median_stay_seconds_{name}"] = p.totals.median_stay_seconds
    totals = headline.totals
    if totals.occupied is not None:
        metadata["occupied"] = totals.occupied
        metadata["capacity"] = totals.capacity
    return metadata
