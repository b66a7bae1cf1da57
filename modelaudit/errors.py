"""Error types of modelaudit, each with the exit code the CLI turns it into."""

from __future__ import annotations

from .encoding import error_line

__all__ = [
    "ModelAuditError",
    "CheckFailedError",
    "UsageError",
    "InvalidModelError",
    "UnsafeExternalDataError",
    "ResourceLimitError",
    "EXIT_CODES",
    "INTERNAL_ERROR",
]


class ModelAuditError(Exception):
    """Base of every error modelaudit reports as one line on stderr."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and its hint as one bounded line, model text in it made inert (encoding.py)."""
        return error_line(self.message if not self.hint else f"{self.message} ({self.hint})")


class CheckFailedError(ModelAuditError):
    """The audit ran and a check failed (budget, finding, shape mismatch)."""

    exit_code = 1


class UsageError(ModelAuditError):
    """A bad flag, a malformed shape or unit, an unknown input name, a missing path."""

    exit_code = 2


class InvalidModelError(ModelAuditError):
    """The file is not a valid ONNX model: empty, corrupt, truncated, cyclic, wrong type."""

    exit_code = 3


class UnsafeExternalDataError(ModelAuditError):
    """External data points outside the model's folder; it is refused and never opened."""

    exit_code = 4


class ResourceLimitError(ModelAuditError):
    """A memory or time limit was hit."""

    exit_code = 5


INTERNAL_ERROR = 70  # sysexits.h EX_SOFTWARE: a bug of modelaudit's, never a verdict on the model

EXIT_CODES = {
    0: "success",
    1: "the audit ran and something failed a check",
    2: "usage error (bad flag, malformed shape, unknown input name, missing path)",
    3: "the file is not a valid ONNX model",
    4: "unsafe external data (refused; never opened)",
    5: "a resource limit was hit (memory or time)",
    INTERNAL_ERROR: "internal error: a bug in modelaudit (--debug shows the traceback; please report it)",
}
