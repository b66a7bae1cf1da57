"""Property-based fuzzing: mutated sample models (bytes and protobuf fields) either audit or exit
2-5 with one stderr line; never a traceback, a hang or a crash.

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
SEEDS = {name: (SAMPLES / name).read_bytes() for name in
         ("conv3x3.onnx", "mobilenet_v1_module.onnx", "mobilenet_v2_block.onnx", "lstm.onnx")}


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
    assert code in (0, 2, 3, 4, 5), (code, err)
    assert "Traceback" not in err
    if code:
        assert len(err.strip().splitlines()) == 1 and err.startswith("modelaudit: error: ")
        assert "internal error" not in err, err  # the safety net must not be what caught it


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE)
@given(seed=st.sampled_from(sorted(SEEDS)), edits=st.lists(st.tuples(
    st.sampled_from(["flip", "cut", "insert", "duplicate"]), st.integers(0, 2**20), st.binary(min_size=1, max_size=8)),
    min_size=1, max_size=4))
def test_byte_mutations(tmp_path_factory, capsys, seed, edits):
    data = bytearray(SEEDS[seed])
    for kind, position, payload in edits:
        at = position % max(len(data), 1)
        if kind == "flip":
            data[at:at + len(payload)] = bytes(b ^ p for b, p in zip(data[at:at + len(payload)], payload))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = payload
        else:
            data[at:at] = data[at:at + 64]
    _check(tmp_path_factory.mktemp("b"), bytes(data), capsys)


_FIELD_EDITS = ["op_type", "drop_input", "dim", "attr_int", "dtype", "opset", "output_name", "ir_version"]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE)
@given(seed=st.sampled_from(sorted(SEEDS)), edits=st.lists(st.tuples(
    st.sampled_from(_FIELD_EDITS), st.integers(0, 1000), st.integers(-(2**63), 2**63 - 1),
    st.text(max_size=12)), min_size=1, max_size=4))
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
