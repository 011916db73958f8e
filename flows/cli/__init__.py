"""The ``cloud`` command.

Each module in this package that defines ``register(subparsers)`` adds its sub-commands; modules are discovered,
so adding a command never means editing this file. Keep heavy imports (torch, pymatgen, prefect) inside the
command handlers so that ``cloud --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from pathlib import Path

# Offline, project-local Prefect defaults (as scripts/ensure_env.sh sets them), applied before anything imports
# prefect, so that `cloud ...` run from an activated venv behaves like the README's commands. Users' own
# settings win.
_PREFECT_DEFAULTS = {
    "PREFECT_HOME": str(Path(__file__).resolve().parents[2] / ".prefect"),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "60",
}


def build_parser() -> argparse.ArgumentParser:
    from flows.cli.argtypes import OneLineParser  # sub-command parsers inherit its one-line errors

    parser = OneLineParser(
        prog="cloud",
        description="CLOUD screening: SCOPE encoding, the CLOUD model, Debye thermodynamics, screening campaigns.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "argtypes":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    for key, value in _PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    result = args.handler(args)
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
