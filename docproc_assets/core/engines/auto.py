"""The `auto` engine: each page read by the engine, and with the languages, that read its script best.

The page's script comes from Tesseract OSD on the upright page image (core/scripts.py, the pass
core/orientation.py makes anyway). Where OSD cannot tell, the fallback engine reads the page first and
the script of what it read decides; a page whose script the policy sends elsewhere is read again there.
POLICY is the one place script -> engine lives. Its defaults are measured (../shared/ENGINES.md, CER per
page on 300-dpi renders of real manuals; `bench/scripts.py FOLDER` measures it on yours):

    ja: PP-OCRv6 0.019, Tesseract jpn 0.260     ru: PP-OCRv6 0.576, Tesseract rus 0.022
    zh: PP-OCRv6 0.012, Tesseract chi_sim 0.270 ko: PP-OCRv6 0.310, Tesseract kor 0.643
    de, fr: both 0.000-0.001

and `bench/scripts.py --make-pages` (pure-script pages, loose CER): Cyrl PP-OCRv6 1.000 / Tesseract
0.000, Grek 0.369 / 0.002, Hang 0.996 / 0.467, Hani 0.000 / 0.892, Jpan 0.022 / 0.668, Latn 0 / 0.
Hangul goes to Tesseract first although the manuals' CER favoured PP-OCRv6: its recogniser has no
Hangul letters and returns nothing for them (its 0.310 came from the Latin text on those pages).

Scripts PP-OCRv6's recogniser has no letters for (Cyrillic read as Latin look-alikes, Greek, Arabic,
Hebrew, Devanagari) go to Tesseract with the page's Debian language pack. Each script lists engines in
order; the next reads the page when one reads almost nothing. Users override entries with the `policy` option (registry
override / DOCPROC_MODEL_OVERRIDES): {"auto": {"options": {"policy": {"Cyrl": ["tesseract", {"languages": "ukr+eng"}]}}}}.
Each page records the engine that read it; the sub-engines are loaded once, when a page first needs them.

Where OSD names a script below its confidence threshold whose engine is not the fallback's (a Hebrew page
with OSD at 0.4), that engine's reading and the fallback's vote. When unsure of a reading (its mean line
confidence below `vote_below`, 0.80 by default, or a page whose script no letter told) and the page's
script lists a second engine, that engine reads the page too: the two readings' agreement (rapidfuzz ratio), scripts and confidences decide. Readings that agree (>= 0.90)
keep the policy's first; otherwise one in the page's script beats one that is not, then the more
confident one, its confidence weighed by the share of the page's characters it read (on a Russian render
PP-OCRv6's Latin look-alikes scored 0.92 against Tesseract's 0.97, agreement 0.07: the engines'
confidences are not on one scale, and a margin for the first reading would have kept the wrong one). The page's `engine_vote` says
what was compared and kept; the report counts votes and how often the second reading won.
"""

from __future__ import annotations

import json
import threading

from PIL import Image
from rapidfuzz import fuzz

from docproc_assets.core import scripts
from docproc_assets.core.engines.base import Availability, OcrEngine, OcrOutput
from docproc_assets.core.engines.registry import ModelConfig, check_availability, engine_class, get_config
from docproc_assets.core.orientation import osd
from docproc_assets.core.scripts import ScriptGuess

FALLBACK = "ppocr-v6"
Choice = tuple[str, dict]  # an engine and its options
_PPOCR: Choice = (FALLBACK, {})
# script -> engines in order of preference; the next is tried when one reads (almost) nothing, as
# PP-OCRv6 does on some Hangul pages: an empty page is never the answer while another engine can read it
POLICY: dict[str, list[Choice]] = {
    "Latn": [_PPOCR, ("tesseract", {"languages": "eng+deu+fra"})],
    "Hani": [_PPOCR, ("tesseract", {"languages": "chi_sim+chi_tra"})],
    "Jpan": [_PPOCR, ("tesseract", {"languages": "jpn"})],
    "Hang": [("tesseract", {"languages": "kor+eng"}), _PPOCR],
    "Cyrl": [("tesseract", {"languages": "rus+eng"})],
    "Grek": [("tesseract", {"languages": "ell+eng"})],
    "Arab": [("tesseract", {"languages": "ara+eng"})],
    "Hebr": [("tesseract", {"languages": "heb+eng"})],
    "Deva": [("tesseract", {"languages": "hin+eng"})],
}
MIN_CHARACTERS = 10  # a reading with fewer non-space characters than this is "almost nothing"
VOTE_BELOW = 0.80  # a reading less sure than this (mean line confidence) is read again by the script's next engine
AGREEMENT = 0.90  # two readings this alike: the policy's first stands


def policy(config: ModelConfig) -> dict[str, list[Choice]]:
    """The defaults with the user's entries over them (an entry: [engine, options] or a list of them)."""
    out = dict(POLICY)
    for script, entry in (config.options.get("policy") or {}).items():
        entries = entry if entry and isinstance(entry[0], (list, tuple)) else [entry]
        out[script] = [(e[0], dict(e[1]) if len(e) > 1 else {}) for e in entries]
    return out


def _text(output: OcrOutput) -> str:
    return " ".join(line.text for line in output.lines) or output.text or ""


def _characters(output: OcrOutput) -> int:
    text = _text(output)
    return len(text) - text.count(" ")


def _confidence(output: OcrOutput) -> float | None:
    scores = [line.confidence for line in output.lines if line.text.strip() and line.confidence is not None]
    return sum(scores) / len(scores) if scores else None


def _score(output: OcrOutput, script: str | None, most: int) -> tuple[bool, float]:
    """(its letters are in the page's script, confidence times its share of the longer reading's characters)."""
    in_script = script is None or scripts.from_text(_text(output)).script == script
    return in_script, (_confidence(output) or 0.0) * _characters(output) / max(1, most)


def vote(first: OcrOutput, second: OcrOutput, script: str | None = None) -> OcrOutput:
    """The reading to keep of two, with `vote` saying why: agreeing readings keep the first (the policy's
    preference). Otherwise a reading in the page's `script` (where known) beats one that is not (PP-OCRv6
    reads Hangul or Hebrew as confident look-alikes of its own letters), then confidence weighed by how
    much of the page each read."""
    agreement = fuzz.ratio(" ".join(_text(first).split()), " ".join(_text(second).split())) / 100
    a, b = _confidence(first), _confidence(second)
    most = max(_characters(first), _characters(second))
    kept = second if agreement < AGREEMENT and _score(second, script, most) > _score(first, script, most) else first
    shown = ", ".join(f"{o.engine} {'-' if c is None else f'{c:.2f}'}" for o, c in ((first, a), (second, b)))
    kept.vote = f"{shown}; agreement {agreement:.2f}; kept {kept.engine}"
    return kept


class AutoEngine(OcrEngine):
    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.require_available(config)
        self.policy = policy(config)
        self._engines: dict[str, OcrEngine] = {}
        self._lock = threading.Lock()

    @classmethod
    def availability(cls, config: ModelConfig) -> Availability:
        fallback = check_availability(get_config(FALLBACK))
        if not fallback.available:
            return Availability(False, f"its fallback engine {FALLBACK} cannot run: {fallback.reason}")
        return Availability(True, device="cpu")

    @classmethod
    def languages(cls, config: ModelConfig) -> list[str]:
        """Each script of the policy with its first engine."""
        return [f"{script}: {choices[0][0]}" + (f" {choices[0][1]['languages']}" if choices[0][1].get("languages") else "")
                for script, choices in policy(config).items()]

    def engine(self, name: str, options: dict) -> OcrEngine:
        """A sub-engine with these options, made at its first page and kept (not in the registry's LRU:
        `auto` holds it as long as it lives)."""
        key = f"{name}:{json.dumps(options, sort_keys=True)}"
        with self._lock:
            if key not in self._engines:
                config = get_config(name, options={**options, "auto_rotate": False, "layout": False})
                self._engines[key] = engine_class(config.family)(config)
            return self._engines[key]

    def choices(self, script: str | None) -> list[Choice]:
        return self.policy.get(script or "", [_PPOCR])

    def recognize(self, image: Image.Image) -> OcrOutput:
        return self.read(image, scripts.from_osd(osd(image)))

    def recognize_pages(self, images: list[Image.Image], page_scripts: list[ScriptGuess | None]) -> list[OcrOutput]:
        """The pages' OSD scripts come with them (PageReader's upright pass): no second OSD pass."""
        return [self.read(image, guess) if guess is not None else self.recognize(image) for image, guess in zip(images, page_scripts, strict=True)]

    def read(self, image: Image.Image, guess: ScriptGuess) -> OcrOutput:
        """The page through its script's engines in turn (the next when one reads almost nothing);
        without a script, what the fallback read decides the script. An unsure reading is put to a vote."""
        script, choices = guess.script, self.choices(guess.script)
        if script is None:  # OSD was unsure: the fallback reads first, and its text tells the script
            first = self._read(image, _PPOCR)
            script = scripts.from_text(_text(first)).script
            hunch = self.choices(guess.tentative)[0] if guess.tentative else _PPOCR
            if hunch != _PPOCR and (script is None or hunch not in self.choices(script)):
                # OSD's unsure script needs another engine than what the fallback's letters suggest: the
                # two readings vote (PP-OCRv6 reads a Hebrew page as confident Latin look-alikes)
                return vote(first, self._read(image, hunch), guess.tentative)
            found = self.choices(script)
            choices = [c for c in found if c != _PPOCR]
            if not choices or found[0] == _PPOCR and _characters(first) >= MIN_CHARACTERS:
                return self._second_opinion(image, first, [_PPOCR], found if script else POLICY["Latn"], script)
        output, tried = None, []
        for choice in choices:
            tried.append(choice)
            output = self._read(image, choice)
            if _characters(output) >= MIN_CHARACTERS:
                break
        return self._second_opinion(image, output, tried, choices, script)

    def _second_opinion(self, image: Image.Image, output: OcrOutput, tried: list[Choice], choices: list[Choice],
                        script: str | None) -> OcrOutput:
        """The script's next engine, where one is left: instead of a reading of almost nothing, or beside
        an unsure one (low confidence, or no letter told the script: `script` None), `vote` keeping one."""
        others = [c for c in choices if c not in tried]
        if not others:
            return output
        if _characters(output) < MIN_CHARACTERS:
            other = self._read(image, others[0])
            return other if _characters(other) > _characters(output) else output
        confidence = _confidence(output)
        if script is not None and confidence is not None and confidence >= float(self.config.options.get("vote_below", VOTE_BELOW)):
            return output
        return vote(output, self._read(image, others[0]), script)

    def _read(self, image: Image.Image, choice: Choice) -> OcrOutput:
        name, options = choice
        engine = self.engine(name, options)
        output = engine.recognize(image)
        output.engine = name + (f" ({options['languages']})" if options.get("languages") else "")
        output.engine_version = engine.config.version
        return output

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()
