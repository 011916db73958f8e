"""The committed phonon reference set: schema, provenance, physics of every row; the zero-shot evaluation on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from pymatgen.core import Structure

from screening.phonons.reference import REFERENCE_FILE
from screening.phonons.table import PHONON_SCHEMA
from screening.phonons.zero_shot import ROWS, composition_features, evaluate_zero_shot, split_ids

REF_DIR = Path(__file__).resolve().parents[2] / "data" / "phonon_reference"
R = 8.314462618


@pytest.fixture(scope="module")
def reference():
    return pq.read_table(REF_DIR / REFERENCE_FILE)


def test_schema_and_provenance(reference):
    assert reference.schema.equals(PHONON_SCHEMA)
    assert reference.num_rows >= 50
    assert len(set(reference["id"].to_pylist())) == reference.num_rows
    prov = (REF_DIR / "PROVENANCE.md").read_text()
    for needle in ("CHGNet", "phonopy", "supercell", "mesh", "symprec", "build-phonon-reference"):
        assert needle in prov
    assert set(reference["potential"].to_pylist()) == {"chgnet-0.3.0"}


def test_every_row_is_physical(reference):
    for row in reference.to_pylist():
        t = np.asarray(row["temperatures_K"])
        cv, u, s = (np.asarray(row[k]) for k in ("cv_J_per_molatom_K", "u_J_per_molatom", "s_J_per_molatom_K"))
        assert np.all(cv >= 0) and np.all(cv <= 3 * R + 1e-6), row["id"]
        assert np.all(np.diff(u) > 0) and np.all(np.diff(s) > 0), row["id"]
        np.testing.assert_allclose(row["f_J_per_molatom"], u - t * s, rtol=1e-8, atol=1e-6)
        lattice = Structure.from_str(row["structure_json"], fmt="json").lattice
        assert all(m * a >= 10.0 - 1e-6 for m, a in zip(row["supercell_matrix"], lattice.abc, strict=True)), row["id"]
        if row["dynamically_stable"]:
            assert row["min_frequency_THz"] >= -row["imaginary_tolerance_THz"]
            # harmonic Cv of a stable crystal rises monotonically towards Dulong-Petit
            assert np.all(np.diff(cv) > -1e-9) and cv[-1] > 0.6 * 3 * R, row["id"]
        else:
            assert row["min_frequency_THz"] < -row["imaginary_tolerance_THz"]


def test_split_and_features_are_deterministic():
    ids = [f"m{i}" for i in range(100)]
    train, test = split_ids(ids, 0.3)
    assert len(test) == 30 and not set(train) & set(test) and split_ids(ids, 0.3) == (train, test)
    f = composition_features("Fe2O3")
    assert f.shape == composition_features("Si").shape and np.isfinite(f).sum() > 10


def test_zero_shot_evaluation(reference):
    res = evaluate_zero_shot(REF_DIR / REFERENCE_FILE, steps=300, use_cloud=False)  # full run: bench JSON
    assert res["n_test"] >= 10 and res["n_train"] > res["n_test"]
    for key in ("mae_cv", "mae_u"):
        assert set(res[key]) == set(ROWS)
    cv = res["mae_cv"]
    # at 50 K Dulong-Petit is far off; each material's own fitted Debye curve is the best one-parameter curve
    assert cv["debye_fitted_theta"]["50"] < cv["dulong_petit"]["50"]
    assert cv["debye_fitted_theta"]["50"] < cv["debye_head_zero_shot"]["50"] + 1e-9
    # at 1000 K every stable material is near 3R
    assert cv["dulong_petit"]["1000"] < 1.0
