"""Write candidate pools to compact Parquet files (the :data:`~screening.sources.candidate.CANDIDATE_SCHEMA`).

Structures are stored as the lightweight JSON of ``Structure.as_dict(verbosity=0)`` (no Cartesian coordinates, no
derived lattice parameters) with floats rounded, which ``Structure.from_dict`` and
:func:`~screening.sources.candidate.candidates_from_table` read back unchanged. Files are written to a temporary
name and renamed, so a crash never leaves a half-written pool under the final name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from screening.sources.candidate import CANDIDATE_SCHEMA, Candidate, append_scope


def compact_structure_dict(structure: Any, digits: int = 6) -> dict[str, Any]:
    """``Structure.as_dict(verbosity=0)`` with lattice and fractional coordinates rounded to ``digits``."""
    d = structure.as_dict(verbosity=0)
    d["lattice"] = {"matrix": [[round(float(x), digits) for x in row] for row in d["lattice"]["matrix"]]}
    if "pbc" in structure.lattice.as_dict():
        d["lattice"]["pbc"] = list(structure.lattice.pbc)
    sites = []
    for site in d["sites"]:
        out = {"species": site["species"], "abc": [round(float(x), digits) for x in site["abc"]]}
        if site.get("properties"):
            out["properties"] = site["properties"]
        sites.append(out)
    d["sites"] = sites
    if not d.get("properties"):
        d.pop("properties", None)
    return d


def candidates_to_compact_table(candidates: Iterable[Candidate], digits: int = 6) -> pa.Table:
    """Like :func:`~screening.sources.candidate.candidates_to_table`, with compact structure JSON."""
    cols: dict[str, list[Any]] = {f.name: [] for f in CANDIDATE_SCHEMA}
    for c in candidates:
        cols["candidate_id"].append(c.id)
        cols["source"].append(c.source)
        formula = c.formula
        if formula is None and c.structure is not None:
            formula = c.structure.composition.reduced_formula
        cols["formula"].append(formula)
        cols["structure_json"].append(
            json.dumps(compact_structure_dict(c.structure, digits), separators=(",", ":"))
            if c.structure is not None
            else None
        )
        cols["meta_json"].append(
            json.dumps(c.meta, separators=(",", ":"), sort_keys=True) if c.meta else None
        )
        append_scope(cols, c)
    return pa.table(cols, schema=CANDIDATE_SCHEMA)


def write_candidate_parquet(
    batches: Iterable[list[Candidate]],
    path: str | Path,
    *,
    digits: int = 6,
    compression: str = "zstd",
    compression_level: int = 19,
    row_group_size: int = 4096,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Stream candidate batches into one Parquet file; return the number of rows written.

    Parameters
    ----------
    batches
        Iterable of candidate lists (e.g. a pool's ``batches()``).
    path
        Output file; written as ``<path>.tmp`` and renamed when complete.
    digits
        Decimals kept in structure floats.
    compression, compression_level
        Parquet codec and level.
    row_group_size
        Rows per Parquet row group.
    progress
        Called with the running row count after each batch.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    try:
        with pq.ParquetWriter(
            tmp, CANDIDATE_SCHEMA, compression=compression, compression_level=compression_level
        ) as writer:
            for batch in batches:
                if not batch:
                    continue
                writer.write_table(candidates_to_compact_table(batch, digits), row_group_size=row_group_size)
                n += len(batch)
                if progress is not None:
                    progress(n)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return n
