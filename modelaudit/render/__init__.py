"""Output formats. Each takes Report.to_dict() and view options, and returns a string; `write`
sends a report to a stream (JSON as it is encoded)."""

from __future__ import annotations

from importlib import import_module

__all__ = ["FORMATS", "render", "write"]


def _lazy(module: str, function: str):
    """A renderer imported when first called: a report imports only the format it writes."""
    def call(*args, **kwargs):
        return getattr(import_module(f"{__name__}.{module}"), function)(*args, **kwargs)

    call.__name__ = function
    return call


FORMATS = {"text": _lazy("text", "render_text"), "markdown": _lazy("markdown", "render_markdown"),
           "json": _lazy("json", "render_json"), "jsonl": _lazy("json", "render_jsonl"), "csv": _lazy("csv", "render_csv"),
           "html": _lazy("html", "render_html")}


def render(d: dict, fmt: str = "text", sort: str | None = None, top: int | None = None, by: str = "node",
           **view) -> str:
    """`view` holds what only some formats take: `columns`, `depth` (text, markdown; csv and json take
    `depth`) and `width` (text)."""
    view = {k: v for k, v in view.items() if v is not None}
    return FORMATS[fmt](d, sort=sort, top=top, by=by, **view)


def write(d: dict, stream, fmt: str = "text", sort: str | None = None, top: int | None = None, by: str = "node",
          **view) -> None:
    """render()'s text written to `stream`."""
    if fmt in ("json", "jsonl"):
        from .json import write_json

        write_json(d, stream, sort=sort, top=top, by=by, one_line=fmt == "jsonl", depth=view.get("depth"))
    else:
        stream.write(render(d, fmt, sort=sort, top=top, by=by, **view))
