"""The `modelaudit` command: argparse subcommands; every ModelAuditError becomes one stderr line and its exit code."""

from .main import main
from .parser import build_parser

__all__ = ["main", "build_parser"]
