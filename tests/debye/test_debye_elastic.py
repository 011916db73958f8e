"""Elastic Debye temperatures from measured moduli; calorimetric fit kept apart."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cloud_core.debye import (
    ELASTIC_THETA_KEY,
    ElasticReason,
    cubic_vrh_moduli,
    debye_cv,
    elastic_theta_labels,
    fit_theta_calorimetric,
    theta_from_elastic,
    theta_from_structure,
)

# Room-temperature adiabatic elastic constants C11, C12, C44 (GPa) of cubic crystals: C. Kittel, Introduction
# to Solid State Physics, 8th ed. (Wiley 2005), ch. 3, table "Adiabatic elastic stiffness constants of several
# cubic crystals" (given there in 1e11 N/m2 = 100 GPa). Densities (g/cm3) and molar masses (g/mol): CRC Handbook
# of Chemistry and Physics / IUPAC standard atomic weights. Known Debye temperatures (K): Kittel, ch. 5,
# table "Debye temperature and thermal conductivity".
MATERIALS = {
    #            C11     C12    C44   density  molar mass  theta_D
    "Si": (165.7, 63.9, 79.6, 2.329, 28.0855, 645.0),
    "Al": (106.8, 60.7, 28.2, 2.70, 26.9815, 428.0),
    "Cu": (168.4, 121.4, 75.4, 8.96, 63.546, 343.0),
    "diamond": (1076.0, 125.0, 576.0, 3.515, 12.011, 2230.0),
}


@pytest.mark.parametrize("name", sorted(MATERIALS))
def test_elastic_theta_within_10_percent_of_known(name):
    c11, c12, c44, rho, molar_mass, known = MATERIALS[name]
    bulk, shear = cubic_vrh_moduli(c11, c12, c44)
    theta = float(theta_from_elastic(bulk, shear, rho, molar_mass, 1))
    assert theta == pytest.approx(known, rel=0.10)


def test_vectorised_and_units():
    names = sorted(MATERIALS)
    c = np.array([MATERIALS[n] for n in names])
    bulk, shear = cubic_vrh_moduli(c[:, 0], c[:, 1], c[:, 2])
    theta = theta_from_elastic(bulk, shear, c[:, 3], c[:, 4], 1)
    assert theta.shape == (4,)
    np.testing.assert_allclose(theta, c[:, 5], rtol=0.10)
    # per formula unit or per cell gives the same theta (n / M is what counts): Si, 8-atom cubic cell
    theta_cell = theta_from_elastic(bulk[names.index("Si")], shear[names.index("Si")], 2.329, 8 * 28.0855, 8)
    assert float(theta_cell) == pytest.approx(theta[names.index("Si")], rel=1e-12)
    # a molar mass in kg/mol where g/mol is expected changes theta by 1000**(1/3) = 10: the unit matters
    wrong = theta_from_elastic(bulk, shear, c[:, 3], c[:, 4] * 1e-3, 1)
    np.testing.assert_allclose(wrong / theta, 10.0, rtol=1e-12)


def test_invalid_moduli_raise_or_nan():
    with pytest.raises(ValueError, match="1 of 2 entries are invalid"):
        theta_from_elastic([100.0, 100.0], [50.0, -5.0], 3.0, 30.0, 1)
    out = theta_from_elastic([100.0, 100.0, -100.0], [50.0, -5.0, 10.0], 3.0, 30.0, 1, on_invalid="nan")
    assert np.isfinite(out[0]) and np.isnan(out[1:]).all()
    with pytest.raises(ValueError, match="on_invalid"):
        theta_from_elastic(100.0, 50.0, 3.0, 30.0, 1, on_invalid="ignore")


def test_theta_from_structure_silicon():
    from pymatgen.core import Lattice, Structure

    si = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.431), ["Si"], [[0, 0, 0]])
    assert len(si) == 8 and si.density == pytest.approx(2.329, rel=2e-3)
    c11, c12, c44, rho, molar_mass, known = MATERIALS["Si"]
    bulk, shear = cubic_vrh_moduli(c11, c12, c44)
    theta = theta_from_structure(si, float(bulk), float(shear))
    assert theta == pytest.approx(
        float(theta_from_elastic(bulk, shear, si.density, molar_mass, 1)), rel=1e-12
    )
    assert theta == pytest.approx(known, rel=0.10)
    with pytest.raises(ValueError):
        theta_from_structure(si, 100.0, -1.0)


def test_batch_labels_turn_bad_records_into_rejects():
    ids = ["ok", "missing", "unstable", "negative_density"]
    results, rejects = elastic_theta_labels(
        ids,
        bulk_GPa=[97.8, None, 100.0, 100.0],
        shear_GPa=[66.5, 50.0, -3.0, 50.0],
        density_g_cm3=[2.329, 3.0, 3.0, -1.0],
        molar_mass_g_mol=[28.0855, 30.0, 30.0, 30.0],
        n_atoms=[1, 1, 1, 1],
    )
    assert list(results) == ["ok"] and results["ok"] == pytest.approx(645.0, rel=0.05)
    reasons = {r.id: r.reason for r in rejects}
    assert reasons == {
        "missing": ElasticReason.MISSING,
        "unstable": ElasticReason.UNSTABLE,
        "negative_density": ElasticReason.NON_POSITIVE,
    }
    assert all(r.stage == "elastic_theta" and r.message for r in rejects)
    assert ELASTIC_THETA_KEY == "theta_elastic_K"
    with pytest.raises(ValueError, match="entries"):
        elastic_theta_labels(["a"], [1.0, 2.0], [1.0], [1.0], [1.0], [1])


def test_calorimetric_fit_recovers_theta():
    temps = np.linspace(5.0, 300.0, 40)
    cv = debye_cv(torch.tensor(345.0, dtype=torch.float64), torch.from_numpy(temps)).numpy()
    assert fit_theta_calorimetric(temps, cv) == pytest.approx(345.0, rel=1e-6)
    with pytest.raises(ValueError):
        fit_theta_calorimetric([0.0, 10.0], [0.0, 1.0])
