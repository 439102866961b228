"""Checks of the stored state, and the hourly job that runs them without materialising
anything (docs/checks.md)."""
