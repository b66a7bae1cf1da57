"""modelaudit: static cost audit of ONNX models (params, MACs, FLOPs, bytes), checked by onnxruntime."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__
from .errors import (
    InvalidModelError,
    ModelAuditError,
    ResourceLimitError,
    UnsafeExternalDataError,
    UsageError,
)
from .figures import Figure, IncompleteFigureError

# bound here, not lazily: importing a subpackage (modelaudit.load, modelaudit.render) sets the
# package's attribute of that name, which the functions of the same name must win over
from .graph import ModelGraph, load
from .render import render

if TYPE_CHECKING:
    from .analyses.pipeline import audit
    from .costs.analyze import analyze
    from .costs.cost import Cost, NodeContext, Unresolved
    from .costs.report import Report, Row, Totals
    from .costs.rules import rule

__all__ = [
    "__version__",
    "audit",
    "analyze",
    "load",
    "render",
    "rule",
    "Cost",
    "NodeContext",
    "Unresolved",
    "Report",
    "Row",
    "Totals",
    "Figure",
    "IncompleteFigureError",
    "ModelGraph",
    "ModelAuditError",
    "UsageError",
    "InvalidModelError",
    "UnsafeExternalDataError",
    "ResourceLimitError",
]

# The public names are imported when first used (PEP 562): the command imports only the stages a
# run needs before it forks its helper, and the audit's own while the helper infers the shapes.
_WHERE = {
    "audit": ".analyses.pipeline",
    "analyze": ".costs.analyze",
    "Cost": ".costs.cost",
    "NodeContext": ".costs.cost",
    "Unresolved": ".costs.cost",
    "Report": ".costs.report",
    "Row": ".costs.report",
    "Totals": ".costs.report",
    "rule": ".costs.rules",
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'modelaudit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # once: later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
