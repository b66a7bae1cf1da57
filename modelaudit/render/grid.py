"""Tables as text, written column by column: tabulate's "simple" and "github" formats (strings
left-aligned, a header padded by 2), in linear time, keeping a tree's leading spaces."""

from __future__ import annotations

from itertools import repeat

__all__ = ["plain_columns", "plain_table"]


def plain_table(cells: list[list], headers: list[str], tablefmt: str = "simple") -> str:
    """plain_columns() of a table given row by row."""
    return plain_columns(
        [list(c) for c in zip(*cells)] if cells else [[] for _ in headers], headers, tablefmt, len(cells)
    )


def _padded(texts: list[list[str]], headers: list[str], last: bool) -> tuple[list[int], list[list[str]]]:
    """Each column's width (its header padded by 2, as tabulate's MIN_PADDING) and its cells padded
    to it (the last column's only when `last`)."""
    widths, padded = [], []
    for i, (header, cells) in enumerate(zip(headers, texts)):
        distinct = set(cells) if len(set(cells[:1000])) * 4 < min(len(cells), 1000) else None
        widths.append(max(len(header) + 2, max(map(len, distinct or cells), default=0)))
        if i == len(texts) - 1 and not last:
            padded.append(cells)
        elif distinct is not None:  # a column of few values (ops, shapes, figures): each padded once
            pad = {text: text.ljust(widths[-1]) for text in distinct}
            padded.append(list(map(pad.__getitem__, cells)))
        else:
            padded.append(list(map(str.ljust, cells, repeat(widths[-1]))))
    return widths, padded


def plain_columns(columns: list[list], headers: list[str], tablefmt: str = "simple", rows: int | None = None) -> str:
    """A table given column by column (a list per column; `rows` counts its rows when there is no
    column) in tabulate's "simple" or "github" format: each column made text and padded whole, each
    line joined in C."""
    texts = [c if set(map(type, c)) <= {str} else list(map(str, c)) for c in columns]
    github = tablefmt == "github"
    widths, padded = _padded(texts, headers, last=github)
    if github:
        lines = map(" | ".join, zip(*padded)) if texts else repeat("", rows or 0)
        head = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |"]
        return "\n".join(
            head + ["|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [f"| {line} |" for line in lines]
        )
    # "simple": lines right-stripped, so the last column needs no padding
    lines = map(str.rstrip, map("  ".join, zip(*padded))) if texts else repeat("", rows or 0)
    return "\n".join(
        ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), "  ".join("-" * w for w in widths)]
        + list(lines)
    )
