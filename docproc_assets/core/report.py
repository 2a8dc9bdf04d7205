"""The comparison report: one self-contained, interactive HTML file (plotly.js embedded, no CDN).

Sections: the comparison matrix (model_metrics, and how far the models agree with each other),
success rates, token distributions, CER/WER distributions, speed against accuracy, breakdown by track
and by ground-truth source, error analysis by error type, the scripts of OCR pages and the engines
that read them (page_reads), and each document's text side by side for
every model with its differences against the ground truth highlighted.

Safety: every piece of document text, file name and model name goes through `html.escape`, and the
figures' JSON has `<`, `>` and `&` escaped, so a document containing `<script>` is shown, never run.
Scale: charts are aggregated or sampled; the side-by-side part keeps at most `max_documents`
documents (worst-scored first), paginated in the page, each text cut at `max_chars`.
"""

from __future__ import annotations

import difflib
import html
import json
import statistics
from collections import defaultdict
from datetime import datetime

from docproc_assets.core.pageview import PageViews
from docproc_assets.core.store import Store

MATRIX_COLUMNS = (
    "model", "documents", "pages", "success_rate", "avg_token_count", "seconds_per_page", "pages_per_minute",
    "peak_memory_mb", "pages_scored", "mean_cer", "median_cer", "mean_wer", "median_wer", "mean_cer_loose",
    "mean_wer_loose", "mean_bow_f1", "mean_row_integrity", "questions", "answer_recall", "mean_agreement", "truncation_rate", "errors",
)
LOWER_IS_BETTER = {"seconds_per_page", "peak_memory_mb", "mean_cer", "median_cer", "mean_wer", "median_wer",
                   "mean_cer_loose", "mean_wer_loose", "truncation_rate", "errors"}
MAX_POINTS = 5000  # per model in distribution charts: a seeded sample beyond this
PER_PAGE = 10  # documents per page of the side-by-side section

e = html.escape


def inert_json(data: str) -> str:
    """JSON for inside a <script>: `<`, `>` and `&` as escapes, so no text in it can close the tag."""
    return data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class Report:
    def __init__(self) -> None:
        self.figures: list[tuple[str, str]] = []  # (div id, figure JSON)
        self.body: list[str] = []

    def section(self, title: str, anchor: str, note: str = "") -> None:
        self.body.append(f'<h2 id="{anchor}">{e(title)}</h2>' + (f'<p class="note">{e(note)}</p>' if note else ""))

    def figure(self, fig) -> None:
        fig.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 50, "b": 60}, height=420)
        div = f"fig{len(self.figures)}"
        self.figures.append((div, inert_json(fig.to_json())))
        self.body.append(f'<div id="{div}" class="chart"></div>')

    def html(self, title: str) -> str:
        from plotly.offline import get_plotlyjs

        img_src = "'self' file:"  # page views' images in <report>_files/, beside the report

        calls = "\n".join(f"draw({json.dumps(div)}, {data});" for div, data in self.figures)
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: {img_src}; font-src data:">
<style>{CSS}</style>
<script>{get_plotlyjs()}</script>
</head><body>
{"".join(self.body)}
<script>
function draw(id, fig) {{ Plotly.newPlot(id, fig.data, fig.layout, {{responsive: true, displaylogo: false}}); }}
{calls}
{PAGEVIEW_JS}
{PAGER_JS}
</script>
</body></html>
"""


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1400px;color:#222;padding:0 16px}
h1{margin-bottom:4px} h2{margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}
p.note{color:#555;font-size:14px} nav a{margin-right:12px;font-size:14px}
table{border-collapse:collapse;font-size:13px;margin:8px 0} th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left} th{background:#f5f5f5;position:sticky;top:0}
td.best{background:#d9f2d9;font-weight:600}
.chart{width:100%;min-height:420px}
.doc{border:1px solid #ccc;border-radius:6px;margin:12px 0;padding:8px}
.doc h3{margin:4px 0 8px 0;font-size:15px}
.cols{display:grid;grid-auto-flow:column;grid-auto-columns:minmax(260px,1fr);gap:8px;overflow-x:auto}
.col{border:1px solid #eee;padding:6px;font-size:12px;max-height:420px;overflow:auto}
.col h4{margin:0 0 4px 0;font-size:13px} .col pre{white-space:pre-wrap;word-break:break-word;margin:0;font-family:ui-monospace,monospace}
del{background:#ffd6d6;color:#900} ins{background:#d6f5d6;color:#060;text-decoration:none}
.pager button{margin:0 4px}
.pageview{margin:6px 0} .pv-pages{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
.pv-page{margin:0;border:1px solid #ddd} .pv-page figcaption{font-size:12px;color:#555;padding:2px 4px}
.pv-box{fill-opacity:.22;stroke-width:1.5px;vector-effect:non-scaling-stroke;cursor:pointer}
.pv-box:hover{fill-opacity:.45} .pv-region{stroke-width:2px;stroke-dasharray:6 3;vector-effect:non-scaling-stroke}
.pv-info{font-size:13px;margin:4px 0;min-height:1em;white-space:pre-wrap} .pv-head{color:#555}
.pv-legend label{margin-right:14px;font-size:13px} .pv-swatch{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:3px}
.hide-regions .pv-region{display:none}
"""

MODEL_COLOURS = ("#1f4e9c", "#8e24aa", "#00838f", "#6d4c41", "#c2185b", "#455a64", "#283593", "#9e9d24")

# Page views (core/pageview.py): drawn when their document is first shown, from one JSON block; every
# text goes in through textContent, so a document's text is shown, never parsed as HTML.
PAGEVIEW_JS = """
var PV = JSON.parse((document.getElementById('pageviews') || {textContent: '{}'}).textContent);
var SVG = 'http://www.w3.org/2000/svg';
function agreeColour(a){ return a === null ? '#9e9e9e' : a >= 0.95 ? '#2e7d32' : a >= 0.8 ? '#f9a825' : '#c62828'; }
function node(tag, attrs, parent){
  var n = document.createElementNS(SVG, tag);
  for (var k in attrs) n.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(n);
  return n;
}
function overlaps(a, b){
  var w = Math.min(a[3], b[3]) - Math.max(a[1], b[1]), h = Math.min(a[4], b[4]) - Math.max(a[2], b[2]);
  if (w <= 0 || h <= 0) return false;
  var small = Math.min((a[3] - a[1]) * (a[4] - a[2]), (b[3] - b[1]) * (b[4] - b[2]));
  return w * h >= 0.3 * small;
}
function showLine(info, page, box){
  info.textContent = '';
  var head = document.createElement('div');
  head.className = 'pv-head';
  head.textContent = 'page ' + page.n + ': what each model read here';
  info.appendChild(head);
  if (box[7] !== null && box[7] !== undefined) {
    var gt = document.createElement('div');
    gt.textContent = 'ground truth: ' + box[7];
    info.appendChild(gt);
  }
  PV.models.forEach(function(model, i){
    var texts = page.boxes.filter(function(b){ return b[0] === i && overlaps(b, box); }).map(function(b){ return b[5]; });
    if (!texts.length && i !== box[0]) return;
    var row = document.createElement('div');
    var name = document.createElement('b');
    name.textContent = model + ': ';
    name.style.color = PV.colours[i];
    row.appendChild(name);
    row.appendChild(document.createTextNode(texts.join(' / ') || '(nothing)'));
    info.appendChild(row);
  });
}
function drawPageView(doc){
  var view = doc.querySelector('.pageview');
  if (!view || view.dataset.drawn) return;
  view.dataset.drawn = '1';
  var pages = PV.docs[view.dataset.doc] || [], holder = view.querySelector('.pv-pages'), info = view.querySelector('.pv-info');
  pages.forEach(function(p){
    var fig = document.createElement('figure');
    fig.className = 'pv-page';
    var svg = node('svg', {viewBox: '0 0 ' + p.w + ' ' + p.h, width: Math.round(p.w * PV.scale), height: Math.round(p.h * PV.scale)});
    if (p.img) node('image', {href: p.img, x: 0, y: 0, width: p.w, height: p.h, preserveAspectRatio: 'none'}, svg);
    else node('rect', {x: 0, y: 0, width: p.w, height: p.h, fill: '#fafafa', stroke: '#ccc'}, svg);
    p.regions.forEach(function(r){
      var rect = node('rect', {x: r[2], y: r[3], width: r[4] - r[2], height: r[5] - r[3], 'class': 'pv-region pv-m' + r[0],
                               stroke: PV.colours[r[0]], fill: 'none'}, svg);
      node('title', {}, rect).textContent = PV.models[r[0]] + ': ' + r[1];
    });
    p.boxes.forEach(function(b){
      var rect = node('rect', {x: b[1], y: b[2], width: Math.max(b[3] - b[1], 0.5), height: Math.max(b[4] - b[2], 0.5),
                               'class': 'pv-box pv-m' + b[0], stroke: PV.colours[b[0]], fill: agreeColour(b[6])}, svg);
      node('title', {}, rect).textContent = PV.models[b[0]] + ': ' + b[5] + (b[6] === null ? '' : ' (agreement ' + b[6] + ')');
      rect.addEventListener('click', function(){ showLine(info, p, b); });
    });
    fig.appendChild(svg);
    var cap = document.createElement('figcaption');
    cap.textContent = 'page ' + p.n + (p.img ? '' : ' (no image: over the image budget, or the file cannot be rendered)');
    fig.appendChild(cap);
    holder.appendChild(fig);
  });
}
document.querySelectorAll('.pv-toggle').forEach(function(box){
  box.addEventListener('change', function(){ document.body.classList.toggle(box.dataset.hide, !box.checked); });
});
"""

PAGER_JS = """
(function(){
  var docs = Array.prototype.slice.call(document.querySelectorAll('.doc'));
  var per = %d, page = 0, pages = Math.max(1, Math.ceil(docs.length / per));
  var label = document.getElementById('pager-label');
  function show(){
    docs.forEach(function(d, i){
      var on = Math.floor(i / per) === page;
      d.style.display = on ? '' : 'none';
      if (on) drawPageView(d);
    });
    if (label) label.textContent = 'page ' + (page + 1) + ' of ' + pages;
  }
  var target = location.hash && document.getElementById(location.hash.slice(1));
  if (target && docs.indexOf(target) >= 0) { page = Math.floor(docs.indexOf(target) / per); }
  var prev = document.getElementById('pager-prev'), next = document.getElementById('pager-next');
  if (prev) prev.addEventListener('click', function(){ if (page > 0) { page--; show(); } });
  if (next) next.addEventListener('click', function(){ if (page < pages - 1) { page++; show(); } });
  show();
  if (target) target.scrollIntoView();
})();
""" % PER_PAGE


def _fmt(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def matrix_table(metrics: list[dict]) -> str:
    """model_metrics as an HTML table, the best value of each column marked."""
    cols = [c for c in MATRIX_COLUMNS if any(m.get(c) is not None for m in metrics)]
    best: dict[str, object] = {}
    for c in cols[1:]:
        values = [m[c] for m in metrics if m.get(c) is not None and m["model"] != "direct"]
        if values and c not in {"documents", "pages", "pages_scored", "questions"}:
            best[c] = min(values) if c in LOWER_IS_BETTER else max(values)
    head = "".join(f"<th>{e(c)}</th>" for c in cols)
    rows = []
    for m in metrics:
        cells = []
        for c in cols:
            mark = ' class="best"' if c in best and m.get(c) == best[c] and m["model"] != "direct" else ""
            cells.append(f"<td{mark}>{e(_fmt(m.get(c)))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def word_diff(reference: str, hypothesis: str, max_words: int = 3000) -> str:
    """The hypothesis with words missing from the reference struck (<del>) and extra words marked (<ins>); escaped."""
    ref, hyp = reference.split()[:max_words], hypothesis.split()[:max_words]
    out: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=ref, b=hyp, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(e(" ".join(hyp[j1:j2])))
        if op in ("replace", "delete"):
            out.append(f"<del>{e(' '.join(ref[i1:i2]))}</del>")
        if op in ("replace", "insert"):
            out.append(f"<ins>{e(' '.join(hyp[j1:j2]))}</ins>")
    return " ".join(out)


def _sample(values: list, limit: int = MAX_POINTS) -> list:
    if len(values) <= limit:
        return values
    step = len(values) / limit
    return [values[int(i * step)] for i in range(limit)]


def build(store: Store, max_documents: int = 200, max_chars: int = 6000, views: PageViews | None = None) -> str:
    """The whole report from the results tables; with `views`, each shown document's pages with every
    model's boxes over them (images written to `views.folder`)."""
    import plotly.graph_objects as go

    metrics = store.rows("SELECT * FROM model_metrics ORDER BY model = 'direct' DESC, model")
    models = [m["model"] for m in metrics]
    ocr_models = [m for m in models if m != "direct"]
    n_docs = store.query("SELECT count(*) FROM current_documents")[1][0][0]
    tokens = store.rows("SELECT model, token_count FROM current_extractions WHERE success AND pages > 0 ORDER BY document_id")
    page_metrics = store.rows(
        "SELECT m.*, d.filename, d.track AS document_track, p.track AS page_track FROM current_page_metrics m "
        "JOIN current_documents d USING (document_id) LEFT JOIN pages p USING (document_id, page_number) ORDER BY m.document_id, m.page_number")
    agreement = store.rows("SELECT model_a, model_b, avg(similarity) AS similarity, count(*) AS documents FROM agreement GROUP BY ALL")
    by_track = store.rows(
        "SELECT e.model, d.track, count(*) AS documents, avg(e.success::INTEGER) AS success_rate, "
        "sum(e.pages) AS pages FROM current_extractions e JOIN current_documents d USING (document_id) WHERE e.pages > 0 GROUP BY ALL ORDER BY 1, 2")

    r = Report()
    title = "docproc: which OCR model is best for these documents"
    r.body.append(f"<h1>{e(title)}</h1><p class='note'>{datetime.now():%Y-%m-%d %H:%M} &middot; {n_docs} documents &middot; "
                  f"{len(ocr_models)} OCR models ({e(', '.join(ocr_models)) or 'none'}) and <code>direct</code>, the PDF text layer. "
                  "CER/WER: Unicode NFC, whitespace collapsed (strict); loose also ignores case and punctuation. "
                  "Bag-of-words F1 ignores word order. Answer recall: a gold DocumentVQA answer appears in the model's text.</p>")
    r.body.append("<nav>" + "".join(f'<a href="#{a}">{t}</a>' for a, t in [
        ("matrix", "comparison matrix"), ("success", "success"), ("tokens", "tokens"), ("accuracy", "CER/WER"),
        ("speed", "speed vs accuracy"), ("tracks", "by track"), ("errors", "error analysis"), ("scripts", "scripts"), ("documents", "side by side")]) + "</nav>")

    r.section("Comparison matrix", "matrix", "One row per model over the pages of its track; the best value of each column is marked.")
    r.body.append(matrix_table(metrics))
    if agreement and len(ocr_models) > 1:
        sim = {(a["model_a"], a["model_b"]): a["similarity"] for a in agreement}
        z = [[1.0 if a == b else sim.get((a, b), sim.get((b, a))) for b in ocr_models] for a in ocr_models]
        r.figure(go.Figure(go.Heatmap(z=z, x=ocr_models, y=ocr_models, zmin=0, zmax=1, colorscale="Viridis",
                                      text=[[_fmt(v) for v in row] for row in z], texttemplate="%{text}"),
                           layout={"title": "Agreement between models (mean similarity of their texts per document)"}))

    r.section("Success rate", "success")
    r.figure(go.Figure(go.Bar(x=models, y=[m["success_rate"] for m in metrics], text=[_fmt(m["success_rate"]) for m in metrics],
                              marker_color=["#888" if m == "direct" else "#3366cc" for m in models]),
                       layout={"title": "Share of documents read without error", "yaxis": {"range": [0, 1.05]}}))

    r.section("Token distributions", "tokens", "Words read per document, per model.")
    per_model_tokens: dict[str, list[int]] = defaultdict(list)
    for t in tokens:
        per_model_tokens[t["model"]].append(t["token_count"] or 0)
    fig = go.Figure(layout={"title": "Words per document", "yaxis": {"title": "words"}})
    for m in models:
        fig.add_trace(go.Box(y=_sample(per_model_tokens.get(m, [])), name=m, boxpoints="outliers"))
    r.figure(fig)

    r.section("CER and WER per model", "accuracy",
              "Per page with ground truth (sidecar transcripts, self-supervised pages). Lower is better.")
    if page_metrics:
        per_model: dict[str, list[dict]] = defaultdict(list)
        for p in page_metrics:
            per_model[p["model"]].append(p)
        for metric in ("cer", "wer"):
            fig = go.Figure(layout={"title": f"{metric.upper()} per page (strict normalisation)", "yaxis": {"title": metric.upper()}})
            for m in models:
                if per_model.get(m):
                    fig.add_trace(go.Box(y=_sample([p[metric] for p in per_model[m]]), name=m, boxpoints="all", jitter=0.4,
                                         pointpos=0, text=_sample([e(f"{p['filename']} p{p['page_number']}") for p in per_model[m]])))
            r.figure(fig)
        rows = [m for m in models if any(p["row_integrity"] is not None for p in per_model.get(m, []))]
        if rows:  # pages with a layout reference: self-supervised pages, NAME.gt.layout.txt sidecars
            fig = go.Figure(layout={"title": "Rows intact per page (share of the page's visual rows read whole)",
                                    "yaxis": {"title": "row integrity", "range": [0, 1.05]}})
            for m in rows:
                scored = [p for p in per_model[m] if p["row_integrity"] is not None]
                fig.add_trace(go.Box(y=_sample([p["row_integrity"] for p in scored]), name=m, boxpoints="all", jitter=0.4, pointpos=0,
                                     text=_sample([e(f"{p['filename']} p{p['page_number']}: {p['rows_intact']}/{p['rows']}") for p in scored])))
            r.figure(fig)
    else:
        r.body.append("<p>No ground truth yet: add <code>NAME.gt.txt</code> sidecars, use <code>--evaluate</code> "
                      "(self-supervised pages) or a DocumentVQA data set.</p>")

    r.section("Speed against accuracy", "speed", "Pages per minute against mean CER (or answer recall without transcripts).")
    scored = [m for m in metrics if m.get("pages_per_minute") is not None]
    accuracy_key = "mean_cer" if any(m.get("mean_cer") is not None for m in scored) else "answer_recall"
    fig = go.Figure(go.Scatter(
        x=[m["pages_per_minute"] for m in scored], y=[m.get(accuracy_key) for m in scored], text=[m["model"] for m in scored],
        mode="markers+text", textposition="top center",
        marker={"size": [max(8, min(40, (m.get("peak_memory_mb") or 0) / 100)) for m in scored]}),
        layout={"title": f"pages/min vs {accuracy_key} (marker size: peak memory)", "xaxis": {"title": "pages per minute"},
                "yaxis": {"title": accuracy_key}})
    r.figure(fig)

    r.section("Breakdown by track", "tracks", "Documents by their track (direct, ocr, mixed), and accuracy by where the ground truth came from.")
    tracks = sorted({t["track"] or "error" for t in by_track})
    fig = go.Figure(layout={"title": "Success rate by document track", "barmode": "group", "yaxis": {"range": [0, 1.05]}})
    for m in models:
        rows = {t["track"] or "error": t for t in by_track if t["model"] == m}
        fig.add_trace(go.Bar(name=m, x=tracks, y=[rows[t]["success_rate"] if t in rows else None for t in tracks],
                             customdata=[rows[t]["pages"] if t in rows else 0 for t in tracks],
                             hovertemplate="%{x}: %{y:.3f} (%{customdata} pages)"))
    r.figure(fig)
    if page_metrics:
        groups = sorted({_group(p) for p in page_metrics})
        fig = go.Figure(layout={"title": "Mean CER by ground truth (source, DPI, degradation)", "barmode": "group"})
        for m in models:
            vals = defaultdict(list)
            for p in page_metrics:
                if p["model"] == m:
                    vals[_group(p)].append(p["cer"])
            if vals:
                fig.add_trace(go.Bar(name=m, x=groups, y=[statistics.fmean(vals[g]) if vals.get(g) else None for g in groups]))
        r.figure(fig)

    r.section("Error analysis", "errors", "Scored pages grouped by their dominant error: missing text (deletions), extra text "
              "(insertions), misread characters (substitutions), reading order (right words, wrong order), case/punctuation only.")
    if page_metrics:
        from docproc_assets.core.evaluation import ERROR_TYPES

        fig = go.Figure(layout={"title": "Pages by error type", "barmode": "stack", "yaxis": {"title": "pages"}})
        for kind in ERROR_TYPES:
            counts = [sum(1 for p in page_metrics if p["model"] == m and p["error_type"] == kind) for m in models]
            if any(counts):
                fig.add_trace(go.Bar(name=kind, x=models, y=counts))
        r.figure(fig)
        edits = go.Figure(layout={"title": "Character edits against the ground truth", "barmode": "group"})
        for kind in ("substitutions", "deletions", "insertions"):
            edits.add_trace(go.Bar(name=kind, x=models, y=[sum(p[kind] or 0 for p in page_metrics if p["model"] == m) for m in models]))
        r.figure(edits)
        worst = sorted(page_metrics, key=lambda p: -(p["cer"] or 0))[:25]
        r.body.append("<h3>Worst pages</h3><table><thead><tr><th>document</th><th>page</th><th>model</th><th>CER</th>"
                      "<th>WER</th><th>error type</th><th>ground truth</th></tr></thead><tbody>" + "".join(
                          f"<tr><td>{e(p['filename'] or p['document_id'][:12])}</td><td>{p['page_number']}</td><td>{e(p['model'])}</td>"
                          f"<td>{_fmt(p['cer'])}</td><td>{_fmt(p['wer'])}</td><td>{e(p['error_type'] or '')}</td><td>{e(_group(p))}</td></tr>"
                          for p in worst) + "</tbody></table>")

    r.section("Scripts", "scripts", "OCR pages by script (ISO 15924) and the engine that read them. The script comes from "
              "Tesseract OSD where it was sure, else from the text read: where `auto` was unsure, it read the page with "
              "the default engine first and again with the engine for the script it found.")
    r.body.append(scripts_table(store))

    r.section("Side by side", "documents", "")
    r.body.append(side_by_side(store, models, page_metrics, max_documents, max_chars, views))
    return r.html(title)


SCRIPTS_SQL = """
SELECT model, coalesce(script, 'unknown') AS script, coalesce(engine, '') AS engine, count(*) AS pages,
       count(*) FILTER (WHERE script_evidence LIKE '%unsure%' OR script_evidence NOT LIKE 'image%') AS unsure,
       count(engine_vote) AS voted,
       count(*) FILTER (WHERE engine_vote IS NOT NULL AND NOT starts_with(engine_vote, engine || ' ')) AS second_won
FROM page_reads WHERE track = 'ocr' AND document_id IN (SELECT document_id FROM current_documents)
GROUP BY ALL ORDER BY model, pages DESC, script, engine
"""


def scripts_table(store: Store) -> str:
    """Per model and script: which engine read how many pages, on how many OSD could not tell the script, and
    how many `auto` put to a vote of two engines (unsure) and the second engine's reading won."""
    rows = store.rows(SCRIPTS_SQL)
    if not rows:
        return "<p>No OCR pages read yet.</p>"
    return ("<table><thead><tr><th>model</th><th>script</th><th>engine</th><th>pages</th><th>script from the text read "
            "(OSD unsure)</th><th>read by two engines (vote)</th><th>second reading kept</th></tr></thead><tbody>" + "".join(
                f"<tr><td>{e(r['model'])}</td><td>{e(r['script'])}</td><td>{e(r['engine'])}</td><td>{r['pages']}</td>"
                f"<td>{r['unsure']}</td><td>{r['voted']}</td><td>{r['second_won']}</td></tr>" for r in rows) + "</tbody></table>")


def _group(p: dict) -> str:
    if p.get("ground_truth_source") == "synthetic":
        return f"synthetic {p.get('dpi')}dpi {p.get('degradation')}"
    return p.get("ground_truth_source") or "?"


def side_by_side(store: Store, models: list[str], page_metrics: list[dict], max_documents: int, max_chars: int,
                 views: PageViews | None = None) -> str:
    """Each document's text per model (and its ground truth), differences against the ground truth marked;
    with `views`, its pages with every model's boxes over them."""
    worst: dict[str, float] = defaultdict(float)
    for p in page_metrics:
        worst[p["document_id"]] = max(worst[p["document_id"]], p["cer"] or 0)
    docs = store.rows("SELECT document_id, filename, track, page_count FROM current_documents ORDER BY filename, document_id")
    docs.sort(key=lambda d: (d["document_id"] not in worst, -worst.get(d["document_id"], 0)))
    total = len(docs)
    docs = docs[:max_documents]
    ids = [d["document_id"] for d in docs]
    texts: dict[str, dict[str, dict]] = defaultdict(dict)
    for row in store.rows("SELECT document_id, model, extracted_text, success, error, pages FROM extractions "
                          "WHERE document_id IN (SELECT unnest(?::VARCHAR[]))", [ids]):
        texts[row["document_id"]][row["model"]] = row
    truth: dict[str, dict[int, str]] = defaultdict(dict)
    for row in store.rows("SELECT document_id, page_number, reference FROM ground_truth WHERE document_id IN (SELECT unnest(?::VARCHAR[])) "
                          "ORDER BY document_id, page_number", [ids]):
        truth[row["document_id"]][row["page_number"]] = row["reference"]
    questions: dict[str, list[dict]] = defaultdict(list)
    for row in store.rows("SELECT document_id, question, answers FROM answers WHERE document_id IN (SELECT unnest(?::VARCHAR[])) "
                          "ORDER BY document_id, question_id", [ids]):
        questions[row["document_id"]].append(row)
    cer = {(p["document_id"], p["model"]): p["cer"] for p in page_metrics}

    parts = [f'<p class="note">{len(docs)} of {total} documents (worst CER first); texts cut at {max_chars} characters. '
             '<del>struck</del>: in the ground truth, not read; <ins>marked</ins>: read, not in the ground truth.</p>',
             '<div class="pager"><button id="pager-prev">&larr; previous</button><span id="pager-label"></span>'
             '<button id="pager-next">next &rarr;</button></div>']
    page_views: dict[int, list[dict]] = {}
    if views is not None:
        parts.append(_legend(models))
    for n, d in enumerate(docs):
        doc_id = d["document_id"]
        reference = "\n".join(truth.get(doc_id, {}).values())
        if views is not None and (pages := views.document(doc_id, models, truth.get(doc_id, {}))):
            page_views[n] = pages
        cols = []
        if reference:
            cols.append(f'<div class="col"><h4>ground truth</h4><pre>{e(reference[:max_chars])}</pre></div>')
        for m in models:
            row = texts[doc_id].get(m)
            if row is None:
                continue
            if not row["success"]:
                body = f"<em>error: {e(row['error'] or '')}</em>"
            elif not row["pages"]:
                body = "<em>no pages of this model's track</em>"
            elif reference:
                body = word_diff(reference[:max_chars], (row["extracted_text"] or "")[:max_chars])
            else:
                body = e((row["extracted_text"] or "")[:max_chars])
            score = f" &middot; CER {_fmt(cer[(doc_id, m)])}" if (doc_id, m) in cer else ""
            cols.append(f'<div class="col"><h4>{e(m)}{score}</h4><pre>{body}</pre></div>')
        qa = "".join(f"<li>{e(q['question'] or '')} &rarr; {e(', '.join(json.loads(q['answers'] or '[]')))}</li>" for q in questions.get(doc_id, []))
        view = (f'<div class="pageview" data-doc="{n}"><div class="pv-pages"></div><div class="pv-info">'
                'Click a box: what every model read there.</div></div>') if n in page_views else ""
        parts.append(f'<div class="doc" id="doc-{e(doc_id[:12])}"><h3>{e(d["filename"] or doc_id)} <small>({e(str(d["track"]))}, '
                     f'{d["page_count"] or 0} pages, {e(doc_id[:12])})</small></h3>' + (f"<ul>{qa}</ul>" if qa else "")
                     + view + f'<div class="cols">{"".join(cols)}</div></div>')
    if views is not None:
        views.finish()  # every image written before the views are
        if views.left_out:
            parts.append(f'<p class="note">{views.left_out} documents shown without a page view: the report\'s page-view budget '
                         f'({views.budget_bytes / 1e6:.0f} MB) was spent on the documents before them.</p>')
    if page_views:
        data = json.dumps({"models": models, "colours": [_colour(i) for i in range(len(models))],
                           "scale": PAGE_VIEW_SCALE, "docs": page_views}, ensure_ascii=False, separators=(",", ":"))
        parts.append(f'<script type="application/json" id="pageviews">{inert_json(data)}</script>')
    return "".join(parts)


def _colour(index: int) -> str:
    return MODEL_COLOURS[index % len(MODEL_COLOURS)]


PAGE_VIEW_SCALE = 0.75  # screen pixels per page point: a letter page 459 px wide


def _legend(models: list[str]) -> str:
    """One switch per model (its boxes on every page view) and one for the layout regions."""
    hide = "".join(f".hide-m{i} .pv-m{i}{{display:none}}" for i in range(len(models)))
    switches = "".join(
        f'<label><input type="checkbox" class="pv-toggle" data-hide="hide-m{i}" checked>'
        f'<span class="pv-swatch" style="background:{_colour(i)}"></span>{e(m)}</label>'
        for i, m in enumerate(models))
    return (f'<style>{hide}</style><p class="note pv-legend">Page views: each model\'s line boxes in its colour, filled by '
            'agreement (green: 1 - CER &ge; 0.95 against the ground truth, or similarity with the other models without one; '
            'amber &ge; 0.8; red below; grey: nothing to compare with); dashed: layout regions. '
            f'{switches}<label><input type="checkbox" class="pv-toggle" data-hide="hide-regions" checked>layout regions</label></p>')
