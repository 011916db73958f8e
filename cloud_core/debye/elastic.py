"""The *elastic* Debye temperature: from bulk and shear moduli through the mean sound velocity.

``theta_el = (h / k_B) (3 n N_A rho / (4 pi M))**(1/3) v_m`` with ``v_m = [(2 / v_t**3 + 1 / v_l**3) / 3]**(-1/3)``,
``v_t = sqrt(G / rho)``, ``v_l = sqrt((K + 4G/3) / rho)``; ``n`` atoms in a formula unit (or cell) of molar mass
``M``. Everything is converted to SI first (GPa -> Pa, g/cm3 -> kg/m3, g/mol -> kg/mol): a molar mass left in
g/mol makes theta 10x too low.

This is the Debye temperature of the long-wavelength acoustic phonons. It is *not* the temperature that best
fits a measured heat-capacity curve (see :func:`cloud_core.debye.calorimetric.fit_theta_calorimetric`), and
the two differ by up to tens of percent; labels keep them apart by name (``theta_elastic_K`` vs.
``theta_calorimetric_K``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

from cloud_core.rejects import Reject

if TYPE_CHECKING:
    from pymatgen.core import Structure

H_PLANCK = 6.62607015e-34
"""Planck constant, J s (exact, SI 2019)."""
K_BOLTZMANN = 1.380649e-23
"""Boltzmann constant, J/K (exact, SI 2019)."""
N_AVOGADRO = 6.02214076e23
"""Avogadro constant, 1/mol (exact, SI 2019)."""

ELASTIC_THETA_KEY = "theta_elastic_K"
"""Column name of the elastic Debye temperature in label tables (never mix with a calorimetric one)."""


class ElasticReason(StrEnum):
    """Reason codes of elastic-label rejects (stage ``"elastic_theta"``)."""

    MISSING = "missing_value"
    NON_POSITIVE = "non_positive_input"
    UNSTABLE = "mechanically_unstable"


def _arrays(*values: object) -> list[np.ndarray]:
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    np.broadcast_shapes(*(a.shape for a in arrays))
    return arrays


def sound_velocities(
    bulk_GPa: object, shear_GPa: object, density_g_cm3: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transverse, longitudinal and Debye-mean sound velocities in m/s (numpy, broadcasting).

    Invalid inputs (non-finite, ``G <= 0``, ``rho <= 0`` or ``K + 4G/3 <= 0``) give NaN.
    """
    k, g, rho_gcc = _arrays(bulk_GPa, shear_GPa, density_g_cm3)
    rho = rho_gcc * 1e3  # g/cm3 -> kg/m3
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = (
            np.isfinite(k) & np.isfinite(g) & np.isfinite(rho) & (g > 0) & (rho > 0) & (k + 4.0 * g / 3.0 > 0)
        )
        v_t = np.where(ok, np.sqrt(np.where(ok, g * 1e9 / rho, 1.0)), np.nan)
        v_l = np.where(ok, np.sqrt(np.where(ok, (k + 4.0 * g / 3.0) * 1e9 / rho, 1.0)), np.nan)
        v_m = ((2.0 / v_t**3 + 1.0 / v_l**3) / 3.0) ** (-1.0 / 3.0)
    return v_t, v_l, v_m


def theta_from_elastic(
    bulk_GPa: object,
    shear_GPa: object,
    density_g_cm3: object,
    molar_mass_g_mol: object,
    n_atoms: object,
    *,
    on_invalid: str = "raise",
) -> np.ndarray:
    """Elastic Debye temperature in K from moduli, density and composition (numpy, broadcasting).

    Parameters
    ----------
    bulk_GPa, shear_GPa
        Bulk modulus K and shear modulus G in GPa (e.g. Voigt-Reuss-Hill averages).
    density_g_cm3
        Mass density in g/cm3.
    molar_mass_g_mol
        Molar mass of the formula unit (or cell) in g/mol; converted to kg/mol inside.
    n_atoms
        Number of atoms in that formula unit (or cell); the ratio ``n_atoms / molar_mass`` is what matters.
    on_invalid
        ``"raise"`` (default): a ``ValueError`` naming how many entries are invalid; ``"nan"``: NaN there.
        Invalid: non-finite, ``G <= 0``, ``K + 4G/3 <= 0`` (mechanically unstable), ``rho <= 0``,
        ``M <= 0`` or ``n_atoms <= 0``.

    Returns
    -------
    numpy.ndarray
        ``theta_elastic`` in K (a 0-d array for scalar inputs).
    """
    if on_invalid not in ("raise", "nan"):
        raise ValueError(f"on_invalid must be 'raise' or 'nan', got {on_invalid!r}")
    k, g, rho_gcc, m_gmol, n = _arrays(bulk_GPa, shear_GPa, density_g_cm3, molar_mass_g_mol, n_atoms)
    _, _, v_m = sound_velocities(k, g, rho_gcc)
    rho = rho_gcc * 1e3  # kg/m3
    molar_mass = m_gmol * 1e-3  # kg/mol
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = np.isfinite(v_m) & np.isfinite(molar_mass) & np.isfinite(n) & (molar_mass > 0) & (n > 0)
        number_density = np.where(
            ok, n * N_AVOGADRO * rho / np.where(ok, molar_mass, 1.0), np.nan
        )  # atoms/m3
        theta = H_PLANCK / K_BOLTZMANN * (3.0 * number_density / (4.0 * math.pi)) ** (1.0 / 3.0) * v_m
    bad = int(np.size(theta) - np.count_nonzero(np.isfinite(theta)))
    if bad and on_invalid == "raise":
        raise ValueError(
            f"theta_from_elastic: {bad} of {np.size(theta)} entries are invalid (need finite K, G > 0, "
            "K + 4G/3 > 0, density > 0, molar mass > 0, n_atoms > 0); pass on_invalid='nan' to get NaN there"
        )
    return theta


def cubic_vrh_moduli(c11_GPa: object, c12_GPa: object, c44_GPa: object) -> tuple[np.ndarray, np.ndarray]:
    """Voigt-Reuss-Hill bulk and shear moduli (GPa) of a cubic crystal from its elastic constants.

    ``K = (C11 + 2 C12) / 3``; ``G_V = (C11 - C12 + 3 C44) / 5``, ``G_R = 5 (C11 - C12) C44 / (4 C44 + 3 (C11 - C12))``,
    ``G = (G_V + G_R) / 2``.
    """
    c11, c12, c44 = _arrays(c11_GPa, c12_GPa, c44_GPa)
    bulk = (c11 + 2.0 * c12) / 3.0
    d = c11 - c12
    g_v = (d + 3.0 * c44) / 5.0
    with np.errstate(invalid="ignore", divide="ignore"):
        g_r = 5.0 * d * c44 / (4.0 * c44 + 3.0 * d)
    return bulk, 0.5 * (g_v + g_r)


def theta_from_structure(structure: Structure, bulk_GPa: float, shear_GPa: float) -> float:
    """Elastic Debye temperature (K) of a pymatgen ``Structure`` with the given moduli.

    Density, molar mass and atom count come from the structure's cell (``structure.density`` in g/cm3,
    ``structure.composition.weight`` in g/mol, ``len(structure)`` atoms); raises ``ValueError`` on invalid
    moduli or a disordered/empty structure.
    """
    if len(structure) == 0:
        raise ValueError("theta_from_structure: the structure has no sites")
    if not structure.is_ordered:
        raise ValueError(
            "theta_from_structure: disordered structures are not supported (partial occupancies)"
        )
    theta = theta_from_elastic(
        bulk_GPa, shear_GPa, float(structure.density), float(structure.composition.weight), len(structure)
    )
    return float(theta)


def elastic_theta_labels(
    ids: Sequence[str],
    bulk_GPa: Sequence[float | None],
    shear_GPa: Sequence[float | None],
    density_g_cm3: Sequence[float | None],
    molar_mass_g_mol: Sequence[float | None],
    n_atoms: Sequence[float | None],
) -> tuple[dict[str, float], list[Reject]]:
    """Elastic Debye temperatures for a batch of materials: ``({id: theta_elastic_K}, rejects)``.

    One bad record never stops the batch: a missing value, a non-positive input or a mechanically unstable
    pair of moduli (``G <= 0`` or ``K + 4G/3 <= 0``) becomes a :class:`~cloud_core.rejects.Reject` of stage
    ``"elastic_theta"`` with an :class:`ElasticReason` code.
    """
    columns = [bulk_GPa, shear_GPa, density_g_cm3, molar_mass_g_mol, n_atoms]
    if any(len(c) != len(ids) for c in columns):
        raise ValueError(f"all columns must have {len(ids)} entries, got {[len(c) for c in columns]}")

    def as_float(v: float | None) -> float:
        return float("nan") if v is None else float(v)

    k, g, rho, m, n = (np.array([as_float(v) for v in c], dtype=np.float64) for c in columns)
    theta = theta_from_elastic(k, g, rho, m, n, on_invalid="nan")
    results: dict[str, float] = {}
    rejects: list[Reject] = []
    for i, ident in enumerate(ids):
        if np.isfinite(theta[i]):
            results[ident] = float(theta[i])
            continue
        values = {"bulk_GPa": k[i], "shear_GPa": g[i], "density": rho[i], "molar_mass": m[i], "n_atoms": n[i]}
        missing = [name for name, v in values.items() if not np.isfinite(v)]
        if missing:
            reason, msg = ElasticReason.MISSING, f"missing or non-finite: {', '.join(missing)}"
        elif rho[i] <= 0 or m[i] <= 0 or n[i] <= 0:
            reason, msg = ElasticReason.NON_POSITIVE, f"density {rho[i]}, molar mass {m[i]}, n_atoms {n[i]}"
        else:
            reason, msg = ElasticReason.UNSTABLE, f"K = {k[i]} GPa, G = {g[i]} GPa (need G > 0, K + 4G/3 > 0)"
        rejects.append(Reject(id=ident, stage="elastic_theta", reason=str(reason), message=msg))
    return results, rejects
