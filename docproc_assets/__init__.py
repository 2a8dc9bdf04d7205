"""docproc: dual-track document processing on Dagster."""

__version__ = "0.1.0"
