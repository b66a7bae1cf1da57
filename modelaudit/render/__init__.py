"""Output formats. Each takes a Report (or its to_dict()) and view options, and returns a string;
`write` sends a report to a stream (JSON as it is encoded)."""

from __future__ import annotations

from importlib import import_module

__all__ = ["FORMATS", "render", "write"]


def _dict(report) -> dict:
    return report.to_dict() if hasattr(report, "to_dict") else report


def _document(report) -> dict:
    """What the formats that read rows column by column take: a Report's to_dict() up to its rows,
    with its Row objects as the rows (no dict per row, nor by_op before a format needs it)."""
    from modelaudit.costs.report import Report

    return report.head() | {"rows": report.rows} if isinstance(report, Report) else _dict(report)


def _lazy(module: str, function: str, rows: bool = False):
    """A renderer imported when first called: a report imports only the format it writes. With
    `rows` it reads a Report's Row objects themselves (see _document)."""

    def call(report, *args, **kwargs):
        d = _document(report) if rows else _dict(report)
        return getattr(import_module(f"{__name__}.{module}"), function)(d, *args, **kwargs)

    call.__name__ = function
    return call


FORMATS = {
    "text": _lazy("text", "render_text", rows=True),
    "markdown": _lazy("markdown", "render_markdown", rows=True),
    "json": _lazy("json", "render_json", rows=True),
    "jsonl": _lazy("json", "render_jsonl", rows=True),
    "csv": _lazy("csv", "render_csv", rows=True),
    "html": _lazy("html", "render_html"),
}


def render(report, fmt: str = "text", sort: str | None = None, top: int | None = None, by: str = "node", **view) -> str:
    """`report` (a Report or its to_dict()) in format `fmt`, with the command line's `sort`, `top`
    and `by`. `view` holds what only some formats take: `columns`, `depth` (text, markdown; csv and
    json take `depth`) and `width` (text)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    view = {k: v for k, v in view.items() if v is not None}
    return FORMATS[fmt](report, sort=sort, top=top, by=by, **view)


def write(
    report, stream, fmt: str = "text", sort: str | None = None, top: int | None = None, by: str = "node", **view
) -> None:
    """render()'s text written to `stream`."""
    if fmt in ("json", "jsonl"):
        from .json import write_json

        write_json(
            _document(report), stream, sort=sort, top=top, by=by, one_line=fmt == "jsonl", depth=view.get("depth")
        )
    else:
        stream.write(render(report, fmt, sort=sort, top=top, by=by, **view))
