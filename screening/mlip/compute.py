"""CHGNet labels of single structures: symmetry-constrained relaxation (tier A) and volume-only E(V) (tier B).

Equation of state: energies per atom at volumes ``V_c * f`` (``f`` in :attr:`MlipSettings.eos_factors`, cell
scaled isotropically, fractional coordinates fixed) are fitted by the third-order Birch-Murnaghan form, which is a
cubic polynomial in ``x = V^(-2/3)``::

    E(x) = a + b x + c x^2 + d x^3            (linear least squares, no iteration)
    V0: dE/dx = 0 with d2E/dx2 > 0;  B0 = V0 d2E/dV2 = V0 * E''(x0) * (2/3)^2 * V0^(-10/3)   [eV/A^3 -> GPa]

Tier B re-centres the scan on the fitted minimum when it lies outside the sampled volumes (at most
``eos_rounds`` scans). Rows are dicts with the columns of :data:`~screening.mlip.builder.ROW_SCHEMA`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np

EV_PER_A3_TO_GPA = 160.21766208
MAX_Z = 94  # CHGNet 0.3.0 was trained on Z <= 94


class MlipRejectReason(StrEnum):
    """Why a structure has no label."""

    TOO_LARGE = "too_large"
    NOT_CONVERGED = "not_converged"
    RELAX_FAILED = "relax_failed"
    NON_FINITE = "non_finite"
    EXPLODED = "exploded"
    SHORT_BOND = "short_bond"
    SYMMETRY_CHANGED = "symmetry_changed"
    SCOPE_FAILED = "scope_failed"
    EOS_NO_MINIMUM = "eos_no_minimum"
    UNPHYSICAL = "unphysical"
    UNSUPPORTED_ELEMENT = "unsupported_element"


@dataclass(frozen=True)
class MlipSettings:
    """Numerical settings (all written to PROVENANCE).

    Attributes
    ----------
    model_name
        CHGNet checkpoint shipped in the wheel.
    fmax
        Force (and, through the cell filter, stress) threshold of FIRE, eV/Angstrom.
    max_steps
        FIRE steps before a relaxation is a ``not_converged`` reject.
    cell_filter
        ``"frechet"`` (ASE FrechetCellFilter) or ``"exp"`` (ExpCellFilter) or ``"unit"`` (UnitCellFilter).
    symprec
        Tolerance of the FixSymmetry constraint (Angstrom).
    eos_factors
        Volume factors of the E(V) scan (tier A around the relaxed volume, tier B around the input volume).
    eos_rounds
        Tier B scans at most; each re-centres on the fitted minimum, clamped to the scan range x 1.3.
    max_volume_ratio
        ``V/V_input`` above this or below its inverse is an ``exploded`` reject (a factor, not 50%: CHGNet has no
        dispersion, so molecular and layered elements expand by 30-55% from their DFT volumes, F2 by 52%, and
        they are the elemental references of their compounds).
    min_bond_factor
        A pair closer than this times the sum of covalent radii is a ``short_bond`` reject.
    batch_size
        Structures per CHGNet forward pass for single points.
    max_sites
        Largest primitive cell accepted.
    """

    model_name: str = "0.3.0"
    fmax: float = 0.05
    max_steps: int = 300
    cell_filter: str = "frechet"
    symprec: float = 0.01
    eos_factors: tuple[float, ...] = (0.94, 0.97, 1.0, 1.03, 1.06)
    eos_rounds: int = 5
    max_volume_ratio: float = 2.0
    min_bond_factor: float = 0.6
    batch_size: int = 50
    max_sites: int = 12

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["eos_factors"] = list(self.eos_factors)
        return d


class LabelError(Exception):
    """Internal: one structure failed with a reason."""

    def __init__(self, reason: MlipRejectReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# ------------------------------------------------------------------------------------------------ E(V) fit


@dataclass(frozen=True)
class EosFit:
    """Birch-Murnaghan fit of E(V) per atom: minimum volume, energy, bulk modulus; ``inside`` if V0 was sampled."""

    v0: float
    e0: float
    bulk_modulus_gpa: float
    rmse: float
    inside: bool


def fit_birch_murnaghan(volumes: Sequence[float], energies: Sequence[float]) -> EosFit | None:
    """Fit E(V) (per atom) by a cubic in ``V^(-2/3)``; ``None`` if there is no minimum (or too few points)."""
    v = np.asarray(volumes, dtype=float)
    e = np.asarray(energies, dtype=float)
    if v.size < 4 or not (np.all(np.isfinite(v)) and np.all(np.isfinite(e))):
        return None
    x = v ** (-2.0 / 3.0)
    coef = np.polyfit(x, e, 3)  # d, c, b, a
    poly = np.poly1d(coef)
    d1, d2 = poly.deriv(1), poly.deriv(2)
    roots = [r.real for r in np.atleast_1d(d1.roots) if abs(r.imag) < 1e-12 and r.real > 0 and d2(r.real) > 0]
    if not roots:
        return None
    xm = float(np.mean(x))
    x0 = min(roots, key=lambda r: abs(r - xm))
    v0 = x0 ** (-1.5)
    if not (0.3 * v.min() < v0 < 3.0 * v.max()):
        return None
    b = v0 * float(d2(x0)) * (2.0 / 3.0) ** 2 * v0 ** (-10.0 / 3.0) * EV_PER_A3_TO_GPA
    rmse = float(np.sqrt(np.mean((poly(x) - e) ** 2)))
    return EosFit(
        v0=float(v0),
        e0=float(poly(x0)),
        bulk_modulus_gpa=float(b),
        rmse=rmse,
        inside=bool(v.min() <= v0 <= v.max()),
    )


def scaled(structure, factor: float):
    """``structure`` with its volume multiplied by ``factor`` (isotropic, fractional coordinates fixed)."""
    s = structure.copy()
    s.scale_lattice(structure.volume * factor)
    return s


def single_points(structures: Sequence, potential, batch_size: int) -> list[float]:
    """CHGNet energy per atom (eV) of each structure, batched."""
    if not structures:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        preds = potential.model.predict_structure(list(structures), task="e", batch_size=max(1, batch_size))
    if isinstance(preds, dict):
        preds = [preds]
    return [float(np.asarray(p["e"]).reshape(-1)[0]) for p in preds]


# ------------------------------------------------------------------------------------------------ checks


def min_bond_ratio(structure) -> float:
    """Smallest (pair distance / sum of covalent radii) over all pairs, periodic images included."""
    from pymatgen.analysis.molecule_structure_comparator import CovalentRadius

    cov = np.array([float(CovalentRadius.radius.get(site.specie.symbol, 1.5)) for site in structure])
    centers, points, _, dists = structure.get_neighbor_list(4.0)
    if len(dists) == 0:
        return math.inf
    return float(np.min(dists / (cov[centers] + cov[points])))


def mp2020_correction_per_atom(structure, energy_per_atom: float) -> float:
    """MP2020 energy correction (eV/atom) that MP would add to a GGA(+U) energy of this structure.

    The entry is declared GGA+U with MP's own U values wherever MP2020 expects them (oxides and fluorides of the
    GGA+U metals), so the anion and U corrections are those of MP's own calculations. ``NaN`` if MP2020 refuses
    the entry; ``0.0`` for elements.
    """
    from pymatgen.entries.compatibility import CompatibilityError
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    comp = structure.composition
    if len(comp.elements) == 1:
        return 0.0
    compat = _compat()
    most_x = max(comp.elements, key=lambda el: el.X).symbol
    u_settings = compat.u_settings.get(most_x, {})
    hubbards = {el.symbol: float(u_settings.get(el.symbol, 0.0)) for el in comp.elements}
    run_type = "GGA+U" if any(v > 0 for v in hubbards.values()) else "GGA"
    entry = ComputedStructureEntry(
        structure,
        energy_per_atom * comp.num_atoms,
        parameters={"run_type": run_type, "hubbards": hubbards, "software": "chgnet"},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            adj = compat.get_adjustments(entry)
        except (CompatibilityError, ValueError):
            return math.nan
    return float(sum(a.value for a in adj)) / comp.num_atoms


_COMPAT: list[Any] = []


def _compat():
    if not _COMPAT:
        from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _COMPAT.append(MaterialsProject2020Compatibility(check_potcar=False))
    return _COMPAT[0]


def _encode(structure) -> str:
    from cloud_core.scope import encode

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return encode(structure).to_string()


# ------------------------------------------------------------------------------------------------ tier A


def relax(structure, potential, settings: MlipSettings) -> tuple[Any, float, int, bool]:
    """FIRE relaxation of cell + positions under ``FixSymmetry``.

    Returns
    -------
    (relaxed structure, energy per atom, steps, converged)
    """
    from ase.constraints import FixSymmetry
    from ase.filters import ExpCellFilter, FrechetCellFilter, UnitCellFilter
    from ase.optimize import FIRE
    from pymatgen.io.ase import AseAtomsAdaptor

    filters = {"frechet": FrechetCellFilter, "exp": ExpCellFilter, "unit": UnitCellFilter}
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = potential.calculator()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms.set_constraint(FixSymmetry(atoms, symprec=settings.symprec))
        target = filters[settings.cell_filter](atoms)
        opt = FIRE(target, logfile=None)
        converged = bool(opt.run(fmax=settings.fmax, steps=settings.max_steps))
        energy = float(atoms.get_potential_energy()) / len(atoms)
    atoms.set_constraint()
    relaxed = AseAtomsAdaptor.get_structure(atoms)
    for key in list(relaxed.site_properties):
        relaxed.remove_site_property(key)
    return relaxed, energy, int(opt.nsteps), converged


def base_row(item, structure, scope: str, potential) -> dict[str, Any]:
    """The columns every row has, before any computation."""
    return {
        "id": item.id,
        "tier": item.tier,
        "source": item.source,
        "group": item.group,
        "priority": int(item.priority),
        "formula": structure.composition.reduced_formula,
        "elements": " ".join(sorted(el.symbol for el in structure.composition.elements)),
        "scope": scope,
        "n_sites": len(structure),
        "status": "ok",
        "reason": None,
        "message": None,
        "energy_per_atom_eV": math.nan,
        "mp2020_correction_eV_per_atom": math.nan,
        "volume_per_atom": math.nan,
        "input_volume_per_atom": float(structure.volume) / len(structure),
        "bulk_modulus_GPa": math.nan,
        "eos_rmse_meV": math.nan,
        "converged": False,
        "n_steps": 0,
        "n_single_points": 0,
        "seconds": 0.0,
        "chgnet_version": potential.version,
        "created_at": "",
        "relaxed_structure_json": None,
    }


def _reject(row: dict[str, Any], reason: MlipRejectReason, message: str) -> dict[str, Any]:
    row["status"] = "reject"
    row["reason"] = str(reason)
    row["message"] = message[:500]
    return row


def _check_elements(structure) -> None:
    bad = sorted({el.symbol for el in structure.composition.elements if el.Z > MAX_Z})
    if bad:
        raise LabelError(MlipRejectReason.UNSUPPORTED_ELEMENT, f"CHGNet covers Z <= {MAX_Z}; got {bad}")


def _check_volume(row: dict[str, Any], v_new: float, settings: MlipSettings) -> None:
    v_in = row["input_volume_per_atom"]
    if not math.isfinite(v_new):
        raise LabelError(MlipRejectReason.NON_FINITE, "non-finite volume")
    ratio = v_new / v_in
    if not 1.0 / settings.max_volume_ratio <= ratio <= settings.max_volume_ratio:
        raise LabelError(
            MlipRejectReason.EXPLODED,
            f"volume per atom {v_in:.3f} -> {v_new:.3f} A^3 (x{ratio:.2f}, limit x{settings.max_volume_ratio:g})",
        )


def label_tier_a(item, potential, settings: MlipSettings) -> dict[str, Any]:
    """Relax one tier-A item, scan E(V) around the relaxed volume; a row (status ok or reject)."""
    import json

    from screening.corpora.pool_file import compact_structure_dict
    from screening.mlip.worklist import primitive_input

    t0 = time.perf_counter()
    structure = primitive_input(item.get_structure())
    scope = getattr(item, "scope", None) or _encode(structure)
    row = base_row(item, structure, scope, potential)
    try:
        if len(structure) > settings.max_sites:
            raise LabelError(MlipRejectReason.TOO_LARGE, f"{len(structure)} sites > {settings.max_sites}")
        _check_elements(structure)
        try:
            relaxed, energy, steps, converged = relax(structure, potential, settings)
        except Exception as exc:  # one bad structure never stops the job
            raise LabelError(MlipRejectReason.RELAX_FAILED, f"{type(exc).__name__}: {exc}") from exc
        row["n_steps"] = steps
        row["converged"] = converged
        row["energy_per_atom_eV"] = energy
        v = float(relaxed.volume) / len(relaxed)
        row["volume_per_atom"] = v
        if not math.isfinite(energy):
            raise LabelError(MlipRejectReason.NON_FINITE, "non-finite energy")
        _check_volume(row, v, settings)
        if not converged:
            raise LabelError(
                MlipRejectReason.NOT_CONVERGED, f"not converged in {steps} FIRE steps (fmax {settings.fmax})"
            )
        ratio = min_bond_ratio(relaxed)
        if ratio < settings.min_bond_factor:
            raise LabelError(
                MlipRejectReason.SHORT_BOND,
                f"a bond at {ratio:.2f} x the covalent radius sum (< {settings.min_bond_factor})",
            )
        try:
            scope_after = _encode(relaxed)
        except Exception as exc:
            raise LabelError(MlipRejectReason.SCOPE_FAILED, f"relaxed structure: {exc}") from exc
        if scope_after != scope:
            raise LabelError(MlipRejectReason.SYMMETRY_CHANGED, f"{scope} -> {scope_after}")
        row["relaxed_structure_json"] = json.dumps(compact_structure_dict(relaxed, 5), separators=(",", ":"))
        energies = single_points(
            [scaled(relaxed, f) for f in settings.eos_factors], potential, settings.batch_size
        )
        row["n_single_points"] = len(energies)
        fit = fit_birch_murnaghan([v * f for f in settings.eos_factors], energies)
        if fit is not None and fit.inside and fit.bulk_modulus_gpa > 0:
            row["bulk_modulus_GPa"] = fit.bulk_modulus_gpa
            row["eos_rmse_meV"] = fit.rmse * 1000.0
        row["mp2020_correction_eV_per_atom"] = mp2020_correction_per_atom(relaxed, energy)
    except LabelError as exc:
        _reject(row, exc.reason, str(exc))
    row["seconds"] = time.perf_counter() - t0
    return row


# ------------------------------------------------------------------------------------------------ tier B


def label_tier_b(items: Sequence, potential, settings: MlipSettings) -> list[dict[str, Any]]:
    """Volume-only E(V) of a batch of tier-B items (all single points of one round batched together)."""
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    structs: list[Any] = []
    for item in items:
        s = item.get_structure()
        try:
            scope = getattr(item, "scope", None) or _encode(s)
        except Exception as exc:
            row = base_row(item, s, "", potential)
            rows.append(_reject(row, MlipRejectReason.SCOPE_FAILED, str(exc)))
            structs.append(None)
            continue
        row = base_row(item, s, scope, potential)
        if len(s) > settings.max_sites * 4:
            _reject(row, MlipRejectReason.TOO_LARGE, f"{len(s)} sites")
            s = None
        else:
            try:
                _check_elements(s)
            except LabelError as exc:
                _reject(row, exc.reason, str(exc))
                s = None
        rows.append(row)
        structs.append(s)
    centers = [1.0] * len(rows)
    samples: list[list[tuple[float, float]]] = [[] for _ in rows]
    active = [i for i, s in enumerate(structs) if s is not None]
    for _round in range(settings.eos_rounds):
        if not active:
            break
        batch = [scaled(structs[i], centers[i] * f) for i in active for f in settings.eos_factors]
        try:
            energies = single_points(batch, potential, settings.batch_size)
        except Exception as exc:  # fall back to one structure at a time, so one bad one is a reject alone
            energies = []
            for s in batch:
                try:
                    energies.extend(single_points([s], potential, 1))
                except Exception:  # noqa: BLE001 - recorded as a non-finite energy, rejected below
                    energies.append(math.nan)
            _ = exc
        k = 0
        next_active = []
        for i in active:
            v_in = rows[i]["input_volume_per_atom"]
            for f in settings.eos_factors:
                samples[i].append((v_in * centers[i] * f, energies[k]))
                k += 1
            row = rows[i]
            row["n_single_points"] = len(samples[i])
            vols, ens = zip(*samples[i], strict=True)
            if not np.all(np.isfinite(ens)):
                _reject(row, MlipRejectReason.NON_FINITE, "non-finite energy")
                continue
            recent = samples[i][-len(settings.eos_factors) :]
            fit = fit_birch_murnaghan([a for a, _ in recent], [b for _, b in recent])
            if fit is not None and fit.inside:
                row.update(
                    energy_per_atom_eV=fit.e0,
                    volume_per_atom=fit.v0,
                    bulk_modulus_GPa=fit.bulk_modulus_gpa,
                    eos_rmse_meV=fit.rmse * 1000.0,
                    converged=True,
                    n_steps=_round + 1,
                )
                continue
            # move the scan towards the minimum: the fitted one if any, else the lowest sampled energy
            lo, hi = min(settings.eos_factors), max(settings.eos_factors)
            target = fit.v0 / v_in if fit is not None else vols[int(np.argmin(ens))] / v_in
            centers[i] = float(np.clip(target, centers[i] * lo / 1.3, centers[i] * hi * 1.3))
            next_active.append(i)
        active = next_active
    for i in active:
        _reject(
            rows[i], MlipRejectReason.EOS_NO_MINIMUM, f"no E(V) minimum after {settings.eos_rounds} scans"
        )
    for i, row in enumerate(rows):
        if row["status"] != "ok":
            continue
        try:
            _check_volume(row, row["volume_per_atom"], settings)
        except LabelError as exc:
            _reject(row, exc.reason, str(exc))
            continue
        s = structs[i]
        row["mp2020_correction_eV_per_atom"] = mp2020_correction_per_atom(s, row["energy_per_atom_eV"])
    dt = (time.perf_counter() - t0) / max(1, len(rows))
    for row in rows:
        row["seconds"] = dt
    return rows
