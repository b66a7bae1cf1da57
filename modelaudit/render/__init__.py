"""Output formats. Each takes a Report (or its to_dict()) and view options, and returns a string;
`write` sends a report to a stream (JSON as it is encoded)."""

from __future__ import annotations

from importlib import import_module

__all__ = ["FORMATS", "render", "write", "document"]


def document(report) -> dict:
    """What every format reads: a Report's document() (its rows as `Rows`, no dict per row), or a
    to_dict() document with its rows read the same way."""
    from modelaudit.costs.report import Report, Rows

    if isinstance(report, Report):
        return report.document()
    return report | {"rows": Rows.from_dicts(report["rows"])}


def _lazy(module: str, function: str):
    """A renderer imported when first called: a report imports only the format it writes."""

    def call(report, *args, **kwargs):
        return getattr(import_module(f"{__name__}.{module}"), function)(document(report), *args, **kwargs)

    call.__name__ = function
    return call


FORMATS = {
    "text": _lazy("text", "render_text"),
    "markdown": _lazy("markdown", "render_markdown"),
    "json": _lazy("json", "render_json"),
    "jsonl": _lazy("json", "render_jsonl"),
    "csv": _lazy("csv", "render_csv"),
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
            document(report), stream, sort=sort, top=top, by=by, one_line=fmt == "jsonl", depth=view.get("depth")
        )
    else:
        stream.write(render(report, fmt, sort=sort, top=top, by=by, **view))
