"""A minimal comparison of models from the results tables (the full report lives elsewhere)."""

from __future__ import annotations

from datetime import datetime

from docproc_assets.core.store import Store

METRIC_COLUMNS = ("model", "documents", "success_rate", "avg_token_count", "seconds_per_page", "pages_per_minute", "errors")


def markdown_table(columns: list[str] | tuple[str, ...], rows: list[tuple]) -> str:
    def cell(v: object) -> str:
        return "" if v is None else str(v).replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "\n".join("| " + " | ".join(cell(v) for v in row) + " |" for row in rows)


def metrics_markdown(metrics: list[dict]) -> str:
    return markdown_table(METRIC_COLUMNS, [tuple(m.get(c) for c in METRIC_COLUMNS) for m in metrics])


def report(store: Store) -> str:
    """Per model: the metrics; per document: its track and, for each model, words read or the error."""
    metrics = store.rows(f"SELECT {', '.join(METRIC_COLUMNS)} FROM model_metrics ORDER BY model")
    models = [r[0] for r in store.query("SELECT DISTINCT model FROM extractions ORDER BY model = 'direct' DESC, model")[1]]
    docs = store.rows(
        "SELECT d.document_id, d.filename, d.track, d.page_count, e.model, e.success, e.token_count, e.pages, e.error "
        "FROM current_documents d LEFT JOIN current_extractions e USING (document_id) ORDER BY d.filename, d.document_id"
    )
    grid: dict[str, dict] = {}
    for r in docs:
        entry = grid.setdefault(r["document_id"], {"filename": r["filename"], "track": r["track"], "pages": r["page_count"], "models": {}})
        if r["model"]:
            if not r["pages"]:
                entry["models"][r["model"]] = "-" if r["success"] else "error"
            else:
                entry["models"][r["model"]] = f"{r['token_count']} words" if r["success"] else "error"
    doc_rows = [(v["filename"], v["track"], v["pages"], *(v["models"].get(m, "") for m in models)) for v in grid.values()]
    return (
        f"# docproc model comparison\n\n{datetime.now():%Y-%m-%d %H:%M}, {len(grid)} documents, {len(models)} models "
        f"(`direct` is the PDF text layer).\n\n## Models\n\nOn the pages of each model's track; `-` below: no pages for that "
        f"model.\n\n{metrics_markdown(metrics)}\n\n## Documents\n\n"
        f"{markdown_table(['document', 'track', 'pages', *models], doc_rows)}\n"
    )
