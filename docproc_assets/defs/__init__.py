"""Dagster wiring over the core, one folder per stage of the flow."""
