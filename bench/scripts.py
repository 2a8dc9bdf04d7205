"""Which engine reads which script best: every available CPU engine on every page of a folder, CER per
engine and script, and the policy table it recommends for the `auto` engine (engines/auto.py POLICY).

usage: python bench/scripts.py FOLDER [--engines ppocr-v6,rapidocr,tesseract,auto] [--make-pages] [--dpi 300] [--json]

FOLDER holds page images with NAME.gt.txt sidecars (the page's text). A page's script is that of its
ground truth (core/scripts.py). Tesseract reads each page with the language packs POLICY gives its
script (else eng); `auto` chooses for itself (OSD, its policy, its vote). `--make-pages` first writes sample
pages into FOLDER (Latin, Cyrillic, Greek, Han, Japanese, Hangul in the Droid Sans Fallback PyMuPDF ships;
Hebrew, Arabic in DejaVu Sans and Devanagari in Lohit, shaped by MuPDF's HTML layout, where Debian's fonts
are installed), rendered at `--dpi`, for a quick look; measure on real pages of your own for a policy you
can trust. The last row is each engine's mean over every page.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SAMPLES = {
    "latin": "This is a page of the user manual. The program reads documents and stores their text in a database.",
    "cyrillic": "Это страница руководства пользователя. Программа читает документы и сохраняет текст в базе данных.",
    "greek": "Αυτή είναι μια σελίδα του εγχειριδίου χρήσης. Το πρόγραμμα διαβάζει έγγραφα και αποθηκεύει το κείμενο.",
    "han": "这是用户手册的一页。程序读取文档并将文本保存在数据库中。每一行都有自己的坐标。",
    "japanese": "これはユーザーマニュアルのページです。プログラムは文書を読み取り、テキストを保存します。",
    "hangul": "이것은 사용자 설명서의 한 페이지입니다. 프로그램은 문서를 읽고 텍스트를 저장합니다.",
}
SHAPED = {  # name: (text, HTML lang, font file of a Debian package)
    "hebrew": ("זהו עמוד של מדריך המשתמש. התוכנית קוראת מסמכים ושומרת את הטקסט שלהם במסד נתונים.", "he",
               "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    "arabic": ("هذه صفحة من دليل المستخدم. يقرأ البرنامج المستندات ويحفظ نصوصها في قاعدة بيانات.", "ar",
               "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    "devanagari": ("यह उपयोगकर्ता पुस्तिका का एक पृष्ठ है। प्रोग्राम दस्तावेज़ पढ़ता है और उनका पाठ डेटाबेस में सहेजता है।", "hi",
                   "/usr/share/fonts/truetype/lohit-devanagari/Lohit-Devanagari.ttf"),
}


def _rotations(words: list[str], joiner: str) -> list[str]:
    return [joiner.join(words[i:] + words[:i]) for i in range(0, 5 * 3, 3)]  # no two lines alike: no false columns


def _save(page, folder: Path, name: str, dpi: int, truth: str | None = None) -> None:
    """The page's image and its ground truth: the text layer, or `truth` where shaping makes the layer
    differ from what a reader reads (Arabic presentation forms, Devanagari vowel signs in visual order)."""
    import pymupdf

    page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY).pil_save(folder / f"{name}.png", dpi=(dpi, dpi))
    (folder / f"{name}.gt.txt").write_text(truth or page.get_text(), encoding="utf-8")


def make_pages(folder: Path, dpi: int = 300) -> None:
    import pymupdf

    folder.mkdir(parents=True, exist_ok=True)
    for name, (text, language, font) in SHAPED.items():
        if not Path(font).is_file():
            print(f"{name}: {font} not installed, no page", file=sys.stderr)
            continue
        doc = pymupdf.open()
        page = doc.new_page()
        css = f"@font-face {{font-family: f; src: url({Path(font).name});}} p {{font-family: f; font-size: 13pt;}}"
        lines = _rotations(text.split(" "), " ")
        html = "".join(f'<p dir="auto" lang="{language}">{line}</p>' for line in lines)
        page.insert_htmlbox(pymupdf.Rect(72, 72, 540, 720), html, css=css, archive=pymupdf.Archive(str(Path(font).parent)))
        _save(page, folder, name, dpi, "\n".join(lines))
    for name, text in SAMPLES.items():
        doc = pymupdf.open()
        page = doc.new_page()
        page.insert_font(fontname="F0", fontbuffer=pymupdf.Font("cjk").buffer)
        words = text.split(" ") if " " in text else list(text)
        joiner = " " if " " in text else ""
        page.insert_textbox(pymupdf.Rect(72, 72, 540, 720), "\n".join(_rotations(words, joiner)), fontsize=13, fontname="F0")
        _save(page, folder, name, dpi)


def main() -> None:
    from PIL import Image

    from docproc_assets.core import metrics, scripts
    from docproc_assets.core.engines import auto
    from docproc_assets.core.engines.registry import check_availability, get_config, load_engine
    from docproc_assets.core.groundtruth import sidecar_pages

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--engines", default="ppocr-v6,rapidocr,tesseract,auto")
    ap.add_argument("--make-pages", action="store_true")
    ap.add_argument("--dpi", type=int, default=300, help="of the pages --make-pages renders")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.make_pages:
        make_pages(args.folder, args.dpi)
    pages = [(p, truth[0]) for p in sorted(args.folder.iterdir()) if p.suffix.lower() in {".png", ".jpg", ".tif", ".tiff"}
             if (truth := sidecar_pages(p)) and truth[0].strip()]
    if not pages:
        sys.exit(f"no page images with NAME.gt.txt sidecars in {args.folder}")
    cer: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))  # script -> engine -> CERs
    for name in [e.strip() for e in args.engines.split(",") if e.strip()]:
        if not check_availability(get_config(name)).available:
            print(f"{name}: not available here, skipped", file=sys.stderr)
            continue
        for path, truth in pages:
            script = scripts.from_text(truth).script or "unknown"
            options = {"threads": 2, "auto_rotate": False}
            if name == "tesseract":
                packs = [c[1]["languages"] for c in auto.POLICY.get(script, []) if c[0] == "tesseract"]
                options["languages"] = packs[0] if packs else "eng"
            engine = load_engine(name, get_config(name, options=options))
            output = engine.recognize(Image.open(path).convert("RGB"))
            text = " ".join(line.text for line in output.lines) or output.text or ""
            cer[script][name].append(metrics.accuracy(truth, text).cer_loose)
    rows = []
    for script, by_engine in sorted(cer.items()):
        means = {e: statistics.fmean(v) for e, v in by_engine.items()}
        best = min(means, key=means.get)
        rows.append({"script": script, "pages": max(len(v) for v in by_engine.values()), "cer": {e: round(m, 3) for e, m in means.items()},
                     "recommended": best, "policy_now": (auto.POLICY.get(script) or [("ppocr-v6", {})])[0][0]})
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return
    engines = sorted({e for r in rows for e in r["cer"]})
    overall = {e: statistics.fmean(c for by in cer.values() for c in by.get(e, [])) for e in engines}
    print(f"{'script':8} {'pages':>5} " + " ".join(f"{e:>10}" for e in engines) + f" {'best':>10} {'policy now':>11}")
    for r in rows:
        print(f"{r['script']:8} {r['pages']:5d} " + " ".join(f"{r['cer'].get(e, float('nan')):10.3f}" for e in engines)
              + f" {r['recommended']:>10} {r['policy_now']:>11}")
    print(f"{'all':8} {sum(r['pages'] for r in rows):5d} " + " ".join(f"{overall[e]:10.3f}" for e in engines)
          + f" {min(overall, key=overall.get):>10}")
    print("\nCER is loose (case and punctuation aside); the policy lives in docproc_assets/core/engines/auto.py POLICY.")


if __name__ == "__main__":
    main()
