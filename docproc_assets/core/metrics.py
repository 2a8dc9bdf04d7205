"""Accuracy of OCR text against ground truth, and agreement between models where there is none.

Normalisation is stated, not implied: `normalise()` applies Unicode NFC and collapses whitespace
(the "strict" variant); the "loose" variant also folds case and drops punctuation. CER and WER come
from jiwer (edit distances over characters and words); the bag-of-words F1 ignores order, so a
multi-column page read in another column order is not punished as if its words were wrong.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass

import jiwer
from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

_WS = re.compile(r"\s+")
_LEADERS = re.compile(r"(?:\.\s*){3,}")  # dot leaders as ../shared/tools/row-integrity drops them
_LEADER_DOTS = re.compile(r"(?:\s*\.){2,}|(?<=\s)\.(?=\s|$)")  # ... and what OCR leaves of them: `..`, ` . `
_PUNCT = re.compile(f"[{re.escape(string.punctuation)}“”‘’«»„…–—•·]")


def normalise(text: str, loose: bool = False) -> str:
    """NFC, dot leaders (runs of dots, spaced or not, and lone dots) dropped, whitespace collapsed;
    `loose` also lower-cases and removes punctuation. Leaders are typography: a TOC read right with 40
    dots too few is not wrong (strict CER is measured with leaders stripped)."""
    text = _LEADER_DOTS.sub(" ", unicodedata.normalize("NFC", text))
    if loose:
        text = _PUNCT.sub(" ", text.casefold())
    return _WS.sub(" ", text).strip()


@dataclass(frozen=True)
class Accuracy:
    cer: float
    wer: float
    cer_loose: float
    wer_loose: float
    bow_f1: float  # order-insensitive word overlap, 0..1
    reference_chars: int


def _rate(measure, reference: str, hypothesis: str) -> float:
    if not reference:
        return 0.0 if not hypothesis else 1.0
    if not hypothesis:
        return 1.0
    return float(measure(reference, hypothesis))


def bag_of_words_f1(reference: str, hypothesis: str) -> float:
    ref, hyp = Counter(reference.split()), Counter(hypothesis.split())
    if not ref and not hyp:
        return 1.0
    overlap = sum((ref & hyp).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(hyp.values()), overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def accuracy(reference: str, hypothesis: str) -> Accuracy:
    """CER/WER (strict and loose normalisation) and bag-of-words F1 of hypothesis against reference."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    ref_l, hyp_l = normalise(reference, loose=True), normalise(hypothesis, loose=True)
    return Accuracy(
        cer=round(_rate(jiwer.cer, ref, hyp), 5),
        wer=round(_rate(jiwer.wer, ref, hyp), 5),
        cer_loose=round(_rate(jiwer.cer, ref_l, hyp_l), 5),
        wer_loose=round(_rate(jiwer.wer, ref_l, hyp_l), 5),
        bow_f1=round(bag_of_words_f1(ref_l, hyp_l), 5),
        reference_chars=len(ref),
    )


def answer_found(answers: list[str], text: str) -> bool:
    """DocumentVQA answer recall: is any gold answer present in the OCR text (loosely normalised)?"""
    haystack = f" {normalise(text, loose=True)} "
    return any(f" {normalise(a, loose=True)} " in haystack for a in answers if normalise(a, loose=True))


def anls(answers: list[str], prediction: str, threshold: float = 0.5) -> float:
    """Average Normalised Levenshtein Similarity of one prediction (the DocVQA score)."""
    pred = normalise(prediction, loose=True)
    best = 0.0
    for answer in answers:
        gold = normalise(answer, loose=True)
        similarity = fuzz.ratio(gold, pred, processor=None) / 100 if gold or pred else 1.0
        best = max(best, similarity)
    return best if best >= threshold else 0.0


def agreement(a: str, b: str) -> float:
    """Similarity of two models' texts, 0..1 (1 - normalised edit distance, loose normalisation)."""
    return round(fuzz.ratio(normalise(a, loose=True), normalise(b, loose=True), processor=None) / 100, 5)


_WORD = re.compile(r"\w+")


def _row_words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(_LEADERS.sub(" ", text))]


def _same_word(a: str, b: str) -> bool:
    """Equal, or (4+ characters) one edit apart: an OCR slip inside a word does not break its row."""
    return a == b or (len(a) >= 4 and Levenshtein.distance(a, b) <= 1)


def row_integrity(output: str, layout_reference: str) -> tuple[int, int]:
    """(rows intact, rows): a row is a line of the layout reference (`pdftotext -layout` of the source
    page) with 3+ words after dot leaders are dropped; it is intact when its words come out contiguous
    and in order. Tables and tables of contents read column by column score low; prose reads alike
    either way. The same measure as ../shared/tools/row-integrity."""
    stream = _row_words(output)
    where: dict[str, list[int]] = {}
    for i, w in enumerate(stream):
        where.setdefault(w, []).append(i)
    rows = [r for r in (_row_words(line) for line in layout_reference.splitlines()) if len(r) >= 3]
    intact = 0
    for r in rows:
        starts = {*where.get(r[0], ()), *(i - 1 for i in where.get(r[1], ())), *(i - 2 for i in where.get(r[2], ()))}
        n = len(r)
        intact += any(i >= 0 and len(stream[i:i + n]) == n and all(map(_same_word, stream[i:i + n], r)) for i in starts)
    return intact, len(rows)
