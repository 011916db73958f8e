"""The common currency between sources and the screening pipeline.

A :class:`Candidate` is one crystal to screen: a stable id, where it came from, and either a full pymatgen
``Structure`` or, for composition-only candidates, a formula. On disk (Parquet) the structure travels as the
JSON of ``Structure.as_dict()``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

CANDIDATE_SCHEMA = pa.schema(
    [
        pa.field("candidate_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("formula", pa.string()),
        pa.field("structure_json", pa.string()),
        pa.field("meta_json", pa.string()),
    ]
)


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
    """

    id: str
    source: str
    structure: Any = None
    formula: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a candidate needs a non-empty id")
        if self.structure is None and not self.formula:
            raise ValueError(f"candidate {self.id!r} has neither a structure nor a formula")


def candidates_to_table(candidates: Iterable[Candidate]) -> pa.Table:
    """Serialise candidates to an Arrow table with :data:`CANDIDATE_SCHEMA`."""
    ids, sources, formulas, structures, metas = [], [], [], [], []
    for c in candidates:
        ids.append(c.id)
        sources.append(c.source)
        formula = c.formula
        if formula is None and c.structure is not None:
            formula = c.structure.composition.reduced_formula
        formulas.append(formula)
        structures.append(json.dumps(c.structure.as_dict()) if c.structure is not None else None)
        metas.append(json.dumps(c.meta) if c.meta else None)
    return pa.table([ids, sources, formulas, structures, metas], schema=CANDIDATE_SCHEMA)


def candidates_from_table(table: pa.Table) -> list[Candidate]:
    """Inverse of :func:`candidates_to_table`."""
    from pymatgen.core import Structure

    cols = table.select([f.name for f in CANDIDATE_SCHEMA]).to_pydict()
    out = []
    for cid, src, formula, sj, mj in zip(
        cols["candidate_id"], cols["source"], cols["formula"], cols["structure_json"], cols["meta_json"], strict=True
    ):
        structure = Structure.from_dict(json.loads(sj)) if sj else None
        out.append(Candidate(cid, src, structure, formula, json.loads(mj) if mj else {}))
    return out
