"""The SCOPE version fingerprint: which encoder made a stored SCOPE string.

A source that already knows a candidate's canonical string (a generated pool, a SCOPE-level generator) stores it
next to the symmetry tolerance and :func:`scope_version`; a campaign with the same tolerance and version may then
skip the symmetry search (``screening.campaign.stored_scope``).

The fingerprint is a SHA-256 over what decides the string:

- the code of the modules that build it (:data:`MODULES`), as their syntax trees with docstrings removed, so a
  comment, a docstring or a reformatting leaves it unchanged and any change of logic changes it;
- the tables they load: Wyckoff multiplicities and relabelings (pymatgen's ``wyckoff-position-*.json.gz``),
  the affine-normalizer relabelings (``cloud_core/data/scope/affine_relabelings.json``) and the element order
  (electronegativity, Z) as :func:`~cloud_core.scope.tables.element_table` computes it;
- the versions of the symmetry backends (moyopy, spglib), which decide the space group of a structure.

It is conservative by design: a fingerprint that changes for a change that does not alter any string only sends
stored strings back through the full encode; it never lets a stale string through. The syntax-tree dump depends
on the Python minor version, which is part of the fingerprint for the same reason.
"""

from __future__ import annotations

import ast
import hashlib
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

#: Modules of :mod:`cloud_core.scope` whose code decides a SCOPE string.
MODULES: tuple[str, ...] = (
    "canonical",
    "encoder",
    "formula",
    "inputs",
    "record",
    "symmetry",
    "tables",
)
#: Distributions whose version decides the symmetry found for a structure.
BACKENDS: tuple[str, ...] = ("moyopy", "spglib")


def _code_digest(path: Path) -> bytes:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return ast.dump(tree, annotate_fields=False).encode()


@cache
def scope_version() -> str:
    """``scope-<16 hex>``: the fingerprint of the SCOPE encoder in this installation (cached per process)."""
    from cloud_core.scope.tables import AFFINE_RELABELINGS, _prototype_data_dir, element_table

    h = hashlib.sha256(f"python {sys.version_info[0]}.{sys.version_info[1]}".encode())
    here = Path(__file__).resolve().parent
    for name in MODULES:
        h.update(b"\0module " + name.encode() + b"\0" + _code_digest(here / f"{name}.py"))
    data = _prototype_data_dir()
    for path in (
        data / "wyckoff-position-multiplicities.json.gz",
        data / "wyckoff-position-relabelings.json.gz",
        AFFINE_RELABELINGS,
    ):
        h.update(b"\0file " + path.name.encode() + b"\0" + path.read_bytes())
    by_z = element_table()[0]
    for z in sorted(by_z):
        info = by_z[z]
        h.update(f"\0el {z} {info.symbol} {info.order_key!r}".encode())
    for dist in BACKENDS:
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "absent"
        h.update(f"\0{dist} {version}".encode())
    return "scope-" + h.hexdigest()[:16]
