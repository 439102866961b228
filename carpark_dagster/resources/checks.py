"""The limits of the checks job (docs/checks.md) as a resource."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from carpark_dagster.domain.checks import DEFAULT_QUARANTINE_MAX_PER_HOUR

# Sessions one evaluation of stored_charges_follow_tariff judges at most; the next continues.
DEFAULT_CHARGES_PER_RUN = 500_000


class CheckLimitsResource(dg.ConfigurableResource):
    """What the checks of the stored state tolerate, and how much one run of them reads."""

    quarantine_max_per_hour: int = Field(
        default=DEFAULT_QUARANTINE_MAX_PER_HOUR,
        ge=0,
        description="Records quarantined in the last hour above which the quarantine check "
        "warns (CARPARK_QUARANTINE_MAX_PER_HOUR).",
    )
    charges_per_run: int = Field(
        default=DEFAULT_CHARGES_PER_RUN,
        ge=1,
        description="Changed sessions one evaluation of the stored-charges check judges at "
        "most; the next evaluation continues where it stopped.",
    )
    page_size: int = Field(default=10_000, ge=1, description="Sessions read per query.")
