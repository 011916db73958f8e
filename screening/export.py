"""Structures out: a campaign's leaders for an objective as CIF or POSCAR files, for DFT follow-up.

One file per leader named by its candidate id (``<id>.cif`` / ``<id>.vasp``) plus ``index.csv`` (rank, id,
file, formula, SCOPE, score and stability columns). Structures come from the campaign's own inputs (the chunk
input files keep each candidate's structure as written at plan time), so a file re-encodes to the SCOPE string
of its row. Composition-only leaders have no structure: they are listed in the index with no file.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from screening.objectives import Ranking
from screening.ranking import Condition, rank_objective
from screening.store import ResultsStore


class StructureFormat(StrEnum):
    """File formats of exported structures."""

    CIF = "cif"
    POSCAR = "poscar"


_SUFFIX = {StructureFormat.CIF: ".cif", StructureFormat.POSCAR: ".vasp"}
INDEX_COLUMNS = ("rank", "candidate_id", "file", "formula", "chemsys", "spacegroup", "score", "e_above_hull",
                 "e_above_hull_std", "known_composition", "scope")  # fmt: skip


def structures_of(store: ResultsStore, campaign_id: str, candidate_ids: Iterable[str]) -> dict[str, Any]:
    """``{candidate id: pymatgen Structure}`` from the campaign's chunk inputs (ids without one are left out)."""
    from pymatgen.core import Structure

    wanted = list(dict.fromkeys(candidate_ids))
    manifest = store.read_manifest(campaign_id)
    rows = manifest.filter(pc.is_in(manifest.column("candidate_id"), value_set=pa.array(wanted, pa.string())))
    by_chunk: dict[str, list[str]] = {}
    for cid, chunk in zip(
        rows.column("candidate_id").to_pylist(), rows.column("chunk_id").to_pylist(), strict=True
    ):
        by_chunk.setdefault(chunk, []).append(cid)
    out: dict[str, Any] = {}
    for chunk, ids in by_chunk.items():
        table = store.read_input(campaign_id, chunk)
        table = table.filter(pc.is_in(table.column("candidate_id"), value_set=pa.array(ids, pa.string())))
        for cid, sj in zip(
            table.column("candidate_id").to_pylist(), table.column("structure_json").to_pylist(), strict=True
        ):
            if sj:
                out[cid] = Structure.from_dict(json.loads(sj))
    return out


def _safe_name(candidate_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.~" else "_" for c in candidate_id)


def write_structure(structure: Any, path: Path, fmt: StructureFormat) -> None:
    """Write one structure (atomically: temp name, then rename)."""
    if fmt is StructureFormat.CIF:
        from pymatgen.io.cif import CifWriter

        text = str(CifWriter(structure))
    else:
        from pymatgen.io.vasp import Poscar

        text = Poscar(structure).get_str()
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def export_leaders(
    store: ResultsStore,
    campaign_id: str,
    ranking: Ranking,
    out_dir: str | Path,
    *,
    k: int = 20,
    fmt: StructureFormat = StructureFormat.CIF,
    conditions: Iterable[Condition] = (),
    temperature_K: float = 300.0,
) -> Path:
    """Write the ``k`` leaders' structures and ``index.csv`` under ``out_dir``; return the index's path.

    Raises
    ------
    ObjectiveError
        When the objective cannot be answered on this campaign (see :mod:`screening.objectives`).
    """
    fmt = StructureFormat(fmt)
    top = rank_objective(
        store, campaign_id, ranking, k=k, conditions=conditions, temperature_K=temperature_K
    ).to_pylist()
    structures = structures_of(store, campaign_id, [r["candidate_id"] for r in top])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for row in top:
        s = structures.get(row["candidate_id"])
        name = ""
        if s is not None:
            name = _safe_name(row["candidate_id"]) + _SUFFIX[fmt]
            write_structure(s, out / name, fmt)
        index.append({c: (name if c == "file" else row.get(c)) for c in INDEX_COLUMNS})
    path = out / "index.csv"
    tmp = path.with_name(".index.csv.tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(INDEX_COLUMNS))
        w.writeheader()
        w.writerows(index)
    tmp.replace(path)
    return path
