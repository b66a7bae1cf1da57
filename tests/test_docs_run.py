"""Every example in README.md and docs/*.md runs: shell blocks (and the `run:` lines of CI files)
exit 0, `$ command` transcripts print what the doc shows, Python blocks run.

The commands run verbatim in a workspace that holds what they name: `model.onnx` is the sample
MobileNetV2, `llm.onnx` the sample transformer block (symbolic batch and seq), `llama.onnx` a small
decoder with a KV cache (tests/decoders.py), `benchmarks/` the repository's, `models/` a folder of
models, `pyproject.toml` the budgets that docs/ci.md shows, a git repository with a `main` branch.
A block that cannot run here says so in the doc, right above it, with its reason:
    <!-- docs-test: skip pip: installs packages; this suite runs from the checkout -->
skips the commands of the next block that start with `pip` (`skip *`: the whole block).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import onnx
import pytest
from conftest import ROOT, SAMPLES

try:
    import tomllib
except ImportError:  # Python 3.10: the tomli dependency
    import tomli as tomllib

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
_MARKER = re.compile(r"<!--\s*docs-test:\s*skip\s+(\S+?)\s*:\s*(.*?)\s*-->", re.S)
SHELL = ("bash", "sh", "shell")
ELLIPSIS = "…"  # a transcript line of its own: the doc cut some lines of the output here


@dataclass
class Example:
    doc: str
    line: int
    lang: str
    body: str
    skip: tuple[str, ...] = ()  # programs (first words) not run here; ("*",) for the whole block
    reason: str = ""

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def examples() -> list[Example]:
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for m in _FENCE.finditer(text):
            lang, body = m.group(1), m.group(2)
            transcript = lang in ("", "console", "text") and body.startswith("$ ")
            if lang not in (*SHELL, "yaml", "python") and not transcript:
                continue
            if lang == "yaml" and not _yaml_commands(body):
                continue
            ex = Example(str(path.relative_to(ROOT)), text[: m.start()].count("\n") + 1, lang, body)
            before = text[: m.start()].rstrip()
            marker = _MARKER.fullmatch(before[before.rfind("<!--") :]) if before.endswith("-->") else None
            if marker:  # the comment right above the fence, and only that one
                ex.skip, ex.reason = tuple(marker.group(1).split(",")), marker.group(2)
            found.append(ex)
    return found


def _strip_comment(line: str) -> str:
    """The line without its trailing `# comment` (a # inside quotes, or not after a space, stays)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def _yaml_commands(body: str) -> list[str]:
    """`run:` values and the items of `script:` lists."""
    commands, script_indent = [], None
    for line in body.splitlines():
        indent = len(line) - len(line.lstrip())
        if script_indent is not None and (indent <= script_indent or not line.lstrip().startswith("- ")):
            script_indent = None
        if script_indent is not None:
            commands.append(line.lstrip()[2:])
        elif m := re.match(r"\s*(?:-\s+)?run:\s*(.+)", line):
            commands.append(m.group(1))
        elif re.match(r"\s*script:\s*$", line):
            script_indent = indent
    return [c for c in (_strip_comment(c) for c in commands) if c]


def shell_commands(ex: Example) -> list[str]:
    if ex.lang == "yaml":
        lines = _yaml_commands(ex.body)
    else:
        lines = [c for c in (_strip_comment(line) for line in ex.body.replace("\\\n", " ").splitlines()) if c]
    kept = []
    for line in lines:  # `a && b`: each part is a command of its own for skipping
        parts = [p.strip() for p in line.split(" && ")]
        parts = [p for p in parts if p.split()[0] not in ex.skip]
        if parts:
            kept.append(" && ".join(parts))
    return kept


def transcripts(ex: Example) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) of each `$ ` line of a transcript block."""
    out: list[tuple[str, list[str]]] = []
    for line in ex.body.rstrip("\n").splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        else:
            out[-1][1].append(line.rstrip())
    return out


def _shim(bin_dir: Path, name: str, argv: str) -> None:
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" {argv} "$@"\n', encoding="utf-8")
    path.chmod(0o755)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A project as the docs picture it: models, budgets, reports of main, a git history."""
    root = tmp_path_factory.mktemp("docs") / "project"
    (root / "models" / "main").mkdir(parents=True)
    (root / "reports").mkdir()
    (root / "sample_models").symlink_to(SAMPLES)
    (root / "benchmarks").symlink_to(ROOT / "benchmarks")  # roofline.md builds its Llama-3-8B-shaped file
    shutil.copy(SAMPLES / "mobilenet_v2.onnx", root / "model.onnx")
    shutil.copy(SAMPLES / "transformer_block.onnx", root / "llm.onnx")
    shutil.copy(SAMPLES / "mobilenet_v2.onnx", root / "models" / "mobilenet_v2.onnx")
    shutil.copy(SAMPLES / "mobilenet_v2.onnx", root / "models" / "main" / "mobilenet_v2.onnx")
    shutil.copy(SAMPLES / "mobilenet_v1.onnx", root / "models" / "detector.onnx")
    from decoders import gpt_decoder

    onnx.save(gpt_decoder(), root / "llama.onnx")  # a decoder exported with its KV cache
    ci = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    (root / "pyproject.toml").write_text(re.search(r"```toml\n(.*?)```", ci, re.S).group(1), encoding="utf-8")
    (root / "tests").mkdir()
    (root / "tests" / "test_budgets.py").write_text(
        re.search(r"```python\n(def test_.*?)```", ci, re.S).group(1), encoding="utf-8"
    )
    bin_dir = root.parent / "bin"
    bin_dir.mkdir()
    _shim(bin_dir, "modelaudit", "-m modelaudit")
    _shim(bin_dir, "python", "")
    _shim(bin_dir, "pytest", "-m pytest -p no:cacheprovider")
    refuse = bin_dir / "pip"  # never install from a test: a block that does needs its skip marker
    refuse.write_text(
        '#!/bin/sh\necho "docs test: pip is not run here; mark the block '
        '<!-- docs-test: skip pip: REASON -->" >&2\nexit 97\n',
        encoding="utf-8",
    )
    refuse.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "GITHUB_STEP_SUMMARY": str(root.parent / "summary.md"),
        "COLUMNS": "400",
        "GIT_AUTHOR_NAME": "docs",
        "GIT_AUTHOR_EMAIL": "docs@example.com",
        "GIT_COMMITTER_NAME": "docs",
        "GIT_COMMITTER_EMAIL": "docs@example.com",
    }
    for command in (
        "modelaudit report models/detector.onnx --format json -o reports/detector-main.json",
        "modelaudit report model.onnx --format json -o main-report.json",
        "git init -q -b main && git add -A && git commit -qm main && git remote add origin . "
        "&& git fetch -q origin && git checkout -q -b feature",
    ):
        subprocess.run(["bash", "-c", command], cwd=root, env=env, check=True, capture_output=True)
    return root, env


def _run(command: str, workspace) -> subprocess.CompletedProcess:
    root, env = workspace
    return subprocess.run(["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True, timeout=600)


def test_every_doc_has_its_examples_found():
    found = {ex.doc for ex in examples()}
    assert {"README.md", "docs/ci.md", "docs/api.md", "docs/worked-examples.md"} <= found


def test_skip_markers_give_a_reason_and_match_their_block():
    markers = sum(len(re.findall(r"<!--\s*docs-test:", p.read_text(encoding="utf-8"))) for p in DOCS)
    assert markers == sum(1 for ex in examples() if ex.skip), "a docs-test marker not right above its block"
    for ex in examples():
        if not ex.skip:
            continue
        assert ex.reason, f"{ex.id}: a skip marker says why"
        if ex.skip != ("*",):
            firsts = {
                part.split()[0]
                for line in (
                    _yaml_commands(ex.body) if ex.lang == "yaml" else [_strip_comment(x) for x in ex.body.splitlines()]
                )
                for part in line.split(" && ")
                if part.strip()
            }
            assert set(ex.skip) <= firsts, f"{ex.id}: the marker skips {ex.skip}, which the block does not run"


@pytest.mark.parametrize("ex", examples(), ids=lambda ex: ex.id)
def test_example_runs(ex: Example, workspace):
    if ex.skip == ("*",):
        pytest.skip(f"{ex.id}: {ex.reason}")
    if ex.lang == "python":
        root, _ = workspace
        if "def test_" in ex.body:  # a pytest test, as the doc says to write it
            (root / "tests" / "test_doc_example.py").write_text(ex.body, encoding="utf-8")
            result = _run("pytest -q tests/test_doc_example.py", workspace)
        else:
            (root / "doc_example.py").write_text(ex.body, encoding="utf-8")
            result = _run("python doc_example.py", workspace)
        assert result.returncode == 0, f"{ex.id}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        shown = _printed(ex.body)
        assert _matches_in_order(shown, result.stdout.splitlines()), f"{ex.id}: the doc shows {shown}:\n{result.stdout}"
        return
    if ex.lang in (*SHELL, "yaml"):
        failed = []
        for command in shell_commands(ex):
            result = _run(command, workspace)
            if result.returncode:
                failed.append(f"`{command}` exited {result.returncode}: {result.stderr[-1500:]}")
        assert not failed, f"{ex.id}:\n" + "\n".join(failed)
        return
    for command, expected in transcripts(ex):
        result = _run(command, workspace)
        actual = [line.rstrip() for line in result.stdout.rstrip("\n").splitlines()]
        assert _matches(expected, actual), f"{ex.id}: `{command}` printed:\n" + "\n".join(actual)


def _printed(body: str) -> list[str]:
    """What the doc says a top-level `print(...)  # shown` prints: the comment up to " = " or "...",
    which the line printed starts with (the rest of the comment explains)."""
    shown = []
    for line in body.splitlines():
        m = re.match(r"print\(.*\)\s+# (.+)$", line)
        if m:
            shown.append(m.group(1).split(" = ")[0].split("...")[0].strip())
    return shown


def _matches_in_order(shown: list[str], printed: list[str]) -> bool:
    lines = iter(printed)
    return all(any(line.startswith(expected) for line in lines) for expected in shown)


def _matches(expected: list[str], actual: list[str]) -> bool:
    """Line for line, where a line "…" alone stands for any lines the doc cut."""
    if ELLIPSIS not in expected:
        return expected == actual
    i = 0
    for chunk in "\n".join(expected).split(f"\n{ELLIPSIS}\n"):
        lines = chunk.split("\n")
        while i + len(lines) <= len(actual) and actual[i : i + len(lines)] != lines:
            i += 1
        if i + len(lines) > len(actual):
            return False
        i += len(lines)
    return True


def test_toml_examples_are_files_the_tool_accepts(tmp_path):
    """Every TOML block in the docs is a budget file, a chip spec or a plugin's entry point that the
    tool takes as shown (a block of any other kind fails here until this test learns it)."""
    from modelaudit.analyses.hardware import spec_from_dict
    from modelaudit.cli.config import load_config
    from modelaudit.costs.rules import ENTRY_POINT_GROUP

    blocks = [(path, body) for path in DOCS for body in re.findall(r"```toml\n(.*?)```", path.read_text("utf-8"), re.S)]
    kinds = []
    for path, body in blocks:
        data = tomllib.loads(body)
        if "tool" in data and "modelaudit" in data["tool"]:
            for model in data["tool"]["modelaudit"].get("models", []):
                if "baseline" in model:  # a report of main, as `modelaudit report --format json` writes it
                    baseline = tmp_path / model["baseline"]
                    baseline.parent.mkdir(parents=True, exist_ok=True)
                    subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "modelaudit",
                            "report",
                            str(SAMPLES / "conv3x3.onnx"),
                            "--format",
                            "json",
                            "-o",
                            str(baseline),
                        ],
                        check=True,
                    )
            config = tmp_path / "pyproject.toml"
            config.write_text(body, encoding="utf-8")
            checks, _ = load_config(config)
            assert checks, f"{path.name}: the budget example configures no model"
            kinds.append("budgets")
        elif "peak_tflops" in data or "peak_tflops" in data.get("hardware", {}):
            spec = spec_from_dict(data.get("hardware", data), f"{path.name} example")
            assert spec.name == data.get("hardware", data)["name"]
            kinds.append("spec")
        elif "project" in data and "entry-points" in data["project"]:
            assert set(data["project"]["entry-points"]) == {ENTRY_POINT_GROUP}, path.name
            kinds.append("plugin")
        else:
            pytest.fail(f"{path.name}: a TOML example of no kind this test knows:\n{body}")
    assert sorted(set(kinds)) == ["budgets", "plugin", "spec"], kinds


def test_pre_commit_example_names_a_real_hook_and_rev():
    ci = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n# .pre-commit-config.yaml\n(.*?)```", ci, re.S).group(1)
    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    for hook in re.findall(r"- id: (\S+)", block):
        assert f"- id: {hook}\n" in hooks
    rev = re.search(r"rev: (\S+)", block).group(1)
    tags = subprocess.run(["git", "tag"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert rev == "COMMIT" or rev in tags, f"rev {rev} is neither the placeholder nor a tag of this repository"
