"""A TOML file read for a flag (--config, --hardware): errors are one line naming the flag and the file."""

from __future__ import annotations

import sys
from pathlib import Path

from modelaudit.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["read_toml"]


def read_toml(path: str | Path, flag: str) -> dict:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot be read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{flag} {path}: is not valid TOML ({exc})") from None
