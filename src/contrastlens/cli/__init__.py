"""The `contrastlens` command line: one module per subcommand in this package.

Each module here defines `register(subparsers)`, which adds its parser and sets `func` (a
callable taking the parsed namespace and returning an exit code). Modules import heavy
dependencies inside `func`, so `contrastlens --help` stays fast. This file only discovers the
modules, parses and dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from contrastlens import __version__
from contrastlens.errors import ConfigError, DataError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="contrastlens",
        description="Contrastive learning seen through the similarities of embeddings.",
    )
    parser.add_argument("--version", action="version", version=f"contrastlens {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (DataError, ConfigError, ValueError, FileNotFoundError) as err:
        if os.environ.get("CONTRASTLENS_DEBUG"):
            raise
        print(f"contrastlens {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
