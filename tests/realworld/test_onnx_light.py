"""onnx's own backend/test/data/light models: params against the tensors the file stores, MACs
against the shapes onnxruntime produces when it runs them."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from realworld_oracle import feeds_for, runtime_macs, stored_weights

import modelaudit

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
MODELS = sorted(LIGHT.glob("*.onnx"))


@pytest.mark.skipif(not MODELS, reason="this onnx build ships no backend/test/data/light models")
@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_light_model(path, realworld_table):
    model = onnx.load(path)
    init = {t.name for t in model.graph.initializer}
    shapes = {
        vi.name: tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
        for vi in model.graph.input
        if vi.name not in init
    }
    params, non_trainable = stored_weights(model)
    macs = runtime_macs(model, feeds_for(model, shapes))
    report = modelaudit.audit(path)
    realworld_table(path.stem, "onnx backend/test/data/light", report, params, macs)
    assert report.uncounted == {} and report.totals.macs.complete and report.totals.params.complete
    assert (report.totals.params, report.totals.non_trainable) == (params, non_trainable)
    assert report.totals.macs == macs
