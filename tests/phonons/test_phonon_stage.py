"""The phonon stage on real structures: silicon against experiment, an unstable crystal flagged, rejects."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pymatgen.core import Lattice, Structure

from screening.phonons import PhononSettings, run_phonon_stage
from screening.phonons.table import PHONON_SCHEMA, results_to_table

R = 8.314462618
TEMPS = [20.0, 50.0, 100.0, 200.0, 298.15, 300.0, 500.0]


def _silicon(a: float = 5.431) -> Structure:
    fcc = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    return Structure(fcc, ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])


@pytest.fixture(scope="module")
def stage_run():
    """One batch: silicon, simple-cubic copper (dynamically unstable), a disordered alloy, a squeezed cell."""
    items = [
        ("si", _silicon()),
        ("cu-sc", Structure(Lattice.cubic(2.40), ["Cu"], [[0, 0, 0]])),
        ("cuau-disordered", Structure(Lattice.cubic(3.9), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])),
    ]
    # 7 A supercells (2x2x2 for silicon) keep this test fast (the stage default is 10 A); phonopy's standard
    # 0.01 A displacement (the stage default is 0.03 A, which softens CHGNet's silicon: S(298 K) ~22 J/(mol K))
    settings = PhononSettings(supercell_min_length=7.0, displacement=0.01)
    return run_phonon_stage(items, settings=settings, temperatures=TEMPS, torch_threads=1)


def test_silicon_entropy_and_heat_capacity(stage_run):
    results, _ = stage_run
    si = next(r for r in results if r.id == "si")
    i = TEMPS.index(298.15)
    # experiment: S(298 K) = 18.8 J/(mol K), Cp(298 K) = 20.0 J/(mol K) (Cv ~ Cp for Si)
    assert si.s[i] == pytest.approx(18.8, rel=0.10)
    assert si.cv[i] == pytest.approx(20.0, rel=0.08)
    assert si.dynamically_stable
    assert si.n_sites == 2
    assert 400 < si.debye_theta_fit < 750
    # per mole of atoms: Cv below Dulong-Petit, U includes the zero-point energy and grows with T
    assert np.all(si.cv < 3 * R + 1e-6)
    assert si.u[0] == pytest.approx(si.zero_point_energy, rel=0.01)
    assert np.all(np.diff(si.u) > 0)
    np.testing.assert_allclose(si.f, si.u - si.temperatures * si.s, rtol=1e-9, atol=1e-6)
    assert si.potential == "chgnet-0.3.0" and "0.3.0" in si.potential_version
    assert all(m * a >= 7.0 for m, a in zip(si.supercell_matrix, si.relaxed.lattice.abc, strict=True))


def test_unstable_structure_is_flagged_not_lost(stage_run):
    results, rejects = stage_run
    cu = next(r for r in results if r.id == "cu-sc")
    assert not cu.dynamically_stable
    assert cu.min_frequency_thz < -0.1
    assert cu.imaginary_fraction > 0
    assert np.all(np.isfinite(cu.cv))
    assert "cu-sc" not in {j.id for j in rejects}


def test_bad_inputs_are_rejects_with_reasons(stage_run):
    results, rejects = stage_run
    assert {r.id for r in results} | {j.id for j in rejects} == {"si", "cu-sc", "cuau-disordered"}
    rej = {j.id: j for j in rejects}
    assert rej["cuau-disordered"].stage == "phonon"
    assert rej["cuau-disordered"].reason == "disordered"


def test_relaxation_not_converged_is_a_reject():
    squeezed = _silicon(a=4.9)
    results, rejects = run_phonon_stage(
        [("si-squeezed", squeezed)], settings=PhononSettings(max_relax_steps=2), temperatures=[300.0]
    )
    assert results == []
    assert len(rejects) == 1
    assert rejects[0].reason == "relax_not_converged"
    assert "2 FIRE steps" in rejects[0].message


def test_results_table_round_trip(stage_run, tmp_path):
    results, _ = stage_run
    table = results_to_table(results, sources={"si": "test"})
    assert table.schema.equals(PHONON_SCHEMA)
    pq.write_table(table, tmp_path / "p.parquet")
    back = pq.read_table(tmp_path / "p.parquet")
    assert back.num_rows == len(results)
    si = back.filter(pa.compute.equal(back["id"], "si")).to_pylist()[0]
    assert si["source"] == "test"
    assert len(si["cv_J_per_molatom_K"]) == len(TEMPS)
    assert Structure.from_str(si["structure_json"], fmt="json").composition.reduced_formula == "Si"


def test_bad_temperature_grid_fails_at_once():
    with pytest.raises(ValueError, match="temperatures"):
        run_phonon_stage([("si", _silicon())], temperatures=[-5.0])
    with pytest.raises(ValueError, match="supercell_min_length"):
        PhononSettings(supercell_min_length=0)
