"""Composition features: hand-checked statistics, agreement with a per-formula loop, the shipped table."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import cloud_core.composition.features as features_mod
from cloud_core.composition import (
    STATS,
    element_fractions,
    element_properties,
    feature_names,
    formula_features,
    scope_features,
)
from cloud_core.composition.properties import DATA_DIR, install_table, main
from cloud_core.scope import ScopeError, encode_formula


def _row(scope: str) -> dict[str, float]:
    x, names = scope_features([scope])
    return dict(zip(names, x[0], strict=True))


def test_nacl_and_fe2o3_by_hand():
    # Pauling electronegativities Na 0.93, Cl 3.16, Fe 1.83, O 3.44; Z: Na 11, Cl 17, Fe 26, O 8
    nacl = _row("? | - | Na 1 Cl 1")
    assert nacl["frac_Na"] == 0.5 and nacl["frac_Cl"] == 0.5 and nacl["frac_K"] == 0.0
    assert nacl["mean_Electronegativity"] == pytest.approx(2.045)
    assert nacl["mad_Electronegativity"] == pytest.approx(1.115)
    assert nacl["min_Electronegativity"] == pytest.approx(0.93)
    assert nacl["max_Electronegativity"] == pytest.approx(3.16)
    assert nacl["range_Electronegativity"] == pytest.approx(2.23)
    assert nacl["mean_Number"] == pytest.approx(14.0)
    fe2o3 = _row("167 hR -3m | Fe 12c O 18e | Fe 2 O 3")
    assert fe2o3["frac_Fe"] == pytest.approx(0.4) and fe2o3["frac_O"] == pytest.approx(0.6)
    assert fe2o3["mean_Number"] == pytest.approx(15.2)
    assert fe2o3["mad_Number"] == pytest.approx((2 * 10.8 + 3 * 7.2) / 5)
    assert fe2o3["mean_Electronegativity"] == pytest.approx((2 * 1.83 + 3 * 3.44) / 5)
    cu = _row("? | - | Cu 1")
    assert cu["mad_Number"] == 0 and cu["range_Number"] == 0 and cu["min_Number"] == cu["max_Number"] == 29


def test_symmetry_section_and_formula_input_do_not_change_features():
    x, names = scope_features(["225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1", "? | - | Na 1 Cl 1"])
    assert np.array_equal(x[0], x[1])
    y, names_f = formula_features(["NaCl", "Na2Cl2"])
    assert names_f == names and np.array_equal(y[0], x[0]) and np.array_equal(y[1], x[0])
    assert len(names) == 118 + len(STATS) * len(element_properties().names) == x.shape[1]
    assert names == feature_names() and names[0] == "frac_H" and names[117] == "frac_Og"


def _reference(scope: str, props) -> np.ndarray:
    """Plain per-formula loop, the definition in the module docstring."""
    stoich = encode_formula(scope.split("|")[2].replace(" ", "")).stoichiometry
    from cloud_core.scope.tables import element_by_symbol

    zs = np.array([element_by_symbol(el).z - 1 for el, _ in stoich])
    f = np.array([n for _, n in stoich], dtype=float)
    f /= f.sum()
    p = props.values[zs]
    mean = f @ p
    mad = f @ np.abs(p - mean)
    frac = np.zeros(118)
    frac[zs] = f
    return np.concatenate([frac, mean, mad, p.min(0), p.max(0), p.max(0) - p.min(0)])


def test_vectorised_equals_a_per_formula_loop_across_chunks(monkeypatch):
    monkeypatch.setattr(features_mod, "_CHUNK", 7)  # several chunks, a ragged last one
    rng = np.random.default_rng(0)
    props = element_properties()
    covered = np.flatnonzero(props.covered) + 1
    scopes = []
    from cloud_core.scope.tables import element_by_z

    for _ in range(40):
        zs = rng.choice(covered, size=rng.integers(1, 6), replace=False)
        counts = {element_by_z(int(z)).symbol: int(rng.integers(1, 12)) for z in zs}
        scopes.append(encode_formula(counts).to_string())
    x, _ = scope_features(scopes)
    ref = np.vstack([_reference(s, props) for s in scopes])
    assert np.allclose(x, ref, rtol=1e-12, atol=1e-9)
    assert np.array_equal(element_fractions(scopes), x[:, :118])


def test_elements_outside_the_table_give_nan_statistics_not_wrong_numbers():
    cf = _row("? | - | Cf 1")  # Z 98: not in the Magpie table
    assert cf["frac_Cf"] == 1.0
    assert all(np.isnan(v) for k, v in cf.items() if not k.startswith("frac_"))


def test_non_canonical_strings_are_rejected_by_the_scope_validator():
    for bad in ("? | - | Na 2 Cl 2", "? | - | Cl 1 Na 1", "Na 1 Cl 1", "? | - | Xx 1"):
        with pytest.raises(ScopeError):
            scope_features([bad])
    x, names = scope_features([])
    assert x.shape == (0, len(names))


def test_shipped_table_and_its_provenance(tmp_path, capsys):
    props = element_properties()
    assert props.values.shape == (118, 22) and int(props.covered.sum()) == 97
    assert np.isnan(props.values[~props.covered]).all() and not np.isnan(props.values[props.covered]).any()
    z = props.standardized()[props.covered]
    assert np.allclose(z.mean(axis=0), 0, atol=1e-12)
    shipped = DATA_DIR / "magpie.csv"
    digest = hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert digest in (DATA_DIR / "PROVENANCE.md").read_text()
    # the installer validates, copies and writes a provenance that names the copy's hash
    src = tmp_path / "src" / "element_properties"
    src.mkdir(parents=True)
    (src / "magpie.csv").write_bytes(shipped.read_bytes())
    out = install_table(tmp_path / "src", tmp_path / "dest")
    assert out.read_bytes() == shipped.read_bytes()
    assert digest in (tmp_path / "dest" / "PROVENANCE.md").read_text()
    assert main(["--source", str(tmp_path / "nowhere"), "--dest", str(tmp_path / "d2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1
