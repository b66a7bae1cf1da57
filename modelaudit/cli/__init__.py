"""The `modelaudit` command: argparse subcommands; every ModelAuditError becomes one stderr line and its exit code."""

from .main import build_parser, main

__all__ = ["main", "build_parser"]
