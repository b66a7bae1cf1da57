"""--input/--dim reach every annotation: value_info, outputs, exporters' derived names and expressions,
PaddlePaddle's -1 dims and dims named `?`."""

from __future__ import annotations

import pytest
from conftest import flatten_then_matmul, make_model, tensor, vi
from onnx import TensorProto, helper

import modelaudit
from modelaudit.shapes.dimexpr import evaluate_dim, free_symbols


@pytest.mark.parametrize("annotation", ["unk__88", "seq*batch", "p2o.DynamicDimension.1", "batch_x_seq"])
def test_a_derived_dim_name_in_value_info_is_re_inferred_once_the_inputs_are_fixed(annotation):
    report = modelaudit.audit(flatten_then_matmul(annotation), dims={"batch": 2, "seq": 3})
    matmul = next(r for r in report.rows if r.op == "MatMul")
    assert matmul.inputs == ["6x8"] and matmul.outputs == ["6x4"]
    assert matmul.macs == (2 * 3) * 8 * 4
    assert report.unresolved == [] and report.totals.macs.complete


def test_a_name_the_inputs_decide_is_still_shown_while_the_dims_are_free():
    report = modelaudit.audit(flatten_then_matmul("seq*batch"))
    matmul = next(r for r in report.rows if r.op == "MatMul")
    assert matmul.outputs == ["(seq*batch)×4"] and matmul.macs is None  # an expression dim, told apart
    assert report.unresolved[0]["flag"] == "--dim batch=N --dim seq=N"


def test_a_made_up_name_is_never_a_known_dim_even_without_flags():
    """silero_vad_openvino_16k: a static input, its padded copy annotated [unk__0, unk__1]; the
    Pad's pads come from a Concat of constants, which onnx's inference does not read, so only
    modelaudit's folding can tell the shape, and it never looked while unk__0 passed for known."""
    nodes = [
        helper.make_node("Constant", [], ["lo"], value=helper.make_tensor("lo", TensorProto.INT64, [2], [0, 64])),
        helper.make_node("Constant", [], ["hi"], value=helper.make_tensor("hi", TensorProto.INT64, [2], [0, 0])),
        helper.make_node("Concat", ["lo", "hi"], ["pads"], axis=0),
        helper.make_node("Pad", ["x", "pads"], ["p"], mode="reflect"),
        helper.make_node("MatMul", ["p", "w"], ["y"]),
    ]
    model = make_model(nodes, [vi("x", [1, 576])], [vi("y", ["unk__0", 4])], [tensor("w", (576 + 64, 4))])
    model.graph.value_info.append(vi("p", ["unk__0", "unk__1"]))
    report = modelaudit.audit(model)
    matmul = next(r for r in report.rows if r.op == "MatMul")
    assert matmul.inputs == [f"1x{576 + 64}"] and matmul.macs == 1 * (576 + 64) * 4
    assert report.totals.macs.complete


def test_a_fixed_dim_reaches_the_graph_output_annotation():
    """GPT-2's logits: onnx cannot carry the batch through the reshape, so the output's own
    [batch, …] annotation stood, unsubstituted, however --dim batch was set."""
    report = modelaudit.audit(flatten_then_matmul("batch", seq=1), dims={"batch": 5})
    matmul = next(r for r in report.rows if r.op == "MatMul")
    assert matmul.inputs == ["5x8"] and matmul.outputs == ["5x4"]
    assert matmul.output_bytes == 5 * 4 * 4


def _custom_then_matmul(annotation):
    """A custom op onnx cannot infer: its exporter's annotation is all there is to know."""
    nodes = [
        helper.make_node("Mystery", ["x"], ["m"], domain="com.example"),
        helper.make_node("MatMul", ["m", "w"], ["y"]),
    ]
    model = make_model(nodes, [vi("x", ["batch", "width"])], [vi("y", None)], [tensor("w", (8, 4))])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    model.graph.value_info.append(vi("m", [annotation, 8]))
    return model


@pytest.mark.parametrize(
    "annotation,rows",
    [
        ("floor(floor(width/2 - 1/2)/2) + 1", (193 - 1) // 2 // 2 + 1),  # floor(floor(96)/2) + 1 = 49
        ("((width - 1)//16) + 1", (193 - 1) // 16 + 1),
        ("batch*width", 2 * 193),
        ("max(batch, width) - min(batch, width)", 193 - 2),
    ],
)
def test_a_dim_expression_whose_symbols_are_bound_is_evaluated(annotation, rows):
    report = modelaudit.audit(_custom_then_matmul(annotation), dims={"batch": 2, "width": 193})
    matmul = next(r for r in report.rows if r.op == "MatMul")
    assert matmul.inputs == [f"{rows}x8"]
    assert matmul.macs == rows * 8 * 4


@pytest.mark.parametrize("annotation", ["unk__3", "width/2"])  # 193/2 is no dim: dropped, not rounded
def test_an_annotation_left_with_a_symbol_is_dropped_and_the_hint_names_verify(annotation):
    report = modelaudit.audit(_custom_then_matmul(annotation), dims={"batch": 2, "width": 193})
    matmul = next(r for r in report.rows if r.op == "MatMul")
    assert matmul.macs is None and matmul.inputs == ["?"]  # the whole annotation goes
    assert [u["dim"] for u in report.unresolved] == ["?"]
    flag = report.unresolved[0]["flag"]
    assert flag.startswith("--verify") and "--dim" not in flag


def test_an_expression_input_dim_is_fixed_through_its_symbols():
    """GPT-2 with past: attention_mask is [batch_size, past_sequence_length + sequence_length]."""
    nodes = [helper.make_node("Relu", ["mask"], ["y"])]
    model = make_model(
        nodes,
        [
            vi("mask", ["batch_size", "past_sequence_length + sequence_length"]),
            vi("ids", ["batch_size", "sequence_length"]),
            vi("past", ["batch_size", "past_sequence_length"]),
        ],
        [vi("y", None)],
    )
    open_report = modelaudit.audit(model, dims={"batch_size": 1})
    assert open_report.unresolved[0]["flag"] == "--dim past_sequence_length=N --dim sequence_length=N"
    report = modelaudit.audit(model, dims={"batch_size": 1, "past_sequence_length": 4, "sequence_length": 1})
    assert report.rows[0].outputs == [f"1x{4 + 1}"]


def test_one_symbol_fixed_to_two_values_is_a_usage_error():
    model = make_model(
        [helper.make_node("Add", ["a", "b"], ["y"])], [vi("a", ["batch", 8]), vi("b", ["batch", 8])], [vi("y", None)]
    )
    with pytest.raises(modelaudit.UsageError) as info:
        modelaudit.audit(model, inputs={"a": (2, 8)}, dims={"batch": 3})
    assert info.value.one_line() == ("--input a: dim 0 is 'batch', which --dim batch=3 fixes to 3, the flag gives 2")
    assert modelaudit.audit(model, inputs={"a": (2, 8)}).rows[0].outputs == ["2x8"]  # b follows a


def _paddle_conv():
    """PaddlePaddle writes a dynamic dim as dim_value -1."""
    return make_model(
        [helper.make_node("Conv", ["x", "w"], ["y"])],
        [vi("x", [-1, 3, -1, -1])],
        [vi("y", [-1, 8, -1, -1])],
        [tensor("w", (8, 3, 3, 3))],
    )


def test_a_minus_one_dim_is_dynamic_and_input_fixes_it():
    report = modelaudit.audit(_paddle_conv())
    assert report.unresolved[0]["flag"] == "--input x=Nx3xNxN"
    row = modelaudit.audit(_paddle_conv(), inputs={"x": (1, 3, 48, 192)}).rows[0]
    assert row.outputs == ["1x8x46x190"]
    assert row.macs == 1 * 8 * 46 * 190 * (3 * 3 * 3)


def test_a_dim_named_question_mark_is_anonymous():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", ["?", 3, 8, 8])], [vi("y", ["?", 3, 8, 8])])
    report = modelaudit.audit(model)
    assert report.unresolved == [{"dim": "?", "nodes": 1, "flag": "--input x=Nx3x8x8"}]
    with pytest.raises(modelaudit.UsageError):
        modelaudit.audit(model, dims={"?": 1})
    assert modelaudit.audit(model, inputs={"x": (2, 3, 8, 8)}).rows[0].flops == 2 * 3 * 8 * 8


@pytest.mark.parametrize(
    "text,bound,value",
    [
        ("seq*batch", {"seq": 16, "batch": 2}, 32),
        ("past_sequence_length + sequence_length", {"past_sequence_length": 4, "sequence_length": 1}, 5),
        ("floor(floor(width/2 - 1/2)/2) + 1", {"width": 224}, 56),  # torch's stride-2 conv then pool
        ("ceil(width/3)", {"width": 10}, 4),
        ("-a + 5", {"a": 2}, 3),
        ("a % 3", {"a": 7}, 1),
        ("Max(a, 1)", {"a": 0}, 1),
        ("width/2", {"width": 3}, None),  # not a whole number: unknown, never rounded
        ("a - 5", {"a": 2}, None),  # negative
        ("a/0", {"a": 1}, None),
        ("unk__1 + 1", {}, None),
        ("1 +", {}, None),
        ("__import__('os').getcwd()", {}, None),  # never eval'd: the quote does not even tokenize
        ("(" * 400 + "1" + ")" * 400, {}, None),  # too long to be a dim
    ],
)
def test_dim_expressions_are_evaluated_exactly(text, bound, value):
    assert evaluate_dim(text, bound) == value


def test_free_symbols_of_exporters_names():
    assert free_symbols("p2o.DynamicDimension.1") == {"p2o.DynamicDimension.1"}
    assert free_symbols("((width - 1)//16) + 1") == {"width"}
    assert free_symbols("floor(s0/2)") == {"s0"}
    assert free_symbols("batch size") is None
