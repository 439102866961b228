"""The carpark domain: plain Python and pandas, no Dagster, no databases."""
