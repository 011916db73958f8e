"""The CHGNet labelling job on tiny structures: labels, rejects, resume after an interrupted shard, finalize."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest
from pymatgen.core import Lattice, Structure

from screening.mlip.builder import (
    done_ids,
    read_shards,
    rows_to_table,
    run_job,
    shard_files,
    write_table_atomic,
)
from screening.mlip.compute import (
    EV_PER_A3_TO_GPA,
    MlipSettings,
    fit_birch_murnaghan,
    mp2020_correction_per_atom,
)
from screening.mlip.finalize import finalize
from screening.mlip.worklist import WorkItem


def _cu() -> Structure:
    return Structure(Lattice.cubic(3.7), ["Cu"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


def _si() -> Structure:
    return Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.40), ["Si"], [[0, 0, 0]])


def _nacl() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.55), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _na() -> Structure:
    return Structure(Lattice.cubic(4.25), ["Na", "Na"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _items() -> list[WorkItem]:
    return [
        WorkItem("A:t:Cu", "A", "test", "Cu", 0, _cu()),
        WorkItem("A:t:Si", "A", "test", "Si", 0, _si()),
        WorkItem("A:t:Na", "A", "test", "Na", 0, _na()),
        WorkItem("A:t:NaCl", "A", "test", "NaCl", 1, _nacl()),
        WorkItem("B:t:NaCl", "B", "pool", "NaCl", 10, _nacl()),
    ]


@pytest.fixture(scope="module")
def potential():
    from screening.phonons.potential import load_potential, set_torch_threads

    set_torch_threads(1)
    return load_potential("0.3.0")


SETTINGS = MlipSettings(max_steps=150)


def test_birch_murnaghan_fit_recovers_bulk_modulus():
    v0, e0, b0, bp = 12.0, -3.0, 100.0 / EV_PER_A3_TO_GPA, 4.5
    v = v0 * np.array([0.94, 0.97, 1.0, 1.03, 1.06])
    eta = (v0 / v) ** (2 / 3)
    e = e0 + 9 * v0 * b0 / 16 * ((eta - 1) ** 3 * bp + (eta - 1) ** 2 * (6 - 4 * eta))
    fit = fit_birch_murnaghan(v, e)
    assert fit is not None and fit.inside
    assert fit.v0 == pytest.approx(v0, rel=1e-6)
    assert fit.bulk_modulus_gpa == pytest.approx(100.0, rel=1e-4)
    # a monotonic E(V) has no minimum inside the sampled range
    mono = fit_birch_murnaghan(v, -v)
    assert mono is None or not mono.inside


def test_mp2020_correction_of_an_oxide_and_a_u_oxide():
    mgo = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.2), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    feo = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.3), ["Fe", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    c_mgo = mp2020_correction_per_atom(mgo, -6.0)
    c_feo = mp2020_correction_per_atom(feo, -7.0)
    assert c_mgo < -0.3  # the oxide anion correction, per atom of MgO
    assert c_feo < c_mgo - 0.5  # plus the Fe U correction
    assert mp2020_correction_per_atom(_cu(), -4.0) == 0.0


def test_builder_labels_resumes_and_finalizes(tmp_path, potential):
    items = _items()
    res = run_job(items, tmp_path, settings=SETTINGS, potential=potential, shard_size_a=2, max_shards=1)
    assert res == {"new_shards": 1, "new_rows": 2, "skipped": 0, "remaining": 3}
    # a shard killed mid-write leaves only a temp file: it is ignored, and overwritten on resume
    stale = tmp_path / "shards" / ".A-00001.parquet.tmp"
    stale.write_bytes(b"partial")
    assert [p.name for p in shard_files(tmp_path)] == ["A-00000.parquet"]
    res = run_job(items, tmp_path, settings=SETTINGS, potential=potential, shard_size_a=2, shard_size_b=5)
    assert res["skipped"] == 2 and res["new_rows"] == 3 and res["remaining"] == 0
    assert [p.name for p in shard_files(tmp_path)] == [
        "A-00000.parquet",
        "A-00001.parquet",
        "B-00000.parquet",
    ]
    ids = [i for v in done_ids(tmp_path).values() for i in v]
    assert sorted(ids) == sorted(it.id for it in items)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["n_done"] == 5
    # a third run has nothing to do
    assert run_job(items, tmp_path, settings=SETTINGS, potential=potential)["new_rows"] == 0

    df = read_shards(tmp_path).set_index("id")
    assert (df["status"] == "ok").all(), df[["status", "reason", "message"]]
    cu = df.loc["A:t:Cu"]
    assert cu["converged"] and cu["n_sites"] == 1
    assert cu["scope"].startswith("225 ")
    assert -5.0 < cu["energy_per_atom_eV"] < -3.0
    assert 100 < cu["bulk_modulus_GPa"] < 200  # CHGNet Cu ~ 130-150 GPa
    assert df.loc["A:t:Si", "n_sites"] == 2
    b = df.loc["B:t:NaCl"]
    assert b["tier"] == "B" and b["converged"] and 10 < b["bulk_modulus_GPa"] < 40
    assert b["scope"] == df.loc["A:t:NaCl", "scope"]

    prov = finalize(tmp_path, mp={"NaCl": -2.1, "Cu": 0.0})
    labels = pq.read_table(tmp_path / "labels.parquet").to_pandas().set_index("id")
    assert set(labels.index) == {it.id for it in items}
    assert labels.loc["A:t:Cu", "e_form_raw_eV_per_atom"] == pytest.approx(0.0)
    # no chlorine reference: NaCl has no formation energy, and says so
    assert math.isnan(labels.loc["A:t:NaCl", "e_form_raw_eV_per_atom"])
    assert prov["counts"]["labels_missing_reference"] == 2
    assert set(prov["elemental_references"]) == {"Cu", "Si", "Na"}
    assert (tmp_path / "PROVENANCE.md").read_text().startswith("# CHGNet structure-level labels")


def test_reject_paths(tmp_path, potential):
    strained = _cu()
    strained.scale_lattice(strained.volume * 1.3)
    wrong_scope = WorkItem("A:t:scope", "A", "test", "Cu", 0, _cu())
    wrong_scope.scope = "229 cI m-3m | Cu 2a | Cu 1"  # not the string of this fcc cell
    run_job(
        [WorkItem("A:t:slow", "A", "test", "Cu", 0, strained)],
        tmp_path,
        settings=MlipSettings(max_steps=3),
        potential=potential,
    )
    assert read_shards(tmp_path).iloc[0]["reason"] == "not_converged"
    run_job([wrong_scope], tmp_path / "s", settings=SETTINGS, potential=potential)
    assert read_shards(tmp_path / "s").iloc[0]["reason"] == "symmetry_changed"
    exploded = tmp_path / "x"
    run_job(
        [WorkItem("A:t:big", "A", "test", "Cu", 0, strained)],
        exploded,
        settings=MlipSettings(max_steps=150, max_volume_ratio=1.05),
        potential=potential,
    )
    assert read_shards(exploded).iloc[0]["reason"] == "exploded"
    cf = Structure(Lattice.cubic(4.0), ["Cf"], [[0, 0, 0]])
    run_job(
        [WorkItem("A:t:Cf", "A", "test", "Cf", 0, cf)],
        tmp_path / "cf",
        settings=SETTINGS,
        potential=potential,
    )
    assert read_shards(tmp_path / "cf").iloc[0]["reason"] == "unsupported_element"


def test_finalize_formation_energies_and_mp2020_decision(tmp_path):
    """Synthetic rows: formation energies from the lowest elemental labels; the decision follows the MAE."""
    base = {
        "tier": "A",
        "source": "t",
        "group": "g",
        "priority": 0,
        "n_sites": 2,
        "status": "ok",
        "converged": True,
        "n_steps": 10,
        "n_single_points": 5,
        "seconds": 1.0,
        "chgnet_version": "CHGNet test",
        "created_at": "now",
        "bulk_modulus_GPa": math.nan,
        "volume_per_atom": 10.0,
        "input_volume_per_atom": 10.0,
        "eos_rmse_meV": 0.1,
        "reason": None,
        "message": None,
        "relaxed_structure_json": None,
    }
    rows = [
        {
            **base,
            "id": "Fe1",
            "formula": "Fe",
            "elements": "Fe",
            "scope": "s1",
            "energy_per_atom_eV": -8.0,
            "mp2020_correction_eV_per_atom": 0.0,
        },
        {
            **base,
            "id": "Fe2",
            "formula": "Fe",
            "elements": "Fe",
            "scope": "s2",
            "energy_per_atom_eV": -8.3,
            "mp2020_correction_eV_per_atom": 0.0,
        },
        {
            **base,
            "id": "Fe3",
            "source": "element_prototype",
            "formula": "Fe",
            "elements": "Fe",
            "scope": "s7",
            "energy_per_atom_eV": -9.0,
            "mp2020_correction_eV_per_atom": 0.0,
        },
        {
            **base,
            "id": "O",
            "formula": "O2",
            "elements": "O",
            "scope": "s3",
            "energy_per_atom_eV": -4.9,
            "mp2020_correction_eV_per_atom": 0.0,
        },
        {
            **base,
            "id": "FeO",
            "formula": "FeO",
            "elements": "Fe O",
            "scope": "s4",
            "energy_per_atom_eV": -8.1,
            "mp2020_correction_eV_per_atom": -1.2,
        },
        {
            **base,
            "id": "bad",
            "formula": "FeO",
            "elements": "Fe O",
            "scope": "s5",
            "energy_per_atom_eV": -15.0,
            "mp2020_correction_eV_per_atom": -1.2,
        },
        {
            **base,
            "id": "rej",
            "formula": "FeO",
            "elements": "Fe O",
            "scope": "s6",
            "status": "reject",
            "reason": "not_converged",
            "message": "m",
            "energy_per_atom_eV": math.nan,
            "mp2020_correction_eV_per_atom": math.nan,
        },
    ]
    write_table_atomic(rows_to_table(rows), tmp_path / "shards" / "A-00000.parquet")
    # e_form_raw(FeO) = -8.1 - (-8.3 - 4.9) / 2 = -1.5; corrected -2.7
    prov = finalize(tmp_path, mp={"FeO": -1.45})
    labels = pq.read_table(tmp_path / "labels.parquet").to_pandas().set_index("id")
    assert labels.loc["FeO", "e_form_raw_eV_per_atom"] == pytest.approx(-1.5)
    assert labels.loc["FeO", "e_form_mp2020_eV_per_atom"] == pytest.approx(-2.7)
    assert labels.loc["Fe1", "e_form_raw_eV_per_atom"] == pytest.approx(0.3)
    # a hypothetical decoration below the real phase is named, not used as the reference
    assert prov["elemental_references"]["Fe"]["id"] == "Fe2"
    assert prov["elemental_references"]["Fe"]["lowest_any_id"] == "Fe3"
    assert labels.loc["Fe3", "e_form_raw_eV_per_atom"] == pytest.approx(-0.7)
    assert "| Fe | -8.3000 | Fe2 | Fe3 (0.700) |" in (tmp_path / "PROVENANCE.md").read_text()
    assert prov["mp2020_decision"]["apply_mp2020"] is False
    assert labels.loc["FeO", "e_form_eV_per_atom"] == pytest.approx(-1.5)
    cal = prov["mp_calibration_tier_A"]
    assert cal["raw"]["u_oxide_fluoride"]["mae_eV_per_atom"] == pytest.approx(0.05)
    assert cal["mp2020"]["u_oxide_fluoride"]["offset_eV_per_atom"] == pytest.approx(-1.25)
    rejects = pq.read_table(tmp_path / "rejects.parquet").to_pandas().set_index("id")
    assert rejects.loc["bad", "reason"] == "unphysical" and rejects.loc["rej", "reason"] == "not_converged"
    assert prov["counts"]["rejects_by_reason"] == {"A:not_converged": 1, "A:unphysical": 1}
    # the other way round: MP agrees with the corrected values
    prov = finalize(tmp_path, mp={"FeO": -2.6})
    assert prov["mp2020_decision"]["apply_mp2020"] is True
    labels = pq.read_table(tmp_path / "labels.parquet").to_pandas().set_index("id")
    assert labels.loc["FeO", "e_form_eV_per_atom"] == pytest.approx(-2.7)


def test_cli_bad_input(capsys):
    from flows.cli import main

    assert main(["build-mlip-labels", "--tiers", "C"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--tiers" in err[0]


def test_cli_finalize_without_shards(tmp_path, capsys):
    from flows.cli import main

    assert main(["build-mlip-labels", "--finalize-only", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no shards" in err[0]
