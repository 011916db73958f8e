"""The common currency between sources and the screening pipeline.

A :class:`Candidate` is one crystal to screen: a stable id, where it came from, and either a full pymatgen
``Structure`` or, for composition-only candidates, a formula. On disk (Parquet) the structure travels as the
JSON of ``Structure.as_dict()``.

A source that already knows a candidate's canonical SCOPE string (a generated pool, a SCOPE-level generator)
stores it in ``scope`` with the symmetry tolerance it was made at (``scope_symprec``; null for strings made without
a symmetry search) and the encoder's fingerprint (``scope_version``, :func:`cloud_core.scope.scope_version`): a
campaign at the same tolerance and version then skips the symmetry search (:mod:`screening.campaign.stored_scope`).
A SCOPE-only candidate has the string and no structure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

#: The columns every candidate table has (files written before stored SCOPE strings have only these).
BASE_CANDIDATE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("candidate_id", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("formula", pa.string()),
    pa.field("structure_json", pa.string()),
    pa.field("meta_json", pa.string()),
)
#: The stored SCOPE string, the tolerance it was made at and the encoder's fingerprint (all nullable).
SCOPE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("scope", pa.string()),
    pa.field("scope_symprec", pa.float64()),
    pa.field("scope_version", pa.string()),
)
BASE_CANDIDATE_SCHEMA = pa.schema(list(BASE_CANDIDATE_FIELDS))
CANDIDATE_SCHEMA = pa.schema([*BASE_CANDIDATE_FIELDS, *SCOPE_FIELDS])


@dataclass(frozen=True, slots=True)
class Candidate:
    """One crystal to screen.

    Parameters
    ----------
    id
        Stable id, unique within a campaign (e.g. ``"mp-149"``, ``"proto-000123"``, a file name).
    source
        Where it came from (``"mp"``, ``"prototype_pool"``, ``"pyxtal_pool"``, ``"files"``, ...).
    structure
        A pymatgen ``Structure``, or ``None`` for a composition-only candidate.
    formula
        The reduced formula; required when ``structure`` is ``None``.
    meta
        Small JSON-able extras (e.g. MP's energy above hull).
    scope, scope_symprec, scope_version
        The canonical SCOPE string when the source knows it, the symmetry tolerance it was made at (``None``:
        made without a symmetry search) and :func:`cloud_core.scope.scope_version` of the encoder that made it.
    """

    id: str
    source: str
    structure: Any = None
    formula: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    scope: str | None = None
    scope_symprec: float | None = None
    scope_version: str | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a candidate needs a non-empty id")
        if self.structure is None and not self.formula and not self.scope:
            raise ValueError(f"candidate {self.id!r} has neither a structure, a formula nor a SCOPE string")


def candidates_to_table(candidates: Iterable[Candidate]) -> pa.Table:
    """Serialise candidates to an Arrow table with :data:`CANDIDATE_SCHEMA`."""
    cols: dict[str, list[Any]] = {f.name: [] for f in CANDIDATE_SCHEMA}
    for c in candidates:
        formula = c.formula
        if formula is None and c.structure is not None:
            formula = c.structure.composition.reduced_formula
        cols["candidate_id"].append(c.id)
        cols["source"].append(c.source)
        cols["formula"].append(formula)
        cols["structure_json"].append(json.dumps(c.structure.as_dict()) if c.structure is not None else None)
        cols["meta_json"].append(json.dumps(c.meta) if c.meta else None)
        append_scope(cols, c)
    return pa.table(cols, schema=CANDIDATE_SCHEMA)


def append_scope(cols: dict[str, list[Any]], c: Candidate) -> None:
    """Append ``c``'s stored SCOPE columns to column lists keyed by :data:`SCOPE_FIELDS` names."""
    cols["scope"].append(c.scope)
    cols["scope_symprec"].append(c.scope_symprec)
    cols["scope_version"].append(c.scope_version)


def with_scope_columns(table: pa.Table) -> pa.Table:
    """``table`` with the :data:`SCOPE_FIELDS` it lacks added as nulls, cast to :data:`CANDIDATE_SCHEMA`."""
    for f in SCOPE_FIELDS:
        if f.name not in table.column_names:
            table = table.append_column(f, pa.nulls(table.num_rows, f.type))
    return table.select(CANDIDATE_SCHEMA.names).cast(CANDIDATE_SCHEMA)


def candidates_from_table(table: pa.Table) -> list[Candidate]:
    """Inverse of :func:`candidates_to_table`."""
    from pymatgen.core import Structure

    cols = with_scope_columns(table).to_pydict()
    out = []
    for i, sj in enumerate(cols["structure_json"]):
        mj = cols["meta_json"][i]
        structure = Structure.from_dict(json.loads(sj)) if sj else None
        out.append(
            Candidate(
                cols["candidate_id"][i],
                cols["source"][i],
                structure,
                cols["formula"][i],
                json.loads(mj) if mj else {},
                cols["scope"][i],
                cols["scope_symprec"][i],
                cols["scope_version"][i],
            )
        )
    return out
