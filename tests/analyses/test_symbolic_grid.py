"""--symbolic's grid reuses the loaded model: one parse, one link, and (where the shapes are the
variables themselves) one extra shape inference; the polynomials are those of a full audit per point."""

from __future__ import annotations

import onnx
from builders import attention_block as _attention_block

from modelaudit.analyses import symbolic
from modelaudit.graph import model as graph_model
from modelaudit.graph.model import load


def _counting(monkeypatch) -> list:
    calls = []
    infer = graph_model.infer
    monkeypatch.setattr(graph_model, "infer", lambda *a, **k: calls.append(1) or infer(*a, **k))
    return calls


def test_grid_substitutes_values_into_the_shapes_after_one_proof(monkeypatch):
    mg = load(_attention_block())
    calls = _counting(monkeypatch)
    fast = symbolic.to_dict(symbolic.analyse(mg))
    assert len(calls) == 1  # the check at seq = batch = 12 against onnx; the 20 grid points infer nothing
    assert fast["totals"]["macs"]["text"] == "4,096·batch·seq + 64·batch·seq²"
    monkeypatch.setattr(
        symbolic,
        "_grid_graphs",
        lambda base, variables, inputs, dims: lambda values: graph_model.with_dims(base, inputs, {**dims, **values}),
    )
    calls.clear()
    slow = symbolic.to_dict(symbolic.analyse(mg))
    ranges = fast["totals"]["peak_activation_bytes"]["ranges"]
    sides = 2 * sum(len(r) - 1 for r in ranges.values())  # the peak is audited on both sides of each change
    assert sides == 4
    assert len(calls) == (4 * 4) + (2 * 2) + sides  # grid, check points and peak checks, each inferred in full
    assert fast == slow


def test_a_shape_onnx_cannot_name_infers_every_point(monkeypatch):
    model = _attention_block()
    model.graph.input[0].type.tensor_type.shape.dim[2].ClearField("dim_value")  # W anonymous: shapes hold unknowns
    mg = load(model)
    graphs = symbolic._grid_graphs(mg, ("batch", "seq"), {}, {})
    assert graphs.__name__ == "inferred"


def test_path_source_still_works(tmp_path):
    path = tmp_path / "block.onnx"
    onnx.save(_attention_block(), path)
    assert str(symbolic.analyse(str(path))["totals"]["macs"]) == "4,096·batch·seq + 64·batch·seq²"


def test_half_the_grid_audited_in_a_forked_child_gives_the_same_polynomials(monkeypatch):
    import pytest

    from modelaudit.load import forked

    if not forked.can_fork():
        pytest.skip("no fork() here, or a single CPU")
    mg = load(_attention_block())
    serial = symbolic.to_dict(symbolic.analyse(mg))
    taken = []
    real = forked._Child.next

    def recorded(self):  # the child's audits are the ones used
        got = real(self)
        taken.append(got[0])
        return got

    monkeypatch.setattr(forked._Child, "next", recorded)
    monkeypatch.setattr(symbolic, "WORTH_NODES", 0)
    assert symbolic.to_dict(symbolic.analyse(mg, fork=True)) == serial
    assert taken == [True]
    start = forked.Helper.start
    failing = staticmethod(lambda work, worth=True: start(lambda told: 1 / 0, worth))
    monkeypatch.setattr(forked.Helper, "start", failing)  # a child that fails: audited here
    taken.clear()
    assert symbolic.to_dict(symbolic.analyse(mg, fork=True)) == serial
    assert taken == [False]
