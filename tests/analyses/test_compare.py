"""compare: the sample MobileNets side by side, with exact totals."""

from __future__ import annotations

import json

import pytest
from builders import loop_model
from conftest import SAMPLES, make_model, tensor, vi
from onnx import helper

import modelaudit
from modelaudit.cli.main import main
from modelaudit.costs import blocks
from modelaudit.costs.blocks import block_of
from modelaudit.costs.rows import Rows
from modelaudit.figures import Figure, rank
from modelaudit.graph.links import NodeView
from modelaudit.graph.modules import module_paths

V1, V2 = str(SAMPLES / "mobilenet_v1.onnx"), str(SAMPLES / "mobilenet_v2.onnx")


def test_block_names_follow_exporter_scopes():
    """A node's block at each depth is its module path cut there, named by the whole path."""
    module = _modules(["/features/features.3/conv/conv.1/conv.1.0/Conv"])[0]
    assert module == "features/features.3/conv/conv.1/conv.1.0"
    assert [block_of(module, d) for d in (1, 2, 3)] == ["features", "features/features.3", "features/features.3/conv"]
    assert block_of(_modules(["Conv_0"])[0], 2) == "(top level)"
    assert block_of(_modules(["/fc/Gemm"])[0], 3) == "fc"


def _modules(names: list[str], producer: str = "") -> list[str]:
    views = [NodeView(helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"], name=n)) for i, n in enumerate(names)]
    return module_paths(views, producer)


# "/a/b/" drops "b" as its op's segment where "/a/b/Relu" keeps it: a cache keyed by what precedes
# the last '/' must not serve one for the other, in either order
ODD_NAMES = [
    "/a/b/Relu",
    "/a/b/",
    "/a/b/Relu_1",
    "a//b//Relu",
    "//a/b/",
    "/a/b//",
    "noslash",
    "",
    "/",
    "//",
    "/a/",
    "a/b",
    "a/b/",
    "/a/b/c/d/e/Relu",
    "/x//y/Tanh",
    "x/y",
    "/x/y/",
    "///",
    "/a/b/MatMul",
]


def test_module_paths_of_every_odd_name():
    """Cached per scope prefix, each name's module is still its segments but the last (the op's),
    in either order of the names; a subgraph's rows are in their parent's module."""
    for names in (ODD_NAMES, ODD_NAMES[::-1]):
        assert _modules(names) == ["/".join([p for p in n.split("/") if p][:-1]) for n in names]
    report = modelaudit.audit(_odd_scopes_model(), findings=False)
    rows, modules = report.rows, report.columns().column("module")
    loop = next(m for r, m in zip(rows, modules) if r.op == "Loop")
    assert loop == "a/b/loop" and {m for r, m in zip(rows, modules) if r.scope} == {"a/b/loop"}
    for depth in (1, 2, 3, 5):
        assert blocks.block_names(report.columns(), depth) == [block_of(m, depth) for m in modules]


def _odd_scopes_model():
    """Odd names, a depthwise and a dense Conv, a node without a rule (unknown MACs), data movement
    and a Loop run 4 times whose body rows carry a scope and runs 4."""
    convs = [
        helper.make_node("Conv", ["x", "wd"], ["c0"], name="/a/b/Conv", group=4),
        helper.make_node("Conv", ["c0", "w1"], ["c1"], name="a//b//Conv"),
    ]
    relus = [helper.make_node("Relu", [f"r{i}"], [f"r{i + 1}"], name=n) for i, n in enumerate(ODD_NAMES)]
    relus[0].input[0] = "c1"
    rest = [
        helper.make_node("NoSuchOp", [f"r{len(ODD_NAMES)}"], ["u"], name="/a/c/NoSuchOp", domain="custom.domain"),
        helper.make_node("Flatten", ["u"], ["y"], name="/a/c/Flatten"),
        helper.make_node(
            "Loop", ["M", "", "h0"], ["h_final"], name="/a/b/loop/Loop", body=loop_model(4).graph.node[0].attribute[0].g
        ),
    ]
    model = make_model(
        convs + relus + rest,
        [vi("x", [1, 4, 8, 8]), vi("h0", [1, 8])],
        [vi("y", None), vi("h_final", None)],
        [
            tensor("wd", (4, 1, 3, 3)),
            tensor("w1", (8, 4, 1, 1)),
            tensor("w", (8, 8)),
            *[t for t in loop_model(4).graph.initializer if t.name == "M"],
        ],
    )
    model.opset_import.append(helper.make_opsetid("custom.domain", 1))
    return model


def _row_sets():
    odd = modelaudit.audit(_odd_scopes_model(), findings=False)
    v2 = modelaudit.audit(V2, findings=False)
    assert {r.runs for r in odd.rows} == {1, 4} and None in {r.macs for r in odd.rows}  # both column paths
    assert {blocks.family_of(r) for r in odd.to_dict()["rows"]} >= {"Conv (depthwise)", "Conv (dense)", "other"}
    return [odd.columns(), Rows.from_dicts(odd.to_dict()["rows"]), v2.columns(), Rows.from_dicts(v2.to_dict()["rows"])]


def _groupings(rows, depth):
    return {
        "by_block": list(blocks.by_block(rows, depth).values()),
        "by_family": list(blocks.by_family(rows).values()),
        "scope_tree": blocks.scope_tree(rows, depth),
        "families_and_blocks": [g for d in blocks.families_and_blocks(rows, depth) for g in d.values()],
    }


@pytest.mark.parametrize("field, value", [("ms", 0.0), ("backward_macs", 0)])
def test_plain_sums_equal_add_for_every_grouping(field, value):
    """Rows with neither --profile's times nor --training's backward MACs are summed without _add;
    with either on every row, _add sums them. A group's dict differs only by that one last key,
    in the same key order, for every block, family and scope, at every depth."""
    for rows in _row_sets():
        assert blocks._plain(rows)
        marked = rows.with_column(field, [value] * len(rows))
        assert not blocks._plain(marked)
        for depth in (1, 2, 3):
            plain, general = _groupings(rows, depth), _groupings(marked, depth)
            assert plain.keys() == general.keys()
            for name in plain:
                # a group's backward MACs are a Figure, unknown where some of its forward MACs are
                expected = [
                    list(g.items()) + [(field, value if field == "ms" else Figure.of(value, not g["unknown"]))]
                    for g in plain[name]
                ]
                assert [list(g.items()) for g in general[name]] == expected
            assert list(blocks.by_block(rows, depth)) == list(blocks.by_block(marked, depth))
            assert [g["path"] for g in plain["scope_tree"]] == [g["path"] for g in general["scope_tree"]]


def test_symbolic_groups_sum_the_same_numbers_as_plain_ones():
    """--symbolic's rows carry polynomials (summed by _add and _finish): their groups hold the same
    plain sums as the rows without them, in the same order, plus `formulas`."""
    d = modelaudit.audit(SAMPLES / "transformer_block.onnx", symbolic=True, findings=False).to_dict()
    d["rows"] = Rows.from_dicts(d["rows"])
    with_formulas = blocks.formula_rows(d)
    assert not blocks._plain(with_formulas) and blocks._plain(d["rows"])
    for depth in (1, 2):
        plain, general = _groupings(d["rows"], depth), _groupings(with_formulas, depth)
        for name in plain:
            assert [list(g.items()) for g in plain[name]] == [
                [kv for kv in g.items() if kv[0] != "formulas"] for g in general[name]
            ]
            assert all("formulas" in g for g in general[name])


def test_by_op_sums_equal_the_row_by_row_sums():
    """by_op without polynomials sums each op's row numbers at once; row by row (the --symbolic
    path) gives the same groups, keys in the same order, on rows with unknown MACs and runs of 4."""
    for rows in _row_sets():
        expected = sorted(blocks._by_op_each(rows).values(), key=lambda g: (rank(g["macs"]), g["op"]))
        assert [list(g.items()) for g in blocks.by_op(rows)] == [list(g.items()) for g in expected]
        assert any(not g["macs"].complete for g in expected) or len(rows) > 100


def test_families_are_family_of_each_row():
    for rows in _row_sets():
        assert blocks.families(rows) == [blocks.family_of(r) for r in rows.dicts()]


def test_compare_json_totals_are_exact(capsys):
    assert main(["compare", V1, V2, "--format", "json", "--by", "all"]) == 0
    c = json.loads(capsys.readouterr().out)
    totals = {t["metric"]: t for t in c["totals"]}
    assert totals["params"]["values"] == [{"value": v, "bound": "exact"} for v in (4_231_976, 3_504_872)]
    assert totals["macs"]["values"] == [{"value": v, "bound": "exact"} for v in (568_740_352, 300_774_272)]
    assert totals["macs"]["ratio"][1] == pytest.approx(300_774_272 / 568_740_352)
    assert totals["macs"]["delta"][1] == 300_774_272 - 568_740_352
    families = {f["family"]: f["values"] for f in c["families"]}
    v1, v2 = (modelaudit.audit(p) for p in (V1, V2))
    for i, report in enumerate((v1, v2)):
        depthwise = sum(r.macs for r in report.rows if r.op == "Conv" and r.details.get("conv") == "depthwise")
        assert families["Conv (depthwise)"][i]["macs"] == {"value": depthwise, "bound": "exact"}
    assert sum(f[1]["macs"]["value"] for f in families.values() if f[1]) == 300_774_272
    blocks = {b["block"]: b["values"] for b in c["blocks"]}  # matched by their full path between the models
    v1_f3 = sum(r.macs for r in v1.rows if "/features.3/" in r.name)
    assert blocks["features/features.3"][0]["macs"] == {"value": v1_f3, "bound": "exact"}
    v2_f3 = sum(r.macs for r in v2.rows if "/features.3/" in r.name)
    assert blocks["features/features.3"][1]["macs"] == {"value": v2_f3, "bound": "exact"}
    assert blocks["features/features.17"][0] is None
    assert blocks["classifier/classifier.1"][0]["params"] == 1024 * 1000 + 1000


def test_compare_markdown_shows_where_v2_saves(capsys):
    assert main(["compare", V1, V2, "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| MACs             | 568.7 M        | 300.8 M (×0.53, −268.0 M)   |" in out
    assert "| Conv (dense)     | 550.3 M             | 278.8 M" in out


def test_compare_needs_two_models(capsys):
    assert main(["compare", V1]) == 2
    assert capsys.readouterr().err.strip() == "modelaudit: error: compare needs two or more models"


def test_compare_takes_a_folder_as_report_does(capsys, tmp_path):
    """A directory expands to the .onnx files below it, sorted, as `report DIR` does."""
    import shutil

    (tmp_path / "b").mkdir()
    shutil.copy(V1, tmp_path / "b")
    shutil.copy(V2, tmp_path)
    assert main(["compare", str(tmp_path), "--format", "json"]) == 0
    by_folder = json.loads(capsys.readouterr().out)
    assert [m["path"] for m in by_folder.pop("models")] == [
        str(tmp_path / "b" / "mobilenet_v1.onnx"),
        str(tmp_path / "mobilenet_v2.onnx"),
    ]  # sorted
    assert main(["compare", V2, V1, "--format", "json"]) == 0
    by_files = json.loads(capsys.readouterr().out)
    assert by_files.pop("models") and by_files != by_folder  # the order matters: the first is the reference
    assert main(["compare", V1, V2, "--format", "json"]) == 0
    by_files = json.loads(capsys.readouterr().out)
    assert by_files.pop("models") and by_files == by_folder
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty"), V1]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"modelaudit: error: {tmp_path / 'empty'}: a directory with no .onnx file in it"
    )
    assert main(["compare", str(tmp_path / "b")]) == 2  # one model, however it was named
    assert capsys.readouterr().err.strip() == "modelaudit: error: compare needs two or more models"


def _dynamic_batch_v2(tmp_path):
    import onnx

    model = onnx.load(V2)
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    path = tmp_path / "v2_dynamic.onnx"
    onnx.save(model, path)
    return str(path)


def test_an_unknown_total_is_never_compared_as_zero(capsys, tmp_path):
    dynamic = _dynamic_batch_v2(tmp_path)
    assert main(["compare", V2, dynamic]) == 0
    out = capsys.readouterr().out
    macs = next(line for line in out.splitlines() if line.startswith("MACs "))
    assert macs.split() == ["MACs", "300.8", "M", "?"]  # not "0 (×0.00, −300.8 M)"
    assert (
        "v2_dynamic: the totals marked ? (unknown) or ≥ (partly known) depend on unresolved sizes or uncounted "
        "ops; resolve with --dim batch=N" in out
    )
    assert main(["compare", V2, dynamic, "--format", "json"]) == 0
    totals = {t["metric"]: t for t in json.loads(capsys.readouterr().out)["totals"]}
    assert totals["macs"]["values"] == [{"value": 300_774_272, "bound": "exact"}, {"value": None, "bound": "unknown"}]
    assert totals["macs"]["ratio"] == [1.0, None]
    assert totals["params"]["values"] == [{"value": 3_504_872, "bound": "exact"}] * 2  # never shape-dependent
    assert main(["compare", V2, dynamic, "--dim", "batch=2", "--format", "json"]) == 0
    totals = {t["metric"]: t for t in json.loads(capsys.readouterr().out)["totals"]}
    assert totals["macs"]["values"] == [{"value": v, "bound": "exact"} for v in (300_774_272, 2 * 300_774_272)]


def test_report_totals_of_a_symbolic_batch_say_unknown_and_how_to_resolve(capsys, tmp_path):
    assert main(["report", _dynamic_batch_v2(tmp_path)]) == 0
    out = capsys.readouterr().out
    totals = dict(line.strip().split("  ", 1) for line in out.split("Totals\n")[1].split("\n\n")[0].splitlines())
    assert totals["MACs"].strip().startswith("unknown: ") and "(resolve with --dim batch=N)" in totals["MACs"]
    assert totals["activation bytes"].strip().startswith("unknown: ")
    assert totals["peak activations"].strip().startswith("unknown: ")
    assert "≥ 0" not in out and " 0 B" not in out


def test_compare_sweep_names_the_model_without_the_dim(capsys):
    block = str(SAMPLES / "transformer_block.onnx")
    assert main(["compare", block, V2, "--sweep", "batch=1,8", "--dim", "seq=16"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"modelaudit: error: {V2}: ") and "no input has a dim named" in err
    assert main(["compare", block, block, "--sweep", "batch=1,8", "--dim", "seq=16"]) == 0
    macs = [line for line in capsys.readouterr().out.splitlines() if "MACs" in line]
    assert len(macs) == 2 and macs[0].split()[-2:] == macs[1].split()[-2:]


def test_compare_sweep_errors_are_one_clean_line(capsys):
    """One line, one parenthesis: a --dim on the swept dim is the flags' fault, not a model's."""
    block = str(SAMPLES / "transformer_block.onnx")
    assert main(["compare", block, V2, "--sweep", "batch=1,8", "--dim", "batch=2"]) == 2
    assert capsys.readouterr().err == (
        "modelaudit: error: --sweep batch=…: --dim batch fixes the dim the sweep varies (drop --dim batch)\n"
    )
    assert main(["compare", block, V2, "--sweep", "batch=1,8", "--dim", "seq=16"]) == 2
    assert capsys.readouterr().err == (
        f"modelaudit: error: {V2}: --sweep batch=1: --dim seq: no input has a dim "
        "named 'seq' (named dims: none; compare --sweep needs the swept dim and each "
        "--dim in every model)\n"
    )
