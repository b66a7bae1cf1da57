"""Property-based fuzzing: mutated sample models (bytes and protobuf fields), every ai.onnx op with
hostile attributes, and conv/pool windows with hostile geometry either audit (no negative total) or
exit 2-5 with one stderr line; never a traceback, an internal error (exit 70), a hang (20 s alarm) or a crash.

CI runs a fixed set of 60 examples per test. A longer run draws new random examples each time:
    MODELAUDIT_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz.py
"""

from __future__ import annotations

import os
import signal

import onnx
import pytest

hypothesis = pytest.importorskip("hypothesis")
from conftest import SAMPLES  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from modelaudit.cli.main import main  # noqa: E402

EXAMPLES = int(os.environ.get("MODELAUDIT_FUZZ_EXAMPLES", "60"))
DERANDOMIZE = "MODELAUDIT_FUZZ_EXAMPLES" not in os.environ  # CI: the same examples each run; long runs explore
SEEDS = {
    name: (SAMPLES / name).read_bytes()
    for name in ("conv3x3.onnx", "mobilenet_v1_module.onnx", "mobilenet_v2_block.onnx", "lstm.onnx")
}


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


def _check(tmp_path, data: bytes, capsys) -> None:
    path = tmp_path / "fuzzed.onnx"
    path.write_bytes(data)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(20)
    try:
        code = main(["report", str(path), "--format", "json"])
    except _Hang:
        pytest.fail("modelaudit hung on a mutated model")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    out, err = capsys.readouterr()
    assert code in (0, 2, 3, 4, 5), (code, err)  # never INTERNAL_ERROR (70), never a crash
    assert "Traceback" not in err
    if code:
        assert len(err.strip().splitlines()) == 1 and err.startswith("modelaudit: error: ")
        assert "internal error" not in err, err  # the safety net must not be what caught it
    else:
        import json

        totals = json.loads(out)["totals"]
        assert min(v for k, v in totals.items() if isinstance(v, int) and not isinstance(v, bool)) >= 0, totals


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE)
@given(
    seed=st.sampled_from(sorted(SEEDS)),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["flip", "cut", "insert", "duplicate"]),
            st.integers(0, 2**20),
            st.binary(min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_byte_mutations(tmp_path_factory, capsys, seed, edits):
    data = bytearray(SEEDS[seed])
    for kind, position, payload in edits:
        at = position % max(len(data), 1)
        if kind == "flip":
            data[at : at + len(payload)] = bytes(b ^ p for b, p in zip(data[at : at + len(payload)], payload))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = payload
        else:
            data[at:at] = data[at : at + 64]
    _check(tmp_path_factory.mktemp("b"), bytes(data), capsys)


_FIELD_EDITS = ["op_type", "drop_input", "dim", "attr_int", "dtype", "opset", "output_name", "ir_version"]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE)
@given(
    seed=st.sampled_from(sorted(SEEDS)),
    edits=st.lists(
        st.tuples(
            st.sampled_from(_FIELD_EDITS), st.integers(0, 1000), st.integers(-(2**63), 2**63 - 1), st.text(max_size=12)
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_field_mutations(tmp_path_factory, capsys, seed, edits):
    model = onnx.ModelProto()
    model.ParseFromString(SEEDS[seed])
    graph = model.graph
    for kind, index, number, text in edits:
        node = graph.node[index % len(graph.node)]
        if kind == "op_type":
            node.op_type = text or "Conv"
        elif kind == "drop_input" and node.input:
            del node.input[index % len(node.input)]
        elif kind == "dim" and graph.input:
            dims = graph.input[0].type.tensor_type.shape.dim
            if dims:
                dims[index % len(dims)].dim_value = number
        elif kind == "attr_int" and node.attribute:
            attr = node.attribute[index % len(node.attribute)]
            attr.ints[:] = [number % 1000 - 500] * max(len(attr.ints), 1) if attr.ints else []
            attr.i = number
        elif kind == "dtype" and graph.initializer:
            graph.initializer[index % len(graph.initializer)].data_type = number % 40
        elif kind == "opset":
            model.opset_import[0].version = number % 1000
        elif kind == "output_name" and node.output:
            node.output[0] = text
        elif kind == "ir_version":
            model.ir_version = number % 100
    _check(tmp_path_factory.mktemp("f"), model.SerializeToString(), capsys)


def _op_model(op_type: str, attrs: list, inputs: int) -> onnx.ModelProto:
    """One node of `op_type` on rank-4 float inputs, with hostile attributes of every kind."""
    from onnx import TensorProto, helper

    names = [f"x{i}" for i in range(inputs)]
    node = helper.make_node(op_type, names, ["y"], name="n")
    node.attribute.extend(attrs)
    shapes = [[1, 3, 8, 8]] + [_WEIGHTS.get(op_type, [1, 3, 8, 8])] * (inputs - 1)  # a conv's second input: W
    graph = helper.make_graph(
        [node],
        "fuzz",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n, shape in zip(names, shapes)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _standard_ops() -> list:
    return sorted({(s.name, s.min_input) for s in onnx.defs.get_all_schemas() if s.domain == ""})


_WEIGHTS = {
    "Conv": [4, 3, 3, 3],
    "ConvTranspose": [3, 4, 3, 3],
    "ConvInteger": [4, 3, 3, 3],
    "DeformConv": [4, 3, 3, 3],
}
# half of the examples go to the ops whose arithmetic attributes steer (windows, recurrences), where
# a hostile value once made a negative or sign-flipped figure; the other half to any op
_STEERED = sorted(
    op
    for op in _standard_ops()
    if op[0] in {"Conv", "ConvTranspose", "ConvInteger", "MaxPool", "AveragePool", "LpPool", "RNN", "GRU", "LSTM"}
)


_HOSTILE_INTS = st.sampled_from([0, -1, 1, 2, 9, -(2**31), 2**31, 2**62])


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE)
@given(op=st.one_of(st.sampled_from(_STEERED), st.sampled_from(_standard_ops())), data=st.data())
def test_attribute_mutations_of_every_op(tmp_path_factory, capsys, op, data):
    """Every ai.onnx op, given attributes it may or may not have, of the right or the wrong type:
    exit code in the contract, one stderr line, no internal error, no negative total, bounded time."""
    from onnx import helper

    op_type, min_inputs = op
    known = sorted(onnx.defs.get_schema(op_type).attributes)  # its newest schema: attributes of any opset
    names = data.draw(
        st.lists(
            st.sampled_from(known + ["strides", "pads", "dilations", "kernel_shape", "group", "axis", "perm"]),
            max_size=4,
            unique=True,
        )
    )
    attrs = []
    for name in names:
        kind = data.draw(st.sampled_from(["int", "ints", "float", "floats", "string"]))
        if kind == "int":
            value = data.draw(_HOSTILE_INTS)
        elif kind == "ints":
            length = data.draw(st.sampled_from([1, 2, 2, 3, 4, 4, 9]))  # a window's 2 axes, its 4 pads, or wrong
            value = data.draw(st.lists(_HOSTILE_INTS, min_size=length, max_size=length))
        elif kind == "float":
            value = data.draw(st.sampled_from([0.0, -1.5, float("nan"), float("inf"), 1e300]))
        elif kind == "floats":
            value = data.draw(st.lists(st.sampled_from([0.0, 1.5, -2.0, float("nan")]), min_size=1, max_size=9))
        else:
            value = data.draw(st.sampled_from(["", "SAME_UPPER", "VALID", "NOTSET", "bogus"]))
        attrs.append(helper.make_attribute(name, value))
    model = _op_model(op_type, attrs, max(min_inputs, 1))
    _check(tmp_path_factory.mktemp("a"), model.SerializeToString(), capsys)


_WINDOWS = ["Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool"]
_WINDOW_INTS = st.sampled_from([-5, 0, 1, 2, 9])


@st.composite
def _window_attrs(draw) -> list:
    """strides, pads, dilations and kernel_shape: mostly one per axis (2, or 4 pads), sometimes not."""
    from onnx import helper

    attrs = []
    for name, axes in (("strides", 2), ("pads", 4), ("dilations", 2), ("kernel_shape", 2)):
        if draw(st.booleans()):
            length = draw(st.sampled_from([axes, axes, axes, axes, 1, 3]))
            attrs.append(helper.make_attribute(name, draw(st.lists(_WINDOW_INTS, min_size=length, max_size=length))))
    return attrs


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE)
@given(op_type=st.sampled_from(_WINDOWS), attrs=_window_attrs())
def test_window_attribute_mutations(tmp_path_factory, capsys, op_type, attrs):
    """Conv and pool geometry, where a dilation of 9 or pads of −5 made a negative output size and a
    negative (or sign-flipped) MAC count that `check --max-macs 1` passed (issue 17 item 1)."""
    model = _op_model(op_type, attrs, 2 if op_type.startswith("Conv") else 1)
    _check(tmp_path_factory.mktemp("w"), model.SerializeToString(), capsys)
