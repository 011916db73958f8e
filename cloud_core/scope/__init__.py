"""SCOPE: a canonical, coordinate-free string for a crystal.

``225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1`` = space group (number, Bravais lattice, point group) | canonical
Wyckoff orbits (element + multiplicity + letter) | exact reduced stoichiometry, counts digit by digit.
The same crystal gives the same string whatever its setting, origin, cell choice, supercell or site order.
See :mod:`cloud_core.scope.record` for the grammar.
"""

from __future__ import annotations

from cloud_core.scope.canonical import Orbit, canonical_orbits
from cloud_core.scope.encoder import DEFAULT_SYMPREC, STAGE, encode, encode_formula, encode_many
from cloud_core.scope.errors import ScopeError, ScopeRejectReason
from cloud_core.scope.record import ScopeRecord
from cloud_core.scope.symmetry import Backend
from cloud_core.scope.version import scope_version

__all__ = [
    "DEFAULT_SYMPREC",
    "STAGE",
    "Backend",
    "Orbit",
    "ScopeError",
    "ScopeRecord",
    "ScopeRejectReason",
    "canonical_orbits",
    "encode",
    "encode_formula",
    "encode_many",
    "scope_version",
]
