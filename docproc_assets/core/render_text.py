"""Markdown rendering of a UnifiedDocument in reading order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from docproc_assets.core.document import DocumentElement, ElementType

if TYPE_CHECKING:
    from docproc_assets.core.document import UnifiedDocument


def table_markdown(element: DocumentElement) -> str:
    """A pipe table from the cells; the first row is the header row, as Markdown requires one."""
    if not element.cells:
        return element.content
    n_rows = max(c.row for c in element.cells) + 1
    n_cols = max(c.col for c in element.cells) + 1
    grid = [["" for _ in range(n_cols)] for _ in range(n_rows)]
    for cell in element.cells:
        grid[cell.row][cell.col] = " ".join(cell.content.split()).replace("|", "\\|")
    lines = ["| " + " | ".join(grid[0]) + " |", "|" + "---|" * n_cols]
    lines += ["| " + " | ".join(row) + " |" for row in grid[1:]]
    return "\n".join(lines)


def element_markdown(element: DocumentElement) -> str | None:
    match element.type:
        case ElementType.HEADING:
            return "#" * min(element.level or 1, 6) + " " + " ".join(element.content.split())
        case ElementType.LIST_ITEM:
            return "- " + element.content.lstrip("•◦▪‣∙·-*– ").strip()
        case ElementType.TABLE:
            return table_markdown(element)
        case ElementType.CAPTION:
            return f"*{element.content.strip()}*"
        case ElementType.IMAGE:
            return "![image]()"
        case ElementType.HEADER | ElementType.FOOTER:
            return None  # page furniture: kept in the model and the plain text, not in the prose
        case _:
            return element.content


def to_markdown(document: UnifiedDocument) -> str:
    parts: list[str] = []
    for page in document.pages:
        for element in page.ordered():
            rendered = element_markdown(element)
            if rendered:
                parts.append(rendered)
    return "\n\n".join(parts) + "\n"
