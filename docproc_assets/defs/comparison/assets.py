"""Models compared: metrics per model and a report."""

from pathlib import Path

import dagster as dg

from docproc_assets.core import summary
from docproc_assets.defs.extraction.assets import extractions
from docproc_assets.defs.resources import DocprocResource


@dg.asset(group_name="comparison", deps=[extractions], kinds={"duckdb"})
def model_metrics(context: dg.AssetExecutionContext, docproc: DocprocResource) -> dg.MaterializeResult:
    """The `model_metrics` table, recomputed from `extractions`: documents, success rate, average token
    count, seconds per page and pages per minute, over the pages of each model's track."""
    metrics = docproc.store().refresh_metrics()
    for m in metrics:
        context.log.info(f"{m['model']}: {m['documents']} documents, success {m['success_rate']}, {m['pages_per_minute']} pages/min")
    return dg.MaterializeResult(metadata={"models": len(metrics), "metrics": dg.MetadataValue.md(summary.metrics_markdown(metrics))})


@dg.asset(group_name="comparison", deps=[model_metrics], kinds={"markdown"})
def comparison_report(context: dg.AssetExecutionContext, docproc: DocprocResource) -> dg.MaterializeResult:
    """A Markdown report (`data/reports/comparison.md`): the metrics table, then each document with its
    track and what each model read."""
    text = summary.report(docproc.store())
    path = Path(docproc.report_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.part")
    part.write_text(text)
    part.replace(path)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path.absolute())), "report": dg.MetadataValue.md(text[:20000])})
