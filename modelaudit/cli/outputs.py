"""Files `report --output-dir` writes: one name per model, distinct, and a planted link replaced, never
written through."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from modelaudit.encoding import error_line
from modelaudit.errors import UsageError

__all__ = ["report_names", "write_into", "SEPARATOR"]

SEPARATOR = "__"  # stands for a folder separator in the name of a model whose stem another model shares


def report_names(models: list[str], suffix: str) -> dict[str, str]:
    """The report's file name of each model: its stem and `suffix` (`mobilenet_v2.json`). Models
    sharing a stem (`a/model.onnx`, `b/model.onnx`: the same name on a case-insensitive disk too)
    are named after their paths below the folder they share, folders joined by SEPARATOR
    (`a__model.json`, `b__model.json`). Names that still meet are refused before any audit."""
    stems: dict[str, list[str]] = {}
    for path in models:
        stems.setdefault(Path(path).stem.casefold(), []).append(path)
    names = {path: Path(path).stem + suffix for path in models}
    shared = [path for group in stems.values() if len(group) > 1 for path in group]
    if shared:
        base = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in shared])
        for path in shared:
            below = Path(os.path.relpath(os.path.abspath(path), base)).with_suffix("")
            names[path] = SEPARATOR.join(below.parts) + suffix
    seen: dict[str, str] = {}
    for path in models:
        other = seen.setdefault(names[path].casefold(), path)
        if other != path:
            raise UsageError(
                f"--output-dir: {other} and {path} would both write {names[path]}", "audit them in two runs"
            )
    return names


def write_into(folder: Path, name: str, text: str) -> tuple[str | None, int]:
    """Writes `text` as folder/name: into a new file that then replaces the name, so a symbolic or
    hard link planted there is replaced, never written through. (None, 0), or (the error line, 2)."""
    target = folder / name
    try:
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    except OSError as exc:
        return error_line(f"--output-dir {folder}: cannot write {name} ({exc.strerror})"), 2
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            os.fchmod(stream.fileno(), 0o666 & ~_umask())  # as open() would have made it
            stream.write(text)
        os.replace(temporary, target)
    except OSError as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        return error_line(f"--output-dir {folder}: cannot write {name} ({exc.strerror})"), 2
    return None, 0


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
