"""docs/worked-examples.md stays true: every console block is re-run and must match exactly.

`python tests/test_worked_examples.py --update` rewrites the blocks from the tool's output."""

from __future__ import annotations

import io
import os
import re
import shlex
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "worked-examples.md"
BLOCK = re.compile(r"```console\n\$ modelaudit (?P<cmd>[^\n]+)\n(?P<out>.*?)```", re.S)


def run(cmd: str) -> str:
    from modelaudit.cli.main import main

    buf = io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with redirect_stdout(buf):
            code = main(shlex.split(cmd))
    finally:
        os.chdir(cwd)
    assert code == 0, cmd
    return buf.getvalue()


def blocks() -> list[tuple[str, str]]:
    return [(m["cmd"], m["out"]) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("cmd,expected", blocks(), ids=[c for c, _ in blocks()])
def test_console_block_matches_the_tool(cmd, expected):
    assert run(cmd) == expected, "regenerate with: python tests/test_worked_examples.py --update"


def test_the_course_answers_are_quoted():
    text = DOC.read_text(encoding="utf-8")
    for figure in (
        "3,584",
        "2,709,504",
        "322,224",
        "1,975,680",
        "K = 10",
        "20,908,800",
        "2,560",
        "12,000",
        "20,000",
        "42,500",
    ):
        assert figure in text


if __name__ == "__main__" and "--update" in sys.argv:
    sys.path.insert(0, str(ROOT))
    text = DOC.read_text(encoding="utf-8")
    DOC.write_text(
        BLOCK.sub(lambda m: f"```console\n$ modelaudit {m['cmd']}\n{run(m['cmd'])}```", text), encoding="utf-8"
    )
    print(f"updated {DOC}")
