"""Stored SCOPE strings: when a campaign trusts a candidate's string instead of searching its symmetry.

A source that knows a candidate's canonical string stores it (``scope``) with the symmetry tolerance it was made
at (``scope_symprec``) and the encoder's fingerprint (``scope_version``; :func:`cloud_core.scope.scope_version`),
see :mod:`screening.sources.candidate`. The encode step then uses the stored string for

- a candidate with a structure, when its tolerance equals the campaign's ``symprec`` and its version is this
  installation's: no structure is read and no symmetry is searched (space group and site count come from the
  string); any other candidate with a structure is encoded in full, whatever it stores;
- a SCOPE-only candidate (a string and no structure, e.g. from ``cloud build-scope-pool``): the string is all
  there is, whatever its tolerance or version.

Every stored string the campaign uses goes through :func:`validate_stored_scopes` (grammar, canonical Wyckoff
letters and order, stoichiometry against the orbits); a string that fails is a reject with its reason.

Trust is checked once, when the campaign is planned (:func:`check_stored_scopes`): a fixed-seed random sample of
``max(200, 0.5%)`` of the trusted candidates that have a structure is encoded in full, and a single difference
fails the campaign before anything is committed. SCOPE-only candidates cannot be re-encoded (there is no
structure); for them the check is the validator, which re-derives the canonical form of every string, and the
generator that made them builds each string from a canonical record by construction.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: At least this many trusted candidates are re-encoded when a campaign is planned ...
MIN_SAMPLE = 200
#: ... or this fraction of them, whichever is more.
SAMPLE_FRACTION = 0.005
#: The sample's seed: the same source gives the same sample.
SAMPLE_SEED = 14
#: Backend name written on candidates whose SCOPE string was taken from the source.
STORED_BACKEND = "stored"


class StoredScopeMismatch(ValueError):
    """Stored SCOPE strings differ from a full encode: the source is stale or corrupt."""


@dataclass(frozen=True)
class StoredScopeCheck:
    """What :func:`check_stored_scopes` found."""

    n_trusted: int  # candidates whose stored string is used (structure or not)
    n_scope_only: int  # of which have no structure
    n_checked: int  # re-encoded in full


def trusted_mask(table: pa.Table, symprec: float) -> np.ndarray:
    """Boolean mask of the rows whose stored SCOPE string the encode step uses (see the module docstring)."""
    from cloud_core.scope import scope_version

    n = table.num_rows
    if "scope" not in table.column_names or n == 0:
        return np.zeros(n, dtype=bool)
    has_scope = pc.fill_null(pc.invert(pc.is_null(table.column("scope"))), False)
    no_structure = pc.is_null(table.column("structure_json"))
    tol = pc.fill_null(
        pc.less_equal(pc.abs(pc.subtract(table.column("scope_symprec"), symprec)), 1e-12 * max(1.0, symprec)),
        False,
    )
    same = pc.fill_null(pc.equal(table.column("scope_version"), scope_version()), False)
    ok = pc.and_(has_scope, pc.or_(no_structure, pc.and_(tol, same)))
    return np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)


def sample_size(n: int) -> int:
    """How many of ``n`` trusted candidates :func:`check_stored_scopes` re-encodes."""
    return min(n, max(MIN_SAMPLE, math.ceil(SAMPLE_FRACTION * n)))


def check_stored_scopes(table: pa.Table, symprec: float) -> StoredScopeCheck:
    """Re-encode a fixed-seed sample of the trusted candidates that have a structure; raise on any difference.

    Raises
    ------
    StoredScopeMismatch
        With a one-line message naming how many differ and the first one.
    """
    from pymatgen.core import Structure

    from cloud_core.scope import encode

    trusted = trusted_mask(table, symprec)
    if not trusted.any():
        return StoredScopeCheck(0, 0, 0)
    has_structure = np.asarray(
        pc.invert(pc.is_null(table.column("structure_json"))).to_numpy(zero_copy_only=False), dtype=bool
    )
    candidates = np.flatnonzero(trusted & has_structure)
    n_scope_only = int((trusted & ~has_structure).sum())
    if not len(candidates):
        return StoredScopeCheck(int(trusted.sum()), n_scope_only, 0)
    rng = np.random.default_rng(SAMPLE_SEED)
    pick = np.sort(rng.choice(candidates, size=sample_size(len(candidates)), replace=False))
    sample = table.take(pa.array(pick)).select(["candidate_id", "structure_json", "scope"]).to_pydict()
    bad: list[str] = []
    for cid, sj, stored in zip(
        sample["candidate_id"], sample["structure_json"], sample["scope"], strict=True
    ):
        try:
            got = encode(Structure.from_dict(json.loads(sj)), symprec=symprec).to_string()
        except Exception as exc:  # the full encode rejects what the source stored a string for
            got = f"<{getattr(exc, 'reason', type(exc).__name__)}>"
        if got != stored:
            bad.append(f"{cid}: stored {stored!r}, encoded {got!r}")
    if bad:
        raise StoredScopeMismatch(
            f"{len(bad)} of {len(pick)} sampled stored SCOPE strings differ from a full encode at symprec "
            f"{symprec:g} (first: {bad[0]}); the source's scope column is stale or corrupt: rebuild the pool "
            "(cloud build-pool) or drop its scope columns"
        )
    return StoredScopeCheck(int(trusted.sum()), n_scope_only, len(pick))


def validate_stored_scopes(strings: list[str]) -> list[object]:
    """Validate stored SCOPE strings: for each, its parsed ``ScopeRecord`` or the ``ScopeError`` it raised.

    The one place where campaigns validate stored strings. It parses with the grammar of
    :meth:`cloud_core.scope.ScopeRecord.from_string` (canonical letters and order, Bravais lattice and point
    group against the number, stoichiometry against the orbits); the shared SCOPE validator
    (``cloud_core.scope.validate``) replaces this body when it lands.
    """
    from cloud_core.scope import ScopeError, ScopeRecord

    out: list[object] = []
    for s in strings:
        try:
            out.append(ScopeRecord.from_string(s))
        except ScopeError as exc:
            out.append(exc)
    return out
