"""lint: each finding on a small model built to show it, and nothing on the clean samples."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from conftest import SAMPLES, make_model, tensor, vi
from onnx import TensorProto, helper, numpy_helper

import modelaudit
from modelaudit.analyses.findings import CODES, find
from modelaudit.cli.main import main


def codes(model, min_severity="note") -> list[str]:
    from modelaudit.analyses.findings import select

    mg = modelaudit.load(model)
    return [f.code for f in select(find(mg, modelaudit.analyze(mg)), min_severity)]


def _chain(*extra_nodes, inits=(), opset=17, inputs=None, outputs=("y",)):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")] + list(extra_nodes)
    # outputs declare their shape: onnx.checker requires one on graph outputs (MA013)
    return make_model(nodes, inputs or [vi("x", [1, 8])], [vi(o, [1, 8]) for o in outputs], inits, opset=opset)


PLANTED = {
    "MA001": lambda: _chain(helper.make_node("Neg", ["x"], ["unused"], name="dead")),
    "MA002": lambda: _chain(inits=[tensor("orphan", (64,))]),
    "MA003": lambda: make_model(
        [
            helper.make_node("MatMul", ["x", "w1"], ["a"], name="m1"),
            helper.make_node("MatMul", ["a", "w2"], ["y"], name="m2"),
        ],
        [vi("x", [1, 8])],
        [vi("y", [1, 8])],
        [tensor("w1", (8, 8), seed=3), tensor("w2", (8, 8), seed=3)],
    ),
    "MA004": lambda: make_model(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
            helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["y"], name="bn"),
        ],
        [vi("x", [1, 2, 4, 4])],
        [vi("y", None)],
        [tensor("w", (3, 2, 1, 1))] + [tensor(n, (3,), seed=i) for i, n in enumerate("sbmv")],
    ),
    "MA005": lambda: _chain(helper.make_node("Identity", ["y"], ["z"], name="id"), outputs=("z",)),
    "MA006": lambda: make_model(
        [
            helper.make_node("MatMul", ["x", "w16"], ["a"], name="m16"),
            helper.make_node("MatMul", ["a", "w16b"], ["b"], name="m16b"),
            helper.make_node("Cast", ["b"], ["bf"], to=TensorProto.FLOAT, name="cast"),
            helper.make_node("MatMul", ["bf", "w32"], ["y"], name="m32"),
        ],
        [vi("x", [1, 8], TensorProto.FLOAT16)],
        [vi("y", None)],
        [
            tensor("w16", (8, 8), np.float16),
            tensor("w16b", (8, 8), np.float16, seed=1),
            tensor("w32", (8, 8), np.float32),
        ],
    ),
    "MA007": lambda: make_model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")],
        [vi("x", [4], TensorProto.DOUBLE)],
        [vi("y", None, TensorProto.DOUBLE)],
    ),
    "MA008": lambda: make_model(
        [helper.make_node("Neg", ["a"], ["y"], name="second"), helper.make_node("Relu", ["x"], ["a"], name="first")],
        [vi("x", [2])],
        [vi("y", None)],
    ),
    "MA009": lambda: make_model(
        [
            helper.make_node(
                "Constant", [], ["w"], name="big", value=numpy_helper.from_array(np.zeros((512, 512), np.float32), "w")
            ),
            helper.make_node("MatMul", ["x", "w"], ["y"], name="mm"),
        ],
        [vi("x", [1, 512])],
        [vi("y", None)],
    ),
    "MA010": lambda: _chain(opset=9),
    "MA011": lambda: _chain(inputs=[vi("x", ["batch", 8])]),
    "MA012": lambda: make_model(
        [helper.make_node("Relu", ["x"], ["a"], name="same"), helper.make_node("Neg", ["a"], ["y"], name="same")],
        [vi("x", [2])],
        [vi("y", None)],
    ),
    # torch's default opset-17 export keeps Split-18's num_outputs attribute (issue 14 item 7)
    "MA013": lambda: make_model(
        [helper.make_node("Split", ["x"], ["a", "b"], axis=1, num_outputs=2, name="split")],
        [vi("x", [1, 4])],
        [vi("a", [1, 2]), vi("b", [1, 2])],
        opset=17,
    ),
    "MA014": lambda: _false_annotation(),
    "MA015": lambda: _missing_data(),
}


def _false_annotation():
    """Relu of x [1, 8] annotated [1, 7], then Add with x: onnx keeps the annotation, the Add breaks."""
    model = make_model(
        [
            helper.make_node("Relu", ["x"], ["r"], name="relu"),
            helper.make_node("Add", ["r", "x"], ["s"], name="add"),
            helper.make_node("Neg", ["s"], ["y"], name="neg"),
        ],
        [vi("x", [1, 8])],
        [vi("y", [1, 8])],
    )
    model.graph.value_info.append(vi("r", [1, 7]))
    return model


def _missing_data():
    """A model whose external-data file is gone: its path, in a fresh temporary folder."""
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "m.onnx"
    model = make_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [1, 8])], [vi("y", [1, 4])], [tensor("w", (8, 4))]
    )
    onnx.save(model, path, save_as_external_data=True, location="m.data", size_threshold=0)
    (path.parent / "m.data").unlink()
    return path


@pytest.mark.parametrize("code", sorted(CODES))
def test_each_planted_problem_is_found(code):
    assert code in codes(PLANTED[code]())


DYNAMIC = "transformer_block.onnx"  # batch and seq left symbolic on purpose


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.onnx") if p.name != DYNAMIC))
def test_clean_samples_show_nothing(sample, capsys):
    assert main(["lint", str(SAMPLES / sample)]) == 0
    assert capsys.readouterr().out == "0 finding(s)\n"


def test_a_symbolic_batch_is_a_note_that_strict_lint_passes(capsys, tmp_path):
    path = tmp_path / "dynamic.onnx"
    onnx.save(PLANTED["MA011"](), path)
    assert main(["lint", str(path), "--fail-on", "warning"]) == 0
    assert capsys.readouterr().out == "0 finding(s)\n"
    assert main(["lint", str(path), "--min-severity", "note"]) == 0
    assert "MA011 note: x: input 'x' has batch left symbolic" in capsys.readouterr().out
    assert main(["report", str(path)]) == 0
    assert "1 note(s) (MA011 ×1)" in capsys.readouterr().out
    assert main(["report", str(path), "--symbolic", "--format", "json"]) == 0
    assert [f["code"] for f in json.loads(capsys.readouterr().out)["findings"]] == []  # batch is a variable there


def test_dynamic_sample_only_names_its_symbolic_dims():
    mg = modelaudit.load(SAMPLES / DYNAMIC)
    found = find(mg, modelaudit.analyze(mg))
    assert sorted((f.code, f.message.split(" has ")[1].split()[0]) for f in found) == [
        ("MA011", "batch"),
        ("MA011", "seq"),
    ]


def test_waste_is_quantified():
    mg = modelaudit.load(PLANTED["MA002"]())
    (finding,) = [f for f in find(mg, modelaudit.analyze(mg)) if f.code == "MA002"]
    assert finding.wasted_bytes == 64 * 4
    mg = modelaudit.load(PLANTED["MA004"]())
    (finding,) = [f for f in find(mg, modelaudit.analyze(mg)) if f.code == "MA004"]
    assert "saves" in finding.message and finding.wasted_bytes == 4 * (4 * 3 - 3)  # the conv gains a bias


def test_fail_on_ignore_and_sarif(capsys, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(PLANTED["MA005"](), path)
    assert main(["lint", str(path)]) == 0  # a warning does not fail by default (--fail-on error)
    assert "MA005 warning: id:" in capsys.readouterr().out
    assert main(["lint", str(path), "--fail-on", "warning"]) == 1
    capsys.readouterr()
    assert main(["lint", str(path), "--fail-on", "warning", "--ignore", "MA005"]) == 0
    capsys.readouterr()
    assert main(["lint", str(path), "--format", "sarif"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["version"] == "2.1.0" and s["runs"][0]["tool"]["driver"]["name"] == "modelaudit"
    assert [r["ruleId"] for r in s["runs"][0]["results"]] == ["MA005"]
    assert main(["lint", str(path), "--ignore", "MA999"]) == 2


def test_findings_appear_in_every_report_format(capsys, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(PLANTED["MA002"](), path)
    for fmt, needle in (
        ("text", "MA002 warning: orphan"),
        ("markdown", "MA002 warning: orphan"),
        ("json", '"code": "MA002"'),
        ("csv", ",orphan,MA002,"),
    ):
        assert main(["report", str(path), "--format", fmt]) == 0
        assert needle in capsys.readouterr().out, fmt


def test_duplicate_weights_found_in_a_file_whose_weights_stayed_on_disk(tmp_path, capsys, monkeypatch):
    from modelaudit.load import reader

    monkeypatch.setattr(reader, "WHOLE_BYTES", 0)  # weights stay in files of any size
    path = tmp_path / "dup.onnx"
    onnx.save(PLANTED["MA003"](), path)
    mg = modelaudit.load(path)
    assert mg.weights_in_file is not None  # the weights' bytes were not read to count
    assert main(["lint", str(path)]) == 0
    assert "MA003 warning: w2: holds the same 8x8 float32 bytes as 'w1'" in capsys.readouterr().out


def _branch_reading(outer: str, tag: str):
    node = helper.make_node("Neg", [outer], [f"{tag}_y"], name=f"{tag}_neg")
    return helper.make_graph([node], tag, [], [vi(f"{tag}_y", None)])


def test_a_node_only_a_subgraph_reads_is_not_dead():
    """A TensorFlow export: the Relu's output is read only inside the If's branches (an implicit
    input of the If), so the Relu is alive, runs before the If, and lives until it."""
    nodes = [
        helper.make_node(
            "If",
            ["cond"],
            ["y"],
            name="choose",
            then_branch=_branch_reading("r", "then"),
            else_branch=_branch_reading("r", "else"),
        ),
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
    ]  # after its reader in the file
    model = make_model(nodes, [vi("cond", [], TensorProto.BOOL), vi("x", [1, 8])], [vi("y", None)])
    assert "MA001" not in codes(model)
    mg = modelaudit.load(model)
    assert [mg.nodes[i].name for i in mg.order] == ["relu", "choose"]
    report = modelaudit.analyze(mg)
    # after the Relu: cond (1 byte), x and r (32 bytes each); x is freed, then the If adds y
    # beside r and cond. Walked in file order, the If came first and r piled onto x, y and cond.
    assert report.totals.peak_activation_bytes == 1 + 1 * 8 * 4 + 1 * 8 * 4


def test_unused_initializers_with_and_without_subgraphs():
    # flat: the names read come from the load's node records; with a subgraph, from the walk of
    # every body (a weight read only inside a branch is used)
    flat = make_model(
        [helper.make_node("Add", ["x", "w"], ["y"], name="add")],
        [vi("x", [8])],
        [vi("y", [8])],
        [tensor("w", (8,)), tensor("orphan", (2, 3))],
    )
    mg = modelaudit.load(flat)
    unused = [f for f in find(mg, modelaudit.analyze(mg)) if f.code == "MA002"]
    assert [(f.target, f.wasted_bytes) for f in unused] == [("orphan", 2 * 3 * 4)]
    then = helper.make_graph([helper.make_node("Add", ["x", "w"], ["t"])], "then", [], [vi("t", [8])])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [], [vi("e", [8])])
    branch = make_model(
        [helper.make_node("If", ["c"], ["y"], name="if", then_branch=then, else_branch=other)],
        [vi("x", [8]), vi("c", [], TensorProto.BOOL)],
        [vi("y", [8])],
        [tensor("w", (8,)), tensor("orphan", (2, 3))],
    )
    mg = modelaudit.load(branch)
    assert [f.target for f in find(mg, modelaudit.analyze(mg)) if f.code == "MA002"] == ["orphan"]
