"""RuleSpec.per_element: the audit costs such ops from the output's size alone, so each declaration
must be exactly what its rule computes, and a rule registered over it must be the one that runs."""

from __future__ import annotations

from conftest import make_model, vi
from onnx import helper

import modelaudit
from modelaudit.costs import rules
from modelaudit.costs.cost import Cost, NodeContext
from modelaudit.shapes.infer import TensorInfo


def test_every_per_element_declaration_is_what_its_rule_computes():
    declared = [spec for spec in rules.registered() if spec.per_element is not None]
    assert {"Add", "Sqrt", "Softmax", "QuantizeLinear"} <= {spec.op_type for spec in declared}
    assert "Gelu" not in {spec.op_type for spec in declared if spec.domain == ""}  # its attribute matters
    for spec in declared:
        node = helper.make_node(spec.op_type, ["a", "b", "c"], ["y"], domain=spec.domain)
        infos = [TensorInfo(n, (2, 3, 5), 1) for n in ("a", "b", "c")]
        ctx = NodeContext(node, 0, 21, {}, infos, [TensorInfo("y", (2, 3, 5), 1)])
        k = spec.per_element
        assert spec.fn(ctx) == Cost(flops=k * (2 * 3 * 5), formula=f"{k}*30"), spec


def test_a_rule_registered_over_a_per_element_op_is_the_one_that_runs():
    builtin = list(rules._REGISTRY[("", "Relu")])
    try:

        @modelaudit.rule("Relu", flops="7·|Y|")
        def relu(ctx: modelaudit.NodeContext) -> modelaudit.Cost:
            """A plugin's own count."""
            return modelaudit.Cost(flops=7 * ctx.out_numel(0), formula="plugin")

        model = make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2, 8])], [vi("y", [2, 8])])
        row = modelaudit.audit(model).rows[0]
        assert (row.flops, row.formula) == (7 * 2 * 8, "plugin")
    finally:
        rules._REGISTRY[("", "Relu")] = builtin
    row = modelaudit.audit(model).rows[0]
    assert (row.flops, row.formula) == (2 * 8, "1*16")
