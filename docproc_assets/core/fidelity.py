"""Every character once: does a direct page's output hold exactly the characters of its text layer?

The page's visible text layer is the reference. Its non-space characters, after the documented
normalisations (ligatures U+FB00-FB06 expanded, soft hyphens dropped), must each appear exactly once
in the page's elements: text blocks, captions, headers and footers, and each table counted once, by its
cells (not by its summary). What is missing was lost; what is extra was invented or doubled.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from typing import Any

from docproc_assets.core.document import DocumentElement, ElementType

LIGATURES = {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st"}
SOFT_HYPHEN = "\u00ad"
_TRANSLATE = str.maketrans({**LIGATURES, SOFT_HYPHEN: ""})
VISIBLE_CHAR_FLAGS = 16 | 32  # MuPDF's "filled" and "stroked": neither means render mode 3 / clipped


def is_visible(span: dict[str, Any]) -> bool:
    """False for text drawn in render mode 3 (invisible) or fully transparent: not the page's text."""
    return span.get("alpha", 255) != 0 and bool(span.get("char_flags", 16) & VISIBLE_CHAR_FLAGS)


def normalise(text: str) -> str:
    """The text a user searches for: ligatures spelled out, soft hyphens gone (nothing else changes)."""
    return text if text.isascii() else text.translate(_TRANSLATE)  # translate() by a dict is slow; ASCII holds neither


def characters(text: str) -> Counter[str]:
    return Counter(c for c in normalise(text) if not c.isspace())


def element_text(elements: Iterable[DocumentElement]) -> str:
    """The characters a page's elements hold, each table once, by its cells."""
    parts = []
    for element in elements:
        if element.type == ElementType.TABLE and element.cells:
            parts += [cell.content for cell in element.cells]
        else:
            parts.append(element.content)
    return "\n".join(parts)


_NUMBER = re.compile(r"[-+]?\d+(?:[.,:/]\d+)*")


def numbers(text: str) -> Counter[str]:
    """The numbers in a text as written (`-2.98`, `273.879.7501`, `12/03`): a scrambled cell loses them."""
    return Counter(_NUMBER.findall(normalise(text)))


@dataclass
class Balance:
    reference: int  # non-space characters on the page
    missing: Counter[str]  # on the page, not in the output (lost)
    extra: Counter[str]  # in the output, not on the page (invented or doubled)
    numbers_lost: Counter[str]  # numbers of the page that no element holds intact

    @property
    def exact(self) -> bool:
        return not self.missing and not self.extra and not self.numbers_lost


def balance(reference: str, elements: Iterable[DocumentElement]) -> Balance:
    output = element_text(elements)
    want, got = characters(reference), characters(output)
    return Balance(sum(want.values()), want - got, got - want, numbers(reference) - numbers(output))


def visible_text(text_dict: dict) -> str:
    """The visible characters of a `get_text("dict")` pass (invisible OCR layers are not the page's text)."""
    return "\n".join("".join(span["text"] for span in line["spans"] if is_visible(span))
                     for block in text_dict.get("blocks", ()) if block.get("type") == 0 for line in block["lines"])
