"""modelaudit: static cost audit of ONNX models (params, MACs, FLOPs, bytes), checked by onnxruntime."""

from __future__ import annotations

__version__ = "0.1.0"

from .analyze import analyze, audit
from .cost import Cost, NodeContext, Unresolved
from .errors import (InvalidModelError, ModelAuditError, ResourceLimitError, UnsafeExternalDataError,
                     UsageError)
from .graph import ModelGraph, load
from .report import Report, Row, Totals
from .rules import rule

__all__ = [
    "__version__", "audit", "analyze", "load", "rule", "Cost", "NodeContext", "Unresolved",
    "Report", "Row", "Totals", "ModelGraph", "ModelAuditError", "UsageError", "InvalidModelError",
    "UnsafeExternalDataError", "ResourceLimitError",
]
