"""``cloud encode PATH... [--symprec X] [--backend moyopy|spglib]``: SCOPE strings of structure files.

Prints one JSON line per input, ``{"id": ..., "scope": ..., "spacegroup": ..., ...}`` or
``{"id": ..., "error": {"reason": ..., "message": ...}}``, and exits 0 once it has processed its inputs, even
when some were rejected (non-zero only for usage errors).
"""

from __future__ import annotations

import argparse
import json
import sys

from flows.cli.argtypes import symprec


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "encode",
        help="print the SCOPE string of structure files (CIF, POSCAR, ...), one JSON line each",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="structure files (CIF, POSCAR, ...)")
    parser.add_argument(
        "--symprec",
        type=symprec,
        default=None,
        help="symmetry tolerance in Angstrom tried first (default: settings' symprec, 0.01)",
    )
    parser.add_argument(
        "--backend", choices=["moyopy", "spglib"], default="moyopy", help="symmetry library (default moyopy)"
    )
    parser.set_defaults(handler=run_encode)


def run_encode(args: argparse.Namespace) -> int:
    from cloud_core.scope import ScopeError, encode

    symprec = args.symprec
    if symprec is None:
        from screening.settings import get_settings

        symprec = get_settings().symprec
    out = sys.stdout
    for path in args.paths:
        try:
            record = encode(path, symprec=symprec, backend=args.backend)
        except ScopeError as exc:
            line = {"id": path, "error": {"reason": str(exc.reason), "message": exc.message}}
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the others
            line = {
                "id": path,
                "error": {"reason": "internal_error", "message": f"{type(exc).__name__}: {exc}"},
            }
        else:
            line = {
                "id": path,
                "scope": record.to_string(),
                "spacegroup": record.spacegroup,
                "n_sites": record.n_sites,
                "symprec": record.symprec,
                "backend": record.backend,
            }
        out.write(json.dumps(line) + "\n")
        out.flush()
    return 0
