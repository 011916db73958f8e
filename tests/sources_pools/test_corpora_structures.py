from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from screening.corpora.provenance import read_sidecars
from screening.corpora.structures import SOURCES, build_structure_corpora
from screening.sources.candidate import CANDIDATE_SCHEMA, candidates_from_table

ROOT = Path(__file__).resolve().parents[2]
CORPORA = ROOT / "data" / "corpora"


def _provenance_rows(folder: Path) -> dict[str, int]:
    text = (folder / "PROVENANCE.md").read_text()
    return {
        m[1]: int(m[2].replace(",", "")) for m in re.finditer(r"^\| `([^`]+)` \| ([\d,]+) \|", text, re.M)
    }


def test_builder_on_a_subset_matches_provenance(tmp_path):
    report = build_structure_corpora(tmp_path, sources=["pymatgen_structures", "ase_dcdft"], limit=12)
    assert report["pymatgen_structures"]["rows"] == 12
    assert report["ase_dcdft"]["rows"] == 12
    rows = _provenance_rows(tmp_path)
    assert rows == {"pymatgen_structures.parquet": 12, "ase_dcdft.parquet": 12}
    for name, n in rows.items():
        table = pq.read_table(tmp_path / name)
        assert table.num_rows == n
        assert table.schema.names[: len(CANDIDATE_SCHEMA)] == CANDIDATE_SCHEMA.names
    dcdft = pq.read_table(tmp_path / "ase_dcdft.parquet")
    b = dcdft.column("bulk_modulus_gpa").to_pylist()
    assert all(x is not None and 0 < x < 500 for x in b)
    cands = candidates_from_table(dcdft)
    assert all(c.structure is not None and len(c.structure.composition.elements) == 1 for c in cands)
    # rerunnable: building again gives the same rows
    build_structure_corpora(tmp_path, sources=["ase_dcdft"], limit=12)
    assert pq.read_table(tmp_path / "ase_dcdft.parquet").equals(dcdft)


def test_unknown_source_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown corpus source"):
        build_structure_corpora(tmp_path, sources=["nope"])


def test_committed_corpora_match_provenance():
    rows = _provenance_rows(CORPORA)
    sidecars = {e["file"]: e for e in read_sidecars(CORPORA)}
    files = sorted(p.name for p in CORPORA.glob("*.parquet"))
    assert files and sorted(rows) == files == sorted(sidecars)
    assert {f.removesuffix(".parquet") for f in files} <= set(SOURCES)
    for name in files:
        table = pq.read_table(CORPORA / name)
        assert table.num_rows == rows[name] == sidecars[name]["rows"], name
        ids = table.column("candidate_id").to_pylist()
        assert len(set(ids)) == len(ids)
        assert all(json.loads(s)["sites"] for s in table.column("structure_json").to_pylist())
    assert rows["aflow_prototypes.parquet"] == 288
    assert rows["ase_dcdft.parquet"] == 71
