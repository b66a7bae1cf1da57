"""The `modelaudit` command: argparse subcommands; every ModelAuditError becomes one stderr line and its exit code."""

from .main import main, run
from .parser import build_parser

__all__ = ["main", "run", "build_parser"]
