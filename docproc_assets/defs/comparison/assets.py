"""Models compared: scores against ground truth, metrics per model and a report."""

from pathlib import Path

import dagster as dg

from docproc_assets.core.files import write_atomic
from docproc_assets.core.pageview import PageViews

from docproc_assets.core import evaluation, report, summary
from docproc_assets.defs.extraction.assets import extractions
from docproc_assets.defs.resources import DocprocResource


@dg.asset(name="evaluation", group_name="comparison", deps=[extractions], kinds={"duckdb"})
def evaluation_scores(context: dg.AssetExecutionContext, docproc: DocprocResource) -> dg.MaterializeResult:
    """Every model's text scored against ground truth, per page (`page_metrics`: CER/WER strict and
    loose, bag-of-words F1, edit counts, error type); DocumentVQA answer recall per question and model
    (`answer_metrics`); and without ground truth, the pairwise agreement of the OCR models per document
    (`agreement`). Only rows not yet scored at their model version are scored."""
    scores = evaluation.evaluate(docproc.store())
    context.log.info(f"scored {len(scores.page_metrics)} pages, {len(scores.answer_metrics)} answers, "
                     f"{len(scores.agreement)} model pairs")
    return dg.MaterializeResult(metadata={
        "pages_scored": len(scores.page_metrics), "answers_scored": len(scores.answer_metrics),
        "agreement_pairs": len(scores.agreement),
    })


@dg.asset(group_name="comparison", deps=[extractions, evaluation_scores], kinds={"duckdb"})
def model_metrics(context: dg.AssetExecutionContext, docproc: DocprocResource) -> dg.MaterializeResult:
    """The `model_metrics` table, recomputed from `extractions` and the scores: documents, success rate,
    average token count, seconds per page, pages per minute, peak memory, truncation rate over the pages
    of each model's track; mean and median CER/WER, bag-of-words F1, answer recall and agreement."""
    metrics = docproc.store().refresh_metrics()
    for m in metrics:
        context.log.info(f"{m['model']}: {m['documents']} documents, success {m['success_rate']}, {m['pages_per_minute']} pages/min, "
                         f"CER {m['mean_cer']}, answer recall {m['answer_recall']}")
    return dg.MaterializeResult(metadata={"models": len(metrics), "metrics": dg.MetadataValue.md(summary.metrics_markdown(metrics))})


@dg.asset(group_name="comparison", deps=[model_metrics], kinds={"plotly", "markdown"})
def comparison_report(context: dg.AssetExecutionContext, docproc: DocprocResource) -> dg.MaterializeResult:
    """The comparison report, twice: an interactive HTML file (plotly, works offline: comparison matrix,
    success rates, token and CER/WER distributions, speed against accuracy, breakdown by track, error
    analysis, documents side by side with differences against the ground truth) and a Markdown summary
    (`data/reports/comparison.md` and `.html`; DOCPROC_REPORT names either)."""
    path = Path(docproc.report_path)
    store = docproc.store()
    md, page = path.with_suffix(".md"), path.with_suffix(".html")
    text = summary.report(store)
    write_atomic(md, text)
    views = PageViews.beside(page, Path(docproc.data_dir))
    write_atomic(page, report.build(store, views=views))
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(page.absolute())), "page_views_mb": round(views.spent / 1e6, 1), "page_views_left_out": views.left_out, "markdown": dg.MetadataValue.path(str(md.absolute())),
        "report": dg.MetadataValue.md(text[:20000]),
    })
