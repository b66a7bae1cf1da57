"""The check that every view of a model's blocks groups as `report --depth`'s tree does: compare's
blocks, the flat `--sort` listing and the HTML chart and layer rows (tests/analyses/test_block_views.py
on built graphs, tests/realworld/test_blocks.py on shipped files)."""

from __future__ import annotations

import html
import json
import re

from modelaudit.cli.main import main
from modelaudit.figures import Figure, rank

__all__ = ["check_block_views", "cli_json", "own_blocks"]

FIELDS = ("params", "macs", "flops", "nodes")


def cli_json(capsys, *argv) -> dict:
    assert main([*argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _number(value):
    """A group's sum as a number: JSON writes MACs and FLOPs as {"value", "bound"} (schema 2); the
    partition below is taken of exact sums (None where one is not)."""
    if isinstance(value, dict):
        return value["value"] if value["bound"] == "exact" else None
    return value


def own_blocks(tree: list[dict]) -> dict[str, dict]:
    """The tree's blocks as a partition: each block's own nodes, its subtotal less its children's."""
    own = {b["path"]: {k: _number(b[k]) for k in FIELDS} for b in tree}
    for b in tree:
        if b["level"] > 1:
            parent = b["path"].rpartition("/")[0]
            for k in FIELDS:
                own[parent][k] -= _number(b[k])
    return {path: g for path, g in own.items() if g["nodes"]}


def _no_unknown(g: dict) -> dict:
    return {k: _number(g[k]) for k in FIELDS}


def check_block_views(path: str, tmp_path, capsys, args: tuple = (), depths=(1, 2, 3)) -> None:
    """compare's blocks, the flat listing and the HTML chart and rows at each depth are the
    partition of `report --depth`'s tree (`args`: --input/--dim the model needs)."""
    capsys.readouterr()  # what came before (an exporter's progress lines) is not ours to parse
    for depth in depths:
        tree = cli_json(capsys, "report", path, *args, "--depth", str(depth))["blocks"]
        compared = cli_json(capsys, "compare", path, path, *args, "--by", "block", "--depth", str(depth))["blocks"]
        blocks = {b["block"]: b["values"][0] for b in compared}
        assert {p: _no_unknown(g) for p, g in blocks.items()} == own_blocks(tree)
        assert main(["report", path, *args, "--depth", str(depth), "--sort", "macs", "--wide"]) == 0
        listed = capsys.readouterr().out.split("\n\n")[1].splitlines()[2:]
        assert sorted(line.split()[0] for line in listed) == sorted(blocks)
    out = tmp_path / "report.html"
    assert main(["report", path, *args, "--format", "html", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    charted = [html.unescape(f) for f in re.findall(r'data-filter="block=([^"]*)"', page)]
    compared = cli_json(capsys, "compare", path, path, *args, "--depth", "2")["blocks"]
    blocks = {b["block"]: b["values"][0] for b in compared}
    # the chart: the 30 dearest that cost anything (an unknown cost after the known, before the zeros)
    shown = sorted(blocks, key=lambda p: rank(Figure.from_dict(blocks[p]["macs"])))
    assert sorted(charted) == sorted(
        [p for p in shown if blocks[p]["macs"]["value"] or blocks[p]["params"] or blocks[p]["unknown"]][:30]
    )
    rows = re.findall(r'data-name="([^"]*)" data-op="[^"]*" data-block="([^"]*)"', page)
    report = cli_json(capsys, "report", path, *args)
    by_name = {r["name"]: "/".join(r["module"].split("/")[:2]) or "(top level)" for r in report["rows"]}
    assert rows and all(by_name[html.unescape(n)] == html.unescape(b) for n, b in rows)
