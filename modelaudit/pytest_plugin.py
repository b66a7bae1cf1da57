"""pytest plugin (entry point `pytest11`): a `model_audit` fixture and a Markdown summary of every
model audited in the session (`--modelaudit-report=PATH`, e.g. $GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelaudit.analyses.pipeline import audit
from modelaudit.render.common import human, human_bytes, safe

__all__ = ["model_audit"]

_AUDITED = pytest.StashKey[list]()


def pytest_addoption(parser):
    group = parser.getgroup("modelaudit")
    group.addoption(
        "--modelaudit-report",
        metavar="PATH",
        default=None,
        help="append a Markdown summary of every model audited by the model_audit fixture to PATH",
    )


def pytest_configure(config):
    config.stash[_AUDITED] = []


@pytest.fixture
def model_audit(request):
    """`model_audit(path, inputs=None, dims=None)` audits a model and returns its Report;
    `assert report.totals.macs < 600e6` (an incomplete total raises rather than pass: ask it
    `report.totals.macs.provably_at_most(600e6)`, or fix the sizes with `dims`). A relative path
    is taken from pytest's rootdir, so the test passes from whichever folder pytest is started."""
    audited = request.config.stash[_AUDITED]

    def run(model, inputs=None, dims=None):
        root = request.config.rootpath
        if isinstance(model, (str, os.PathLike)) and not Path(model).is_absolute():
            model = root / model
        report = audit(model, inputs=inputs, dims=dims, findings=False)
        audited.append((request.node.nodeid, _shown(model, root), report))
        return report

    return run


def _shown(model, root: Path) -> str:
    """The model as the summary names it: its path from pytest's rootdir when it is under it
    (`models/m.onnx`, whichever folder pytest started in), else its normalised absolute path."""
    if not isinstance(model, (str, os.PathLike)):
        return "(ModelProto)"
    path = Path(os.path.normpath(os.path.abspath(model)))
    try:
        return path.relative_to(Path(os.path.normpath(os.path.abspath(root)))).as_posix()
    except ValueError:
        return str(path)


def _row(test: str, model: str, report) -> str:
    """A Markdown row: each total as the report prints it, `≥ x` where only a floor is known and
    `?` where nothing is (never a 0 for an unknown total)."""
    t = report.totals
    cells = [
        safe(model),
        human(t.params),
        human_bytes(t.weight_bytes),
        human(t.macs),
        human(t.flops),
        human_bytes(t.peak_activation_bytes),
        safe(test),
    ]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def pytest_sessionfinish(session, exitstatus):
    path = session.config.getoption("--modelaudit-report")
    audited = session.config.stash.get(_AUDITED, [])
    if not path or not audited:
        return
    lines = [
        "## modelaudit",
        "",
        "| model | params | weight bytes | MACs | FLOPs | peak activations | test |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [_row(test, model, report) for test, model, report in audited]
    with Path(path).open("a", encoding="utf-8") as fh:  # a CI job summary is appended to, never replaced
        fh.write("\n".join(lines) + "\n\n")
