"""modelaudit: static cost audit of ONNX models (params, MACs, FLOPs, bytes), checked by onnxruntime."""

from __future__ import annotations

from ._version import __version__
from .analyses.pipeline import audit
from .costs.analyze import analyze
from .costs.cost import Cost, NodeContext, Unresolved
from .costs.report import Report, Row, Totals
from .costs.rules import rule
from .errors import (
                     InvalidModelError,
                     ModelAuditError,
                     ResourceLimitError,
                     UnsafeExternalDataError,
                     UsageError,
)
from .graph import ModelGraph, load
from .render import render

__all__ = [
    "__version__", "audit", "analyze", "load", "render", "rule", "Cost", "NodeContext", "Unresolved",
    "Report", "Row", "Totals", "ModelGraph", "ModelAuditError", "UsageError", "InvalidModelError",
    "UnsafeExternalDataError", "ResourceLimitError",
]
