"""Custom domains: uncounted with their domain until a rule is registered, from Python or an entry point."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest
from conftest import make_model, vi
from onnx import helper

import modelaudit
from modelaudit.costs import rules


def _custom_model():
    node = helper.make_node("Blur", ["x"], ["y"], domain="my.domain", name="blur", radius=2)
    model = make_model([node], [vi("x", [1, 3, 8, 8])], [vi("y", [1, 3, 8, 8])])
    model.opset_import.append(helper.make_opsetid("my.domain", 1))
    return model


@pytest.fixture
def clean_registry():
    yield
    rules.unregister("Blur", "my.domain")


def test_unknown_domain_is_uncounted_with_its_domain():
    report = modelaudit.audit(_custom_model())
    assert report.uncounted == {"my.domain:Blur": 1}
    assert report.rows[0].macs is None


def test_rule_registered_from_python(clean_registry):
    @modelaudit.rule("Blur", domain="my.domain", flops="(2r+1)²·|Y|")
    def blur(ctx: modelaudit.NodeContext) -> modelaudit.Cost:
        """X [N, C, H, W] blurred by a (2r+1)² box."""
        taps = (2 * ctx.attr("radius") + 1) ** 2
        return modelaudit.Cost(flops=taps * ctx.out_numel(0), formula=f"{taps}*{ctx.out_numel(0)}")

    report = modelaudit.audit(_custom_model())
    assert report.uncounted == {}
    assert report.rows[0].flops == 25 * 3 * 8 * 8


def test_rule_registered_by_entry_point(monkeypatch, clean_registry):
    def register():
        @rules.rule("Blur", domain="my.domain")
        def blur(ctx):
            return modelaudit.Cost(flops=ctx.out_numel(0))

    broken = EntryPoint("broken", "no_such_module_xyz:register", rules.ENTRY_POINT_GROUP)
    good = EntryPoint("blur", "plugin:register", rules.ENTRY_POINT_GROUP)
    monkeypatch.setattr(good.__class__, "load", lambda ep: register if ep.name == "blur" else EntryPoint.load(ep))
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group=None: [broken, good])
    monkeypatch.setattr(rules, "_plugins_loaded", False)
    monkeypatch.setattr(rules, "PLUGIN_ERRORS", [])
    report = modelaudit.audit(_custom_model())
    assert report.rows[0].flops == 3 * 8 * 8
    assert any("rule plugin 'broken'" in w and "failed to load" in w for w in report.warnings)
