"""flows.validate.validate_leaders against a real results store: leaders' structures in, phonon_validation out."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
from pymatgen.core import Lattice, Structure

from flows.validate import validate_leaders
from screening.sources.candidate import Candidate, candidates_to_table
from screening.store import ResultsStore


def test_validate_leaders_writes_the_table(tmp_path):
    a = 5.431
    si = Structure(Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]]), ["Si"] * 2,
                   [[0, 0, 0], [0.25, 0.25, 0.25]])
    cands = [Candidate("si", "test", si), Candidate("fe2o3", "test", None, "Fe2O3"), Candidate("nacl", "test", None, "NaCl")]
    store = ResultsStore(tmp_path)
    store.ensure()
    manifest = pa.table({"candidate_id": ["si", "fe2o3", "nacl"], "chunk_id": ["k0"] * 3,
                         "chunk_index": pa.array([0, 0, 0], pa.int32())})
    row = pa.Table.from_pylist([{"campaign_id": "c1", "created_at": datetime.now(timezone.utc),
                                 "temperatures_K": [100.0, 298.15, 600.0], "n_candidates": 3, "n_chunks": 1}])
    assert store.commit_plan("c1", {"k0": candidates_to_table(cands)}, manifest, row)

    out = validate_leaders.fn(str(tmp_path), "c1", ["si", "fe2o3"])
    assert out["n_validated"] == 1 and out["n_rejected"] == 1
    rows = pq.read_table(out["path"]).to_pylist()
    assert [r["id"] for r in rows] == ["si"]
    assert rows[0]["campaign_id"] == "c1" and rows[0]["dynamically_stable"]
    assert rows[0]["temperatures_K"] == [100.0, 298.15, 600.0]
    # default 0.03 A displacements: CHGNet's silicon comes out ~17% above the measured 18.8 J/(mol K)
    assert 18.8 * 0.9 < rows[0]["s_phonon_J_per_molatom_K"][1] < 18.8 * 1.25
    rej = pq.read_table(out["rejects_path"]).to_pylist()
    assert [(r["id"], r["reason"]) for r in rej] == [("fe2o3", "no_structure")]
