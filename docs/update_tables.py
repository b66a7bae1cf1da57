"""Rewrites the generated op table in docs/conventions.md from the rule registry.

Run `python docs/update_tables.py` after adding or changing a rule; tests/test_docs.py fails
while the doc and the registry disagree.
"""

from __future__ import annotations

from pathlib import Path

from modelaudit.costs.rules import markdown_formula_table

DOC = Path(__file__).resolve().parent / "conventions.md"
START, END = "<!-- ops-table:start -->", "<!-- ops-table:end -->"


def updated(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{markdown_formula_table()}{END}{tail}"


if __name__ == "__main__":
    DOC.write_text(updated(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"updated {DOC}")
