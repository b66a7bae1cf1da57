"""The package's shape: imports run one way down the stages, and no module grows past 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "modelaudit"

# docs/architecture.md draws these stages; a module may import its own stage or a lower one
STAGES = {
    "modelaudit.encoding": -1,  # below the error types, whose one line it writes
    "modelaudit.errors": 0,
    "modelaudit._version": 0,
    "modelaudit.figures": 0.25,
    "modelaudit.units": 0.5,
    "modelaudit.load": 1,
    "modelaudit.shapes": 2,
    "modelaudit.graph": 3,
    "modelaudit.costs": 4,
    "modelaudit.runtime": 5,
    "modelaudit.render": 5,
    "modelaudit.analyses": 6,
    "modelaudit.cli": 7,
    "modelaudit.pytest_plugin": 7,
    "modelaudit.__main__": 8,
    "modelaudit": 8,
}
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _stage(module: str) -> str:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        head = ".".join(parts[:i])
        if head in STAGES:
            return head
    raise KeyError(module)


def _imports(path: Path) -> list[tuple[int, str]]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "modelaudit":  # `from modelaudit import x`: x names the module
                found += [(node.lineno, f"modelaudit.{a.name}") for a in node.names]
            elif target.startswith("modelaudit."):
                found.append((node.lineno, target))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("modelaudit.")]
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_run_down_the_stages(path):
    source = _stage(_module_name(path))
    wrong = []
    for line, target in _imports(path):
        stage = _stage(target)
        if stage == source:
            continue
        if STAGES[stage] >= STAGES[source]:
            wrong.append(f"line {line}: {target} ({stage}) is not below {source}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_module_is_small(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{lines} lines: split it along a seam the reader can name"


def test_every_stage_folder_is_known():
    for folder in PACKAGE.iterdir():
        if folder.is_dir() and (folder / "__init__.py").exists():
            assert f"modelaudit.{folder.name}" in STAGES, f"{folder.name}/ is not in docs/architecture.md's stages"


MAX_FUNCTION_LINES = 80  # the design aims at ~60
MAX_PARAMETERS = 8  # the design aims at ~6; self and cls do not count, *args and **kwargs one each


def _too_large(path: Path) -> dict[str, str]:
    """The functions of a module over either limit: "path::name" -> what is over."""
    found = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        a = node.args
        named = a.posonlyargs + a.args + a.kwonlyargs
        params = len(named) + bool(a.vararg) + bool(a.kwarg) - bool(named[:1] and named[0].arg in ("self", "cls"))
        lines = node.end_lineno - node.lineno + 1
        if params > MAX_PARAMETERS or lines > MAX_FUNCTION_LINES:
            found[f"{path.relative_to(PACKAGE.parent).as_posix()}::{node.name}"] = f"{params} parameters, {lines} lines"
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_functions_are_small(path):
    over = _too_large(path)
    assert not over, (
        f"over {MAX_PARAMETERS} parameters or {MAX_FUNCTION_LINES} lines: {over}; pass a small typed value, "
        "split along a seam the reader can name"
    )


def test_a_row_holds_what_the_audit_computes():
    """One row type of at most 18 fields; each analysis's columns live in its table on the Report."""
    from dataclasses import fields

    from modelaudit.costs.rows import ANALYSIS_COLUMNS, Row

    names = {f.name for f in fields(Row)}
    assert len(names) <= 18 and not names & ANALYSIS_COLUMNS.keys()
