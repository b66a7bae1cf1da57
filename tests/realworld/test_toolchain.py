"""What the deployment toolchain makes of an export audits exactly like the export (issue 24): each
base (toolchain_bases.py) under each transform (toolchain.py) gives the export's MACs and params,
complete, except the rows CHANGES names, where the transform really changes what the file stores
or computes: there the figures equal the oracle's on the transformed file (realworld_oracle.py:
the tensors it stores, the textbook MACs at the shapes onnxruntime produces)."""

from __future__ import annotations

import functools
import os

import onnx
import pytest

pytest.importorskip("torch", reason="the bases are torch exports")
pytest.importorskip("torchvision", reason="three bases are torchvision's")
pytest.importorskip("transformers", reason="three bases come from transformers' configs")

from realworld_oracle import feeds_for, runtime_macs, stored_weights  # noqa: E402
from test_wheels import EXTERNAL, _wheel  # noqa: E402
from toolchain import TRANSFORMS, Base, feeds, write_matrix  # noqa: E402
from toolchain_bases import BASES, build  # noqa: E402

import modelaudit  # noqa: E402

BN_ORT = "onnxruntime folds two of the three BatchNormalizations into the convs before them"
BN_ALL = "all three BatchNormalizations are folded into the convs before them"
ANCHORS = "the detection head's anchor points and strides, computed from the input size at run time, are stored"
NCHWC = "NCHWc: channels padded to the CPU's block, in the stored weights and every blocked tensor"
POSITIONS = "the position table is stored already sliced to the fixed positions"
ROTARY = "the rotary cos and sin tables for the fixed positions are stored in place of inv_freq"
# (base, transform) -> why the stored params differ from the export's; with NCHWc the MACs too
CHANGES = {
    **{("ppocr_v4_det", t): BN_ORT for t in ("ort_basic", "ort_extended", "transformers_optimizer")},
    ("ppocr_v4_det", "ort_all"): f"{BN_ORT}; {NCHWC}",
    **{("ppocr_v4_det", t): BN_ALL for t in ("onnxslim", "onnxsim")},
    **{("yolov8n", t): ANCHORS for t in ("ort_basic", "ort_extended", "transformers_optimizer", "onnxslim", "onnxsim")},
    ("yolov8n", "ort_all"): f"{ANCHORS}; {NCHWC}",
    ("mobilenet_v2", "ort_all"): NCHWC,
    **{(b, "onnxsim"): POSITIONS for b in ("gpt2", "gpt2_kv", "bert")},
    ("llama_gqa", "onnxsim"): ROTARY,
}


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toolchain")
    built: dict = {}

    def get(name):
        if name not in built:
            base = build(name, folder / name)
            report = modelaudit.audit(base.path, inputs=base.inputs)
            built[name] = (base, report)
        return built[name]

    yield get
    target = os.environ.get("MODELAUDIT_TOOLCHAIN_TABLE")
    if target:
        write_matrix(target, {name: report for name, (_, report) in built.items()})


@pytest.mark.parametrize("name", list(BASES))
def test_base_macs_are_the_textbook_macs_at_runtime_shapes(name, bases):
    """Each base against the oracle, so that the matrix below compares with a figure nobody tuned."""
    base, report = bases(name)
    model = onnx.load(base.path)
    assert report.uncounted == {} and report.totals.macs.complete and report.totals.params.complete
    assert report.totals.macs == runtime_macs(model, feeds(base.path, base.inputs))
    assert (report.totals.params, report.totals.non_trainable) == stored_weights(model)


CASES = [pytest.param(b, t, id=f"{b}.{t}") for b in BASES for t in TRANSFORMS]


@pytest.mark.parametrize("name, transform", CASES)
def test_transform_audits_like_the_export(name, transform, bases, tmp_path, toolchain_rows):
    base, export = bases(name)
    path = tmp_path / f"{name}.{transform}.onnx"
    TRANSFORMS[transform](base, path)
    report = modelaudit.audit(path, inputs=base.inputs)
    reason = CHANGES.get((name, transform))
    toolchain_rows(name, transform, report, reason)
    _like_the_export(report, export, path, base, transform, reason)


# the five models outside the corpus (test_wheels.EXTERNAL) under the transforms that need no
# calibration data (their integer inputs are indices that random feeds would break); the two of
# 20-30 MB skip the transforms that take them 10-25 s or repeat what the bases already show
EXTERNAL_TRANSFORMS = [t for t in TRANSFORMS if t not in ("qdq_static", "qoperator_static", "transformers_optimizer")]
SLOW = {
    (f, t)
    for f in ("model.onnx", "minimol_v1.onnx")
    for t in ("onnxslim", "onnxsim", "fp16_onnxconverter", "opset21", "external_data")
}
EXTERNAL_CHANGES = {("deepcut.onnx", "ort_all"): NCHWC}


@pytest.mark.parametrize(
    "requirement, file, shapes, transform",
    [
        pytest.param(r, f, s, t, id=f"{f}.{t}")
        for r, f, s in EXTERNAL
        for t in EXTERNAL_TRANSFORMS
        if (f, t) not in SLOW
    ],
)
def test_external_model_under_the_toolchain(requirement, file, shapes, transform, tmp_path):
    base = Base(file, _wheel(requirement) / file, shapes, "other")
    export = _export_report(str(base.path), tuple(shapes.items()))
    path = tmp_path / f"{transform}.onnx"
    TRANSFORMS[transform](base, path)
    report = modelaudit.audit(path, inputs=shapes)
    _like_the_export(report, export, path, base, transform, EXTERNAL_CHANGES.get((file, transform)))


@functools.lru_cache(maxsize=8)
def _export_report(path: str, shapes: tuple):
    return modelaudit.audit(path, inputs=dict(shapes))


def _like_the_export(report, export, path, base, transform, reason) -> None:
    assert report.uncounted == {}, report.uncounted
    assert report.totals.macs.complete and report.totals.params.complete, report.warnings
    if transform == "ort_all":  # NCHWc pads to the CPU's block, if the CPU has NCHWc kernels at all:
        # the textbook formula on the saved file at onnxruntime's shapes, and the weights it stores
        model = onnx.load(path)
        assert report.totals.macs == runtime_macs(model, feeds_for(model, base.inputs)) >= export.totals.macs
        assert report.totals.params == stored_weights(model)[0]
    else:
        assert report.totals.macs == export.totals.macs
    if reason is None:
        assert report.totals.params == export.totals.params
    else:  # the weights the transform really stores, counted apart from modelaudit
        assert report.totals.params == stored_weights(onnx.load(path, load_external_data=False))[0]
    _true_dtypes(path, report)


def _true_dtypes(path, report) -> None:
    """Weight bytes by each tensor's stored dtype: the (u)int8 tensors of more than one element the
    file stores are int8 bytes (and at most every (u)int8 tensor it stores: quantized scalars are not
    weights, zero points are), float16 tensors of more than one element are float16 bytes."""
    model = onnx.load(path, load_external_data=False)
    tensors = list(model.graph.initializer)
    tensors += [a.t for n in model.graph.node if n.op_type == "Constant" for a in n.attribute if a.name == "value"]
    numel: dict[int, list[int]] = {}
    for t in tensors:
        count = 1
        for d in t.dims:
            count *= d
        numel.setdefault(t.data_type, []).append(count)
    by_dtype = report.totals.weight_bytes_by_dtype
    int8 = numel.get(onnx.TensorProto.INT8, []) + numel.get(onnx.TensorProto.UINT8, [])
    if not any(n.op_type == "MatMulNBits" for n in model.graph.node):  # its uint8 blobs are uint4 weights
        assert sum(n for n in int8 if n > 1) <= by_dtype.get("int8", 0) + by_dtype.get("uint8", 0) <= sum(int8)
    assert by_dtype.get("float16", 0) == 2 * sum(n for n in numel.get(onnx.TensorProto.FLOAT16, []) if n > 1)


@pytest.fixture
def toolchain_rows():
    from toolchain import record

    return record
