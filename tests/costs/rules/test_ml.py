"""ai.onnx.ml (issue 24 item 8): weights held in attributes are counted (coefficients, support
vectors, tree thresholds and leaf values as params; a Scaler's offset and scale non-trainable),
each op's cost by hand, and every tensor shape proved by onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import make_model, vi
from onnx import helper

import modelaudit
from modelaudit.cli.main import main

ML = "ai.onnx.ml"


def _ml(model):
    model.opset_import.append(helper.make_opsetid(ML, 3))
    return model


def _shapes_agree(model, x):
    """Every tensor output of every node: modelaudit's static shape equals onnxruntime's."""
    import onnxruntime as ort

    mg = modelaudit.load(model, inputs={"X": x.shape})
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    names = [o for n in probe.graph.node if n.op_type != "ZipMap" for o in n.output if o]
    del probe.graph.output[:]
    probe.graph.output.extend(onnx.ValueInfoProto(name=o) for o in names)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    ran = dict(zip(names, session.run(names, {"X": x})))
    assert {n: mg.info(n).shape for n in names} == {n: v.shape for n, v in ran.items()}


def test_linear_regressor_by_hand():
    """coefficients [targets 2, F 5], intercepts [2]: 7·…; MACs N·F·targets."""
    node = helper.make_node(
        "LinearRegressor", ["X"], ["Y"], domain=ML, coefficients=[0.5] * 10, intercepts=[1.0, 2.0], targets=2
    )
    model = _ml(make_model([node], [vi("X", [3, 5])], [vi("Y", [3, 2])]))
    report = modelaudit.audit(model)
    (row,) = report.rows
    assert (report.totals.params, report.totals.params.complete) == (10 + 2, True)
    assert row.macs == 3 * 5 * 2 and row.flops == 2 * 3 * 5 * 2 + 3 * 2
    assert report.totals.weight_bytes_by_dtype == {"float32": 12 * 4}
    _shapes_agree(model, np.ones((3, 5), np.float32))


def test_scaler_binarizer_imputer_by_hand():
    """Scaler (offset, scale: 2·5 non-trainable, 2 FLOPs per element), then Imputer (its 5 values
    non-trainable, 1 per element), then Binarizer (1 per element)."""
    nodes = [
        helper.make_node("Scaler", ["X"], ["s"], domain=ML, offset=[0.5] * 5, scale=[2.0] * 5),
        helper.make_node("Imputer", ["s"], ["i"], domain=ML, imputed_value_floats=[0.0] * 5, replaced_value_float=1.0),
        helper.make_node("Binarizer", ["i"], ["Y"], domain=ML, threshold=0.5),
    ]
    model = _ml(make_model(nodes, [vi("X", [3, 5])], [vi("Y", [3, 5])]))
    report = modelaudit.audit(model)
    assert (report.totals.params, report.totals.non_trainable) == (0, 2 * 5 + 5)
    assert [r.flops for r in report.rows] == [2 * 15, 15, 15] and not report.uncounted
    _shapes_agree(model, np.ones((3, 5), np.float32))


def test_tree_depths_by_hand():
    """Tree 0: root → (leaf, node 2 → (leaf, leaf)): depth 2; tree 1: one split: depth 1."""
    from modelaudit.costs.rules.ml import tree_depths

    modes = ["BRANCH_LEQ", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"]
    assert tree_depths(
        [0, 0, 0, 0, 0, 1, 1, 1], [0, 1, 2, 3, 4, 0, 1, 2], [1, 0, 3, 0, 0, 1, 0, 0], [2, 0, 4, 0, 0, 2, 0, 0], modes
    ) == [2, 1]


@pytest.mark.parametrize(
    "case, samples, depth",
    [("test_ai_onnx_ml_tree_ensemble_single_tree", 3, 2), ("test_ai_onnx_ml_tree_ensemble_set_membership", 6, 3)],
)
def test_tree_ensemble_5_on_onnx_own_cases(case, samples, depth):
    """onnx's TreeEnsemble (ai.onnx.ml 5) test models: one tree of 3 branch nodes and 4 leaves;
    its depth is 2 (both children of the root split again) or 3 (a chain); params are the 3 splits
    and 4 leaf weights."""
    from onnx.backend.test.case.node import collect_testcases

    (model,) = [c.model for c in collect_testcases() if c.name == case]
    report = modelaudit.audit(model)
    (row,) = report.rows
    assert not report.uncounted and report.totals.params == 3 + 4
    assert row.flops == samples * depth + samples * 4


sklearn = pytest.importorskip("sklearn", reason="the fitted models come from scikit-learn")
skl2onnx = pytest.importorskip("skl2onnx", reason="skl2onnx converts them")


def _fit(estimator, classes=3):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 10)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0) if classes == 3 else x @ rng.standard_normal(10)
    estimator.fit(x, y)
    model = skl2onnx.to_onnx(estimator, x[:1], target_opset={"": 17, ML: 3})
    return estimator, model, x[:4]


def test_logistic_regression_after_a_scaler():
    """The issue's 33-coefficient logistic regression: 3 classes × 10 features + 3 intercepts are
    params, the scaler's 10 means and 10 scales non-trainable; `check --max-params 10` fails."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fitted, model, x = _fit(make_pipeline(StandardScaler(), LogisticRegression()))
    lr = fitted[-1]
    report = modelaudit.audit(model, inputs={"X": (4, 10)})
    assert report.totals.params == lr.coef_.size + lr.intercept_.size == 33
    assert report.totals.non_trainable == 2 * 10 and report.totals.params.complete
    assert not report.uncounted and report.totals.macs.complete
    classifier = next(r for r in report.rows if r.op == "LinearClassifier")
    # X·Wᵀ, intercepts, softmax 5 per score, argmax 1 per score
    assert classifier.macs == 4 * 10 * 3 and classifier.flops == 2 * 4 * 10 * 3 + 4 * 3 * (1 + 5 + 1)
    _shapes_agree(model, x)


def test_logistic_regression_fails_a_params_budget(tmp_path, capsys):
    from sklearn.linear_model import LogisticRegression

    _, model, _ = _fit(LogisticRegression())
    path = tmp_path / "lr.onnx"
    onnx.save(model, path)
    assert main(["check", str(path), "--input", "X=4x10", "--max-params", "10"]) == 1
    capsys.readouterr()


def test_random_forest():
    """Thresholds of every branch node and the class weights of every leaf are params; a sample
    compares at most the depth of each tree."""
    from sklearn.ensemble import RandomForestClassifier

    fitted, model, x = _fit(RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0))
    report = modelaudit.audit(model, inputs={"X": (4, 10)})
    branches = sum(int((t.tree_.children_left >= 0).sum()) for t in fitted.estimators_)
    leaves = sum(int((t.tree_.children_left < 0).sum()) for t in fitted.estimators_)
    nodes = sum(t.tree_.node_count for t in fitted.estimators_)
    # skl2onnx stores a threshold per node (0 for leaves) and 3 class weights per leaf
    assert report.totals.params == nodes + leaves * 3 and report.totals.params.complete
    depth = sum(t.tree_.max_depth for t in fitted.estimators_)
    row = next(r for r in report.rows if r.op == "TreeEnsembleClassifier")
    assert row.macs == 0 and row.flops == 4 * depth + 4 * leaves * 3
    assert branches > 0
    _shapes_agree(model, x)


@pytest.mark.parametrize("kind", ["SVC", "SVR"])
def test_support_vector_machines(kind):
    """Support vectors [n_sv, F] and dual coefficients are params; MACs are the kernel's inner
    products N·n_sv·F and the dual sums N·|coefficients|."""
    from sklearn import svm

    fitted, model, x = _fit(getattr(svm, kind)(), classes=3 if kind == "SVC" else 0)
    report = modelaudit.audit(model, inputs={"X": (4, 10)})
    vectors, coefficients = fitted.support_vectors_.shape[0], fitted.dual_coef_.size
    rho = fitted.intercept_.size
    assert report.totals.params == vectors * 10 + coefficients + rho and report.totals.params.complete
    row = next(r for r in report.rows if r.op.startswith("SVM"))
    assert row.macs == 4 * vectors * 10 + 4 * coefficients
    assert report.totals.macs.complete and not report.uncounted
    _shapes_agree(model, x)


def test_scaler_normalizer_and_regression_tensor_dtypes():
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    _, model, x = _fit(make_pipeline(Normalizer(), LinearRegression()), classes=0)
    report = modelaudit.audit(model, inputs={"X": (4, 10)})
    assert report.totals.params == 10 + 1
    norm = next(r for r in report.rows if r.op == "Normalizer")
    assert norm.flops == 3 * 4 * 10  # L2: square, sum, divide
    assert report.totals.macs == 4 * 10 and report.totals.macs.complete
    _shapes_agree(model, x)


@pytest.mark.parametrize("kind", ["LogisticRegression", "SVC", "RandomForestClassifier"])
def test_binary_classifiers(kind):
    """Two classes: one coefficient row (or one decision function), the shapes as onnxruntime's."""
    from sklearn import ensemble, linear_model, svm

    module = {"LogisticRegression": linear_model, "SVC": svm, "RandomForestClassifier": ensemble}[kind]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    estimator = getattr(module, kind)().fit(x, (x[:, 0] > 0).astype(int))
    model = skl2onnx.to_onnx(estimator, x[:1], target_opset={"": 17, ML: 3})
    report = modelaudit.audit(model, inputs={"X": (4, 6)})
    assert not report.uncounted and report.totals.macs.complete and report.totals.params.complete
    assert report.totals.params > 0
    _shapes_agree(model, x[:4])
