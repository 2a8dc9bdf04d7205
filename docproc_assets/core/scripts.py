"""Which script a page is written in (ISO 15924), before any OCR engine is chosen for it.

From the text layer where a page has one: the Unicode script of its letters, counted (a page is the
script most of its letters are in; kana anywhere makes Han text Japanese). From the image otherwise:
Tesseract's orientation-and-script detection (OSD), which core/orientation.py runs on every OCR page
anyway, so knowing the script costs nothing more. The language is given only where the letters tell
it (Ukrainian's і ї є ґ; otherwise Cyrillic is Russian, the language most Cyrillic pages are in), and
in Latin script where the commonest function words of one language clearly outnumber the others'.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

# Unicode character-name prefixes -> ISO 15924 (the scripts the `auto` engine has a policy for, and kin)
_NAME_PREFIXES = {
    "LATIN": "Latn", "CYRILLIC": "Cyrl", "GREEK": "Grek", "ARABIC": "Arab", "HEBREW": "Hebr", "DEVANAGARI": "Deva",
    "THAI": "Thai", "HANGUL": "Hang", "HIRAGANA": "Kana", "KATAKANA": "Kana", "CJK": "Hani", "BENGALI": "Beng",
    "TAMIL": "Taml", "GEORGIAN": "Geor", "ARMENIAN": "Armn",
}
# Tesseract OSD's script names -> ISO 15924
OSD_SCRIPTS = {
    "Latin": "Latn", "Cyrillic": "Cyrl", "Greek": "Grek", "Arabic": "Arab", "Hebrew": "Hebr", "Devanagari": "Deva",
    "Thai": "Thai", "Hangul": "Hang", "Korean": "Hang", "Han": "Hani", "HanS": "Hani", "HanT": "Hani", "Japanese": "Jpan",
    "Katakana": "Jpan", "Hiragana": "Jpan", "Bengali": "Beng", "Tamil": "Taml", "Georgian": "Geor", "Armenian": "Armn",
}
MIN_LETTERS = 8  # fewer letters than this tell no script
MIN_OSD_CONFIDENCE = 1.0  # OSD's script confidence below this is a guess
_UKRAINIAN = set("іїєґІЇЄҐ")


@dataclass(frozen=True)
class ScriptGuess:
    script: str | None  # ISO 15924: Latn, Cyrl, Grek, Hani, Jpan, Hang, Arab, Hebr, Deva, ...
    language: str | None  # ISO 639-3 where the letters tell it: rus, ukr
    evidence: str
    tentative: str | None = None  # the script OSD named below its confidence threshold: a candidate, not a verdict


@lru_cache(maxsize=8192)
def _script_of(ch: str) -> str | None:
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return None
    return _NAME_PREFIXES.get(name.split(" ", 1)[0])


_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
_NOT_ASCII = re.compile(r"[^\x00-\x7f]")


def non_ascii(text: str) -> Counter[str]:
    """The text's non-ASCII characters, counted: what a per-character lookup (a script, a Unicode
    category) needs to see of a page that is mostly ASCII, each distinct character once."""
    return Counter(_NOT_ASCII.findall(text))


def _letters(text: str) -> Counter[str]:
    """Letters by script. ASCII letters are counted in bytes (a page of English costs ~15 µs, not a
    Counter over every character); other characters are looked up once per distinct character."""
    ascii_text = text.encode("ascii", "ignore")
    letters: Counter[str] = Counter()
    if latin := len(ascii_text) - len(ascii_text.translate(None, _ASCII_LETTERS)):
        letters["Latn"] = latin
    if len(ascii_text) < len(text):
        for ch, n in non_ascii(text).items():
            if ch.isalpha() and (script := _script_of(ch)):
                letters[script] += n
    return letters


def from_text(text: str, source: str = "text layer") -> ScriptGuess:
    """The script most of the text's letters are in (`source`: where the text came from, for the evidence)."""
    letters = _letters(text)
    total = sum(letters.values())
    if total < MIN_LETTERS:
        return ScriptGuess(None, None, f"{source}: {total} letters, too few to tell")
    script, count = letters.most_common(1)[0]
    if letters.get("Kana"):  # kana with or without kanji: Japanese
        script, count = "Jpan", letters["Kana"] + letters.get("Hani", 0)
    elif script == "Kana":
        script = "Jpan"
    shares = ", ".join(f"{s} {n / total:.0%}" for s, n in letters.most_common(3))
    return ScriptGuess(script, language_of(script, text), f"{source}: {total} letters ({shares})")


def from_osd(result: dict) -> ScriptGuess:
    """The script in Tesseract OSD's answer for a page image (orientation.osd)."""
    script_name, confidence = result.get("script_name"), float(result.get("script_conf") or 0.0)
    if not script_name or confidence < MIN_OSD_CONFIDENCE:
        return ScriptGuess(None, None, f"image (Tesseract OSD): unsure ({script_name or 'no script'}, confidence {confidence:.1f})",
                           OSD_SCRIPTS.get(script_name) if script_name else None)
    script = OSD_SCRIPTS.get(script_name)
    return ScriptGuess(script, None, f"image (Tesseract OSD): {script_name}, confidence {confidence:.1f}")


# The commonest function words of Latin-script languages: a page's language where they clearly tell it.
_FUNCTION_WORDS = {
    "eng": "the and of to in is that for with as on are this by be",
    "deu": "der die und das ist nicht mit den von zu sich auf für ein eine",
    "fra": "le la les et des est une que pour dans qui sur pas par du",
    "spa": "el la los las y que es en por una para con del se",
    "ita": "il di che la è per una sono della non con gli le nel",
    "por": "o a os que é do da em para com uma não dos no",
    "nld": "de het een en van is dat op te niet met zijn voor",
    "pol": "i w nie na się z że do jest to jak po",
}
_LANGUAGES_OF: dict[str, list[str]] = {}
for _language, _words in _FUNCTION_WORDS.items():
    for _word in _words.split():
        _LANGUAGES_OF.setdefault(_word, []).append(_language)
MIN_FUNCTION_WORDS = 5  # hits needed, and twice the runner-up's
SAMPLE_CHARACTERS = 4000  # the first this many characters tell a page's language as well as all of it


def _latin_language(text: str) -> str | None:
    hits: Counter[str] = Counter()
    for word, n in Counter(text[:SAMPLE_CHARACTERS].casefold().split()).items():
        for language in _LANGUAGES_OF.get(word.strip(".,;:!?()\"'«»“”"), ()):
            hits[language] += n
    ranked = hits.most_common(2) + [("", 0), ("", 0)]
    (language, best), (_, second) = ranked[0], ranked[1]
    return language if best >= MIN_FUNCTION_WORDS and best >= 2 * second else None


def language_of(script: str | None, text: str) -> str | None:
    """The language the letters (or, in Latin script, the function words) of a text tell."""
    if script == "Latn":
        return _latin_language(text)
    if script == "Cyrl":
        return "ukr" if any(ch in _UKRAINIAN for ch in text) else "rus"
    if script == "Arab":  # letters Arabic lacks: Urdu's, else Persian's
        return "urd" if any(ch in "ٹڈڑںے" for ch in text) else "fas" if any(ch in "پچژگ" for ch in text) else "ara"
    return {"Grek": "ell", "Hebr": "heb", "Jpan": "jpn", "Hang": "kor"}.get(script)
