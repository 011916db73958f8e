"""The committed physical check sets (data/checks, issue 12) and the bench that scores a checkpoint on them."""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cloud_core.scope import ScopeRecord, encode
from screening.evaluation.check_sets import (
    FAMILIES,
    NEAR_DEGENERATE_EV,
    label_formulas,
    reduced_formula,
    stoichiometry_key,
)

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ROOT / "data" / "checks"

METALS = {"Cu", "Al", "Fe", "W", "Ni", "Ag", "Au", "Ti", "Mg", "Na", "K", "Zn", "Pt", "Pb", "Cr"}
INSULATORS = {"NaCl", "LiF", "MgO", "Al2O3", "SiO2", "CaF2", "KCl", "BN", "AlN", "C", "ZrO2", "HfO2", "MgAl2O4",
              "CaO", "BeO"}  # fmt: skip


@pytest.fixture(scope="module")
def famous() -> pd.DataFrame:
    return pd.read_parquet(CHECKS / "famous_crystals.parquet")


@pytest.fixture(scope="module")
def elements() -> pd.DataFrame:
    return pd.read_parquet(CHECKS / "elements.parquet")


@pytest.fixture(scope="module")
def pairs() -> pd.DataFrame:
    return pd.read_parquet(CHECKS / "polymorph_pairs.parquet")


def _reencoded(structure_json: str) -> str:
    from pymatgen.core import Structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return encode(Structure.from_str(structure_json, fmt="json")).to_string()


def _valid(scope: str) -> bool:
    rec = ScopeRecord.from_string(scope)
    return rec.spacegroup is not None and rec.to_string() == scope


def test_famous_crystals_cover_the_required_metals_and_insulators(famous):
    metals, insulators = famous[famous.group == "metal"], famous[famous.group == "insulator"]
    assert len(metals) >= 15 and len(insulators) >= 15
    assert METALS <= set(metals.formula)
    assert INSULATORS <= set(insulators.formula)
    assert set(famous.group) == {"metal", "insulator"}
    # a reference gap is either absent or comes with its source
    assert (famous.mp_gap_formula_mean_ev.isna() == famous.mp_gap_source.isna()).all()


def test_elements_hold_every_dcdft_ground_state(elements):
    dcdft = pd.read_parquet(ROOT / "data" / "corpora" / "ase_dcdft.parquet")
    assert len(elements) >= 71
    assert {json.loads(m)["name"] for m in dcdft.meta_json} <= set(elements.element)
    assert (elements.expected_e_form == 0.0).all()
    assert all(len(ScopeRecord.from_string(s).stoichiometry) == 1 for s in elements.scope)


def test_scope_strings_validate_and_reencode_from_their_structures(famous, elements):
    relaxed = pd.read_parquet(CHECKS / "polymorph_structures.parquet")
    relaxed = relaxed[relaxed.status == "ok"]
    for df in (famous, elements, relaxed):
        for scope, sj in zip(df.scope, df.structure_json, strict=True):
            assert _valid(scope), scope
            assert _reencoded(sj) == scope


def test_polymorph_pairs_sizes_families_and_consistency(pairs):
    assert len(pairs) >= 40
    counts = pairs.family.value_counts()
    assert set(counts.index) <= set(FAMILIES)
    assert all(counts.get(f, 0) >= 8 for f in FAMILIES), counts.to_dict()
    for col in ("a_scope", "b_scope", "lower_scope"):
        assert all(_valid(s) for s in pairs[col])
    assert (pairs.a_scope != pairs.b_scope).all()
    assert pairs.pair_id.is_unique
    # the stored lower member and dE follow from the stored energies
    ea, eb = pairs.a_energy_per_atom.to_numpy(), pairs.b_energy_per_atom.to_numpy()
    assert (np.where(ea < eb, "a", "b") == pairs.lower.to_numpy()).all()
    assert np.allclose(pairs.dE_eV_per_atom, np.abs(ea - eb))
    assert (pairs.near_degenerate == (pairs.dE_eV_per_atom < NEAR_DEGENERATE_EV)).all()
    assert pairs.energy_source.str.contains("CHGNet").all()
    # both members have the pair's formula
    for col in ("a_scope", "b_scope"):
        for s, f in zip(pairs[col], pairs.formula, strict=True):
            assert reduced_formula(ScopeRecord.from_string(s).formula) == reduced_formula(f), (s, f)


def test_held_out_pairs_are_absent_from_every_label_set(pairs):
    held = pairs[pairs.held_out]
    assert len(held) >= 20
    labels = label_formulas()
    assert not {stoichiometry_key(f) for f in held.formula} & labels
    assert all(stoichiometry_key(f) in labels for f in pairs[~pairs.held_out].formula)
    listed = [
        ln for ln in (CHECKS / "held_out_formulas.txt").read_text().splitlines() if not ln.startswith("#")
    ]
    assert sorted(listed) == sorted(set(held.formula))


def _tiny_checkpoint(path: Path) -> Path:
    import torch

    from cloud_core.model import (
        CloudModel,
        HeadSpec,
        ModelConfig,
        TargetSpec,
        get_vocabulary,
        save_checkpoint,
    )

    torch.manual_seed(0)
    heads = [HeadSpec("e_form"), HeadSpec("band_gap"),
             HeadSpec("theta", kind="debye", options={"theta_init_K": 300.0, "theta_scale_K": 300.0})]  # fmt: skip
    model = CloudModel(ModelConfig.from_size("tiny", len(get_vocabulary()), heads=heads))
    targets = [TargetSpec("e_form", mean=-1.0, std=1.0, unit="eV/atom"), TargetSpec("band_gap", mean=1.0, std=1.0),
               TargetSpec("theta", kind="debye", unit="K")]  # fmt: skip
    save_checkpoint(path, model, targets=targets)
    return path


def _bench():
    spec = importlib.util.spec_from_file_location(
        "physics_checks_bench", ROOT / "bench" / "physics_checks.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_runs_on_a_tiny_checkpoint_and_writes_json(tmp_path, capsys):
    ck = _tiny_checkpoint(tmp_path / "ck")
    pool = pd.read_parquet(ROOT / "data" / "pools" / "prototype_pool_v1.parquet")
    single = pool.formula.map(lambda f: len(reduced_formula(f)) <= 2 and not any(c.isdigit() for c in f))
    small = pd.concat([pool[single].head(20), pool[~single].head(30)])
    small.to_parquet(tmp_path / "pool.parquet", index=False)
    out = tmp_path / "physics.json"
    rc = _bench().main(["--checkpoint", str(ck), "--pool", str(tmp_path / "pool.parquet"), "--out", str(out)])
    assert rc == 0
    doc = json.loads(out.read_text())
    s = doc["summary"]
    assert s["elements"]["n"] >= 71
    assert s["pool_elements"]["n"] >= 1
    assert set(s["famous_crystals"]) == {"metal", "insulator"}
    n_pairs = len(pd.read_parquet(CHECKS / "polymorph_pairs.parquet"))
    poly = s["polymorphs"]
    assert poly["clear_pairs"]["n"] + poly["near_degenerate"]["n"] == n_pairs
    assert len(doc["rows"]["polymorph_pairs"]) == n_pairs
    assert s["physical_signs"]["n_strings"] > 0
    assert "polymorphs |dE| >= 0.05 ordered" in capsys.readouterr().out


def test_bench_bad_checkpoint_is_one_line_error(tmp_path, capsys):
    assert _bench().main(["--checkpoint", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "--checkpoint" in err and "Traceback" not in err
