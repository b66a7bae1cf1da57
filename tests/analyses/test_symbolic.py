"""--symbolic and --sweep: exact polynomials, equal to concrete audits at every point tried."""

from __future__ import annotations

import json

import onnx
import pytest
from builders import attention_block as _attention_block
from builders import saved as _save
from conftest import SAMPLES, flatten_then_matmul, make_model, tensor, vi
from onnx import helper

import modelaudit
from modelaudit.analyses.symbolic import analyse, fit_grid
from modelaudit.cli.main import main


def _check_against_concrete(model, analysis, points):
    for values in points:
        report = modelaudit.audit(model, dims=values)
        assert analysis["totals"]["macs"](values) == report.totals.macs, values
        assert analysis["totals"]["flops"](values) == report.totals.flops, values
        assert analysis["totals"]["activation_bytes"](values) == report.totals.activation_bytes, values
        assert analysis["totals"]["peak_activation_bytes"](values) == report.totals.peak_activation_bytes, values
        for row, fitted in zip(report.rows, analysis["rows"]):
            assert fitted["macs"](values) == row.macs_total, (row.name, values)


def test_cnn_with_a_symbolic_batch():
    model = onnx.load(SAMPLES / "mobilenet_v2.onnx")
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    analysis = analyse(model)
    assert str(analysis["totals"]["macs"]) == "300,774,272·batch"
    _check_against_concrete(model, analysis, [{"batch": b} for b in (1, 5, 16)])


def test_transformer_block_with_symbolic_batch_and_seq():
    model = _attention_block()
    analysis = analyse(model)
    # 4 projections: 4·32·32 per token; Q·Kᵀ and P·V: 2·32 per pair of tokens
    assert str(analysis["totals"]["macs"]) == "4,096·batch·seq + 64·batch·seq²"
    terms = analysis["totals"]["macs"].to_json()["terms"]
    assert {"coefficient": 64, "powers": {"batch": 1, "seq": 2}} in terms
    _check_against_concrete(
        model, analysis, [{"batch": 1, "seq": 9}, {"batch": 3, "seq": 50}, {"batch": 2, "seq": 128}]
    )
    assert any("seq² or faster" in line for line in analysis["dominance"])


def test_lstm_with_a_symbolic_sequence():
    model = onnx.load(SAMPLES / "lstm.onnx")
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "seq"
    for out in model.graph.output:
        out.type.tensor_type.ClearField("shape")
    analysis = analyse(model)
    assert str(analysis["totals"]["macs"]) == f"{4 * 20 * (10 + 20):,}·seq"
    _check_against_concrete(model, analysis, [{"seq": s} for s in (1, 6, 33)])


def test_a_shape_computed_by_division_is_not_polynomial():
    """A stride-2 conv over a symbolic width floors: no formula, and it says so."""
    node = helper.make_node("Conv", ["x", "w"], ["y"], strides=[2, 2])
    model = make_model([node], [vi("x", [1, 3, "h", "w"])], [vi("y", None)], [tensor("w", (8, 3, 3, 3))])
    analysis = analyse(model)
    assert analysis["totals"]["macs"] is None
    code = main(["report", _save(model), "--symbolic"])
    assert code == 0


def test_fit_is_exact_and_refuses_what_is_not_polynomial():
    fits, _ = fit_grid(("n",), lambda v: [7 * v["n"] ** 3 - 2 * v["n"] + 5, v["n"] // 2, 2 ** v["n"]])
    assert str(fits[0]) == "5 + -2·n + 7·n³".replace("+ -", "− ") and fits[1] is None and fits[2] is None


def test_cli_symbolic_json_and_sweep(capsys):
    path = _save(_attention_block())
    assert main(["report", path, "--symbolic", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["symbolic"]["totals"]["macs"]["text"] == "4,096·batch·seq + 64·batch·seq²"
    assert main(["report", path, "--sweep", "seq=128,512,2048", "--dim", "batch=1", "--format", "json"]) == 0
    s = json.loads(capsys.readouterr().out)
    for column, seq in zip(s["totals"], (128, 512, 2048)):
        assert column["macs"] == {"value": 4096 * seq + 64 * seq * seq, "bound": "exact"}
        assert modelaudit.audit(path, dims={"batch": 1, "seq": seq}).totals.macs == 4096 * seq + 64 * seq * seq
    assert main(["compare", path, path, "--sweep", "batch=1,8", "--dim", "seq=16"]) == 0
    assert "batch=8" in capsys.readouterr().out


def test_no_symbolic_dim_is_a_usage_error(capsys):
    code = main(["report", str(SAMPLES / "conv3x3.onnx"), "--symbolic"])
    assert code == 2 and "no symbolic input dim left to vary" in capsys.readouterr().err
    code = main(["report", str(SAMPLES / "conv3x3.onnx"), "--sweep", "batch=x"])
    assert code == 2


def test_exporters_annotations_do_not_break_the_polynomial():
    """torch's dynamo exporter annotates intermediate tensors with names such as unk__88 for
    batch·seq: before every annotation took the fixed dims, each audit of the grid left the
    MatMul unresolved and --symbolic said "not a polynomial"."""
    model = flatten_then_matmul("unk__88")
    analysis = analyse(model)
    assert str(analysis["totals"]["macs"]) == "32·batch·seq"  # (batch·seq) rows × 8 × 4
    _check_against_concrete(model, analysis, [{"batch": 2, "seq": 9}, {"batch": 5, "seq": 3}])


def test_sweep_without_the_other_dims_says_unknown_and_names_the_flag(capsys):
    path = _save(_attention_block())
    assert main(["report", path, "--sweep", "seq=128,512"]) == 0  # batch left symbolic
    out = capsys.readouterr().out
    macs = next(line for line in out.splitlines() if line.startswith("MACs "))
    assert macs.split() == ["MACs", "?", "?"]  # was "≥ 0" in every column
    assert "--dim batch=N" in out and "≥ 0" not in out
    assert main(["report", path, "--sweep", "seq=128,512", "--dim", "batch=1"]) == 0
    macs = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("MACs "))
    from modelaudit.units import human

    assert macs.split()[1:] == " ".join(human(4096 * s + 64 * s * s) for s in (128, 512)).split()  # 1.57 M, 18.9 M


def test_sweep_csv_never_writes_an_unknown_total_as_zero(capsys):
    path = _save(_attention_block())
    assert main(["report", path, "--sweep", "seq=128,512", "--format", "csv"]) == 0  # batch left symbolic
    rows = {line.split(",")[0]: line.split(",")[1:] for line in capsys.readouterr().out.splitlines()}
    assert rows["macs"] == ["", ""] and rows["flops"] == ["", ""]  # was "0,0": unknown, not zero
    assert rows["params"] == [str(4 * 32 * 32)] * 2  # params never depend on shapes
    assert main(["report", path, "--sweep", "seq=128,512", "--dim", "batch=1", "--format", "csv"]) == 0
    rows = {line.split(",")[0]: line.split(",")[1:] for line in capsys.readouterr().out.splitlines()}
    assert rows["macs"] == [str(4096 * s + 64 * s * s) for s in (128, 512)]


def test_sweep_with_symbolic_is_refused(capsys):
    path = _save(_attention_block())
    assert main(["report", path, "--sweep", "seq=128,512", "--symbolic"]) == 2
    assert "--sweep prints one column per value and takes none of --symbolic" in capsys.readouterr().err


def test_peak_is_a_maximum_of_polynomials_checked_where_it_changes():
    """Bytes live per step of the attention block (batch 1, s = seq, float32 [s, 32] = 128·s bytes):
    x, q, k, v: 512·s; at Q·Kᵀ q, v, kᵀ and the s×s scores: 384·s + 4·s²; at Softmax v, scores and
    p: 128·s + 8·s². The peak is their maximum, never one polynomial."""
    model = _attention_block()
    analysis = analyse(model)
    peak = analysis["totals"]["peak_activation_bytes"]
    assert str(peak) == "max(512·batch·seq, 128·batch·seq + 8·batch·seq², 384·batch·seq + 4·batch·seq²)"
    # 512·s = 384·s + 4·s² at s = 32; 384·s + 4·s² = 128·s + 8·s² at s = 64
    assert [(a, b) for a, b, _ in analysis["peak_ranges"]["seq"]] == [(1, 31), (32, 63), (64, None)]
    for seq in (1, 31, 32, 63, 64, 65, 2048):
        values = {"batch": 1, "seq": seq}
        assert peak(values) == modelaudit.audit(model, dims=values).totals.peak_activation_bytes, seq
    assert peak({"batch": 1, "seq": 2048}) == 128 * 2048 + 8 * 2048**2  # 33.8 MB, not 512·2048


def test_symbolic_text_shows_formulas_in_the_totals_and_rows(capsys):
    path = _save(_attention_block())
    assert main(["report", path, "--symbolic"]) == 0
    out = capsys.readouterr().out
    totals = out.split("Totals\n")[1]
    assert "MACs              4,096·batch·seq + 64·batch·seq²" in totals
    assert "FLOPs             8,192·batch·seq + 133·batch·seq²" in totals
    assert "peak activations  max(512·batch·seq, " in totals
    assert "≥ 0" not in out and "MA011" not in out and "unresolved dim" not in out and "unresolved:" not in out
    assert "the seq² terms overtake the seq terms at seq = 64 (other dims at 1)" in out  # 4,096 / 64
    softmax = next(line for line in out.splitlines() if line.startswith("5 "))
    assert "5·batch·seq²" in softmax and "4·batch·seq²" in softmax  # FLOPs and out bytes of Softmax
    assert main(["report", path, "--symbolic", "--format", "json"]) == 0
    peak = json.loads(capsys.readouterr().out)["symbolic"]["totals"]["peak_activation_bytes"]
    assert len(peak["max_of"]) == 3 and peak["ranges"]["seq"][-1] == {
        "from": 64,
        "to": None,
        "text": "128·batch·seq + 8·batch·seq²",
    }


def test_peak_ranges_change_at_the_first_integer_past_each_crossing():
    from modelaudit.analyses.peak import peak_formula, ranges
    from modelaudit.analyses.symbolic import Poly

    linear = Poly(("n",), (((1,), 10),))  # 10·n
    square = Poly(("n",), (((2,), 1), ((0,), 5)))  # n² + 5: above 10·n from n = 5 + √20 ≈ 9.47
    below = Poly(("n",), (((1,), 3),))  # 3·n ≤ 10·n everywhere: left out
    peak = peak_formula([linear, below, square, linear])
    assert str(peak) == "max(10·n, 5 + n²)"
    assert [(a, b) for a, b, _ in ranges(peak, "n")] == [(1, 9), (10, None)]
    assert all(peak({"n": n}) == max(10 * n, n * n + 5, 3 * n) for n in range(1, 40))
    assert peak_formula([linear, None]) is None  # a step that is not a polynomial: no formula


@pytest.mark.parametrize("flag", [["--by", "op"], ["--sort", "params"]])
def test_sweep_refuses_table_flags_it_cannot_apply(capsys, flag):
    """--sweep's layer table is the top layers by MACs at the largest value: --by op and --sort
    printed the very same output as without them (silently ignored)."""
    path = _save(_attention_block())
    assert main(["report", path, "--sweep", "seq=128,512", *flag]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag[0] in err[0]


def _scoped_attention_block():
    """The attention block with exporter-style scopes: projections, the attention core, the output."""
    model = _attention_block()
    names = [
        "/proj/q/MatMul",
        "/proj/k/MatMul",
        "/proj/v/MatMul",
        "/core/Transpose",
        "/core/qk/MatMul",
        "/core/Softmax",
        "/core/pv/MatMul",
        "/out/MatMul",
    ]
    for node, name in zip(model.graph.node, names):
        node.name = name
    return model


def _sum_terms(polys: list[dict]) -> dict:
    out: dict = {}
    for p in polys:
        for t in p["terms"]:
            key = tuple(sorted(t["powers"].items()))
            out[key] = out.get(key, 0) + t["coefficient"]
    return {k: c for k, c in out.items() if c}


def _groups_adding_up(capsys, path: str, flags: list[str], section: str, key: str) -> dict:
    """The JSON view's groups' formulas by name, checked to add up to the total polynomials."""
    assert main(["report", path, "--symbolic", *flags, "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    groups = {g[key]: g["formulas"] for g in d[section]}
    for field in ("macs", "flops"):
        assert _sum_terms([f[field] for f in groups.values()]) == _sum_terms([d["symbolic"]["totals"][field]])
    return groups


def test_symbolic_by_op_sums_each_op_types_polynomials(capsys):
    """--symbolic --by op was refused (exit 2): the grouped table would have shown `?`. Each op
    type's MACs and FLOPs are now the sum of its nodes' polynomials, and the types add up to the total."""
    path = _save(_scoped_attention_block())
    ops = _groups_adding_up(capsys, path, ["--by", "op"], "by_op", "op")
    # 4 projections 4·32·32·batch·seq, Q·Kᵀ and P·V 2·32·batch·seq²; FLOPs 2 per MAC, Softmax 5 per score
    assert ops["MatMul"]["macs"]["text"] == f"{4 * 32 * 32:,}·batch·seq + {2 * 32}·batch·seq²"
    assert ops["MatMul"]["flops"]["text"] == f"{2 * 4 * 32 * 32:,}·batch·seq + {2 * 2 * 32}·batch·seq²"
    assert ops["Softmax"]["macs"]["text"] == "0" and ops["Softmax"]["flops"]["text"] == "5·batch·seq²"
    assert ops["Transpose"]["macs"]["text"] == "0"
    # out bytes (float): q, k, v, ctx, y [batch, seq, 32] and the scores [batch, seq, seq]
    assert ops["MatMul"]["output_bytes"]["text"] == f"{5 * 32 * 4}·batch·seq + {4 * 1}·batch·seq²"
    assert main(["report", path, "--symbolic", "--by", "op"]) == 0
    out = capsys.readouterr().out
    assert "4,096·batch·seq + 64·batch·seq²" in out and "?" not in out
    assert main(["report", path, "--symbolic", "--by", "op", "--format", "markdown"]) == 0
    assert "4,096·batch·seq + 64·batch·seq²" in capsys.readouterr().out


def test_symbolic_depth_sums_each_blocks_polynomials(capsys):
    """--symbolic --depth 1 was refused (exit 2). Each block's MACs and FLOPs are now the sum of
    its nodes' polynomials, in text, markdown, JSON and CSV, and the blocks add up to the total."""
    import csv
    import io

    path = _save(_scoped_attention_block())
    blocks = _groups_adding_up(capsys, path, ["--depth", "1"], "blocks", "block")
    assert blocks["proj"]["macs"]["text"] == f"{3 * 32 * 32:,}·batch·seq"
    assert blocks["core"]["macs"]["text"] == f"{2 * 32}·batch·seq²"
    assert blocks["core"]["flops"]["text"] == f"{2 * 2 * 32 + 5}·batch·seq²"
    assert blocks["out"]["macs"]["text"] == f"{32 * 32:,}·batch·seq"
    assert main(["report", path, "--symbolic", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "3,072·batch·seq" in out and "133·batch·seq²" in out and "?" not in out
    assert main(["report", path, "--symbolic", "--depth", "1", "--format", "markdown"]) == 0
    assert "133·batch·seq²" in capsys.readouterr().out
    assert main(["report", path, "--symbolic", "--depth", "1", "--format", "csv"]) == 0
    rows = {r["block"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert rows["core"]["macs_formula"] == "64·batch·seq²" and rows["proj"]["flops_formula"] == "6,144·batch·seq"


def test_symbolic_csv_carries_each_rows_formulas(capsys):
    """--symbolic --format csv wrote the fixed-size columns only (empty where the size is
    symbolic): the formulas were silently dropped. Each node line now has them, as JSON's rows do."""
    import csv
    import io

    path = _save(_attention_block())
    assert main(["report", path, "--symbolic", "--format", "json"]) == 0
    formulas = {r["name"]: r for r in json.loads(capsys.readouterr().out)["symbolic"]["rows"]}
    assert main(["report", path, "--symbolic", "--format", "csv"]) == 0
    rows = [r for r in csv.DictReader(io.StringIO(capsys.readouterr().out)) if not r["status"].startswith("finding")]
    assert rows and all(r["macs_formula"] == (formulas[r["name"]]["macs"]["text"] or "") for r in rows)
    assert any("seq²" in r["macs_formula"] for r in rows)  # the Q·Kᵀ and P·V products
    assert all(r["output_bytes_formula"] == (formulas[r["name"]]["output_bytes"]["text"] or "") for r in rows)


def test_sweep_refuses_a_dim_also_fixed_by_dim(capsys):
    """--sweep seq=128,512 --dim seq=3 printed the sweep with --dim seq silently overridden (an
    --input that fixes the swept dim is already refused)."""
    path = _save(_attention_block())
    assert main(["report", path, "--sweep", "seq=128,512", "--dim", "seq=3", "--dim", "batch=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dim seq" in err[0] and "--sweep" in err[0]


def test_sweep_top_layers_rank_known_macs_and_say_when_none_are(capsys):
    """With batch left open every MatMul's MACs were unknown at every swept value, and the "top
    layers" were the nodes in file order, `?` and zero-cost Transposes among them. Now only
    layers with known MACs are ranked, and the report says when none are."""
    path = _save(_attention_block())
    assert main(["report", path, "--sweep", "seq=128,512", "--format", "json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["top_layers"] == [] and s["unranked_layers"] == 7  # 6 MatMuls and the Softmax (Transpose: 0)
    assert main(["report", path, "--sweep", "seq=128,512"]) == 0
    out = capsys.readouterr().out
    assert "no layer's MACs are known at any swept value" in out and "Transpose" not in out
    # z [seq, 8] · W2 [8, 4] is known (seq·8·4), x [batch, seq, 8] · W1 is not, Relu has 0 MACs
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["a"], name="xw"),
        helper.make_node("Relu", ["z"], ["r"], name="relu"),
        helper.make_node("MatMul", ["r", "w2"], ["b"], name="zw"),
    ]
    model = make_model(
        nodes,
        [vi("x", ["batch", "seq", 8]), vi("z", ["seq", 8])],
        [vi("a", None), vi("b", None)],
        [tensor("w1", (8, 4)), tensor("w2", (8, 4), seed=1)],
    )
    assert main(["report", _save(model), "--sweep", "seq=4,16", "--top", "2", "--format", "json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert [(layer["name"], layer["macs"]) for layer in s["top_layers"]] == [("zw", [4 * 8 * 4, 16 * 8 * 4])]
    assert s["unranked_layers"] == 1
    assert main(["report", _save(model), "--sweep", "seq=4,16", "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "1 layer whose MACs are unknown at every swept value is not ranked" in out and "xw" not in out
