"""The real-world suite's table: each model's figures beside its oracle's, written as Markdown
(docs/validation.md) when MODELAUDIT_REALWORLD_TABLE names a file. tests/conftest.py wires it in."""

from __future__ import annotations

import os
from pathlib import Path

_ROWS: list[dict] = []


def recorder():
    """Records a model's figures beside its oracle's; with MODELAUDIT_REALWORLD_TABLE=FILE set,
    the session writes them as the Markdown table of docs/validation.md."""

    def record(model: str, source: str, report, params: int | None, macs: int | None) -> None:
        t = report.totals
        _ROWS.append(
            {
                "model": model,
                "source": source,
                "params": t.params,
                "macs": t.macs,
                "complete": t.macs.complete and t.params.complete and not report.uncounted,
                "oracle_params": params,
                "oracle_macs": macs,
            }
        )

    return record


def _cell(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def write_table() -> None:
    target = os.environ.get("MODELAUDIT_REALWORLD_TABLE")
    if not target or not _ROWS:
        return
    lines = [
        "| model | source | params | MACs | oracle params | oracle MACs | difference |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in _ROWS:
        diffs = [
            f"{what} {ours - theirs:+,}"
            for what, ours, theirs in (
                ("params", r["params"], r["oracle_params"]),
                ("MACs", r["macs"], r["oracle_macs"]),
            )
            if theirs is not None and ours != theirs
        ]
        diff = ", ".join(diffs) or "none"
        if not r["complete"]:
            diff += " (incomplete: ≥)"
        lines.append(
            f"| {r['model']} | {r['source']} | {_cell(r['params'])} | {_cell(r['macs'])} | "
            f"{_cell(r['oracle_params'])} | {_cell(r['oracle_macs'])} | {diff} |"
        )
    Path(target).write_text("\n".join(lines) + "\n", encoding="utf-8")
