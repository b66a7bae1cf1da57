"""Output formats. Each takes Report.to_dict() and view options, and returns a string."""

from __future__ import annotations

from .csv import render_csv
from .html import render_html
from .json import render_json
from .markdown import render_markdown
from .text import render_text

__all__ = ["FORMATS", "render"]

FORMATS = {"text": render_text, "markdown": render_markdown, "json": render_json, "csv": render_csv,
           "html": render_html}


def render(d: dict, fmt: str = "text", sort: str | None = None, top: int | None = None, by: str = "node",
           **view) -> str:
    """`view` holds what only some formats take: `columns`, `depth` (text, markdown; csv and json take
    `depth`) and `width` (text)."""
    view = {k: v for k, v in view.items() if v is not None}
    return FORMATS[fmt](d, sort=sort, top=top, by=by, **view)
