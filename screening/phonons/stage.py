"""The phonon stage: relax with a universal potential, harmonic phonons with phonopy, thermodynamics per atom.

Plain functions over a batch of ``(id, Structure)``; they return ``(results, rejects)`` and never raise for one
bad structure. Imaginary modes make a *flagged* result (``dynamically_stable=False`` with the lowest frequency),
never a reject; a relaxation that does not converge is a :class:`~cloud_core.rejects.Reject`.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import numpy as np
from pymatgen.core import Structure
from threadpoolctl import threadpool_limits

from cloud_core.rejects import Reject
from screening.phonons.potential import DEFAULT_MODEL, Potential, load_potential, set_torch_threads

log = logging.getLogger(__name__)

STAGE = "phonon"
EV_TO_KJ_PER_MOL = 96.48533212331002  # 1 eV per particle in kJ/mol


class PhononRejectReason(str, Enum):
    """Reason codes of the phonon stage (StrEnum values)."""

    NOT_A_STRUCTURE = "not_a_structure"
    DISORDERED = "disordered"
    TOO_LARGE = "too_large"
    UNSUPPORTED_ELEMENT = "unsupported_element"
    RELAX_NOT_CONVERGED = "relax_not_converged"
    RELAX_FAILED = "relax_failed"
    PHONOPY_FAILED = "phonopy_failed"
    NON_FINITE = "non_finite"

    def __str__(self) -> str:
        return self.value


def default_temperatures() -> np.ndarray:
    """The reference temperature grid: 10, 20, ..., 1000 K (100 points)."""
    return np.arange(10.0, 1000.0 + 1e-9, 10.0)


@dataclass(frozen=True)
class PhononSettings:
    """Numerical settings of the stage (all recorded with every result).

    Attributes
    ----------
    model_name
        CHGNet checkpoint (shipped in the wheel).
    supercell_min_length
        Each supercell lattice vector is at least this long (Angstrom); diagonal multiples of the primitive cell.
    displacement
        Finite displacement amplitude (Angstrom). 0.03, not phonopy's 0.01: CHGNet's float32 forces carry
        ~1e-3 eV/Angstrom of noise, which at 0.01 Angstrom flags soft crystals (fcc Al, NaCl, CdTe) as unstable;
        the price is a softer silicon (S(298 K) 22.0 instead of 20.4 J/(mol K); experiment 18.8).
    mesh_length
        phonopy's length-based q-mesh density (Angstrom; mesh numbers = ~length x |b_i|), Gamma-centred.
    symprec
        Symmetry tolerance (Angstrom) for phonopy and for the symmetry-constrained relaxation.
    fmax
        Relaxation force threshold (eV/Angstrom), on atoms and (through the cell filter) on stress.
    max_relax_steps
        Relaxation steps before the structure is rejected as not converged.
    relax_cell
        Relax the cell too (ASE UnitCellFilter; the FrechetCellFilter's matrix log/exp cost ~10x more here).
    imaginary_tolerance_thz
        Frequencies below ``-imaginary_tolerance_thz`` flag the structure as dynamically unstable (numerical noise
        of acoustic modes near Gamma stays below it).
    max_sites
        Largest primitive cell accepted.
    force_batch_size
        Displaced supercells per CHGNet forward pass; ``None`` sends all of them as one batch.
    """

    model_name: str = DEFAULT_MODEL
    supercell_min_length: float = 10.0
    displacement: float = 0.03
    mesh_length: float = 80.0
    symprec: float = 1e-3
    fmax: float = 0.01
    max_relax_steps: int = 400
    relax_cell: bool = True
    imaginary_tolerance_thz: float = 0.1
    max_sites: int = 40
    force_batch_size: int | None = None

    def __post_init__(self) -> None:
        for name in ("supercell_min_length", "displacement", "mesh_length", "symprec", "fmax"):
            if not getattr(self, name) > 0:
                raise ValueError(f"PhononSettings.{name} must be > 0, got {getattr(self, name)!r}")
        if self.max_relax_steps < 1 or self.max_sites < 1:
            raise ValueError("PhononSettings.max_relax_steps and max_sites must be >= 1")
        if self.imaginary_tolerance_thz < 0:
            raise ValueError("PhononSettings.imaginary_tolerance_thz must be >= 0")


@dataclass
class PhononResult:
    """Phonon thermodynamics of one structure, per mole of atoms.

    Attributes
    ----------
    id, formula, n_sites
        Candidate id, reduced formula, atoms in the primitive cell.
    temperatures
        Temperature grid (K).
    cv, s
        Heat capacity and vibrational entropy, J/(mol K) per mole of atoms.
    u, f
        Vibrational internal energy (zero-point included) and free energy, J/mol per mole of atoms.
    zero_point_energy
        J/mol per mole of atoms.
    debye_theta_fit, debye_fit_rmse
        Debye temperature (K) that best fits Cv over the fit window, and its residual (J/(mol K)); NaN if the
        grid has too few points in the window.
    dynamically_stable, min_frequency_thz
        False if any mesh frequency is below ``-imaginary_tolerance_thz``; the lowest frequency (negative values
        are imaginary modes). Thermodynamics of an unstable structure sum the real modes only.
    relaxed
        The relaxed primitive structure.
    """

    id: str
    formula: str
    n_sites: int
    temperatures: np.ndarray
    cv: np.ndarray
    u: np.ndarray
    s: np.ndarray
    f: np.ndarray
    zero_point_energy: float
    debye_theta_fit: float
    debye_fit_rmse: float
    dynamically_stable: bool
    min_frequency_thz: float
    imaginary_fraction: float
    relaxed: Structure
    energy_per_atom: float
    relax_steps: int
    supercell_matrix: tuple[int, int, int]
    supercell_atoms: int
    n_displacements: int
    mesh: tuple[int, int, int]
    potential: str
    potential_version: str
    phonopy_version: str
    settings: PhononSettings
    seconds_relax: float = 0.0
    seconds_forces: float = 0.0
    seconds_total: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def provenance(self) -> dict[str, Any]:
        """Provenance of the numbers (potential, versions, supercell, mesh, tolerances)."""
        return {
            "potential": self.potential,
            "potential_version": self.potential_version,
            "phonopy_version": self.phonopy_version,
            "supercell_matrix": list(self.supercell_matrix),
            "mesh": list(self.mesh),
            **{k: v for k, v in asdict(self.settings).items() if k != "force_batch_size"},
        }


class StageError(Exception):
    """Internal: one structure failed with a reason code."""

    def __init__(self, reason: PhononRejectReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def supercell_multiples(structure: Structure, min_length: float) -> tuple[int, int, int]:
    """Diagonal multiples that make every lattice vector at least ``min_length`` long."""
    return tuple(max(1, math.ceil(min_length / float(a) - 1e-9)) for a in structure.lattice.abc)  # type: ignore[return-value]


def _check_input(sid: str, structure: Any, settings: PhononSettings) -> Structure:
    if not isinstance(structure, Structure):
        raise StageError(
            PhononRejectReason.NOT_A_STRUCTURE,
            f"expected a pymatgen Structure, got {type(structure).__name__}",
        )
    if not structure.is_ordered:
        raise StageError(
            PhononRejectReason.DISORDERED, "partial occupancies: phonons need an ordered structure"
        )
    prim = structure.get_primitive_structure(tolerance=0.05).get_reduced_structure()
    if len(prim) > settings.max_sites:
        raise StageError(
            PhononRejectReason.TOO_LARGE, f"{len(prim)} primitive sites > max_sites={settings.max_sites}"
        )
    bad = [el.symbol for el in prim.composition.elements if el.Z > 94]
    if bad:
        raise StageError(PhononRejectReason.UNSUPPORTED_ELEMENT, f"CHGNet covers Z <= 94; got {bad}")
    prim = prim.copy()
    for key in list(prim.site_properties):
        prim.remove_site_property(key)
    return prim


def relax_structure(
    structure: Structure, potential: Potential, settings: PhononSettings
) -> tuple[Structure, float, int]:
    """Relax positions (and cell) keeping the space group (ASE ``FixSymmetry``), FIRE to ``fmax``.

    Returns
    -------
    (relaxed structure, energy per atom in eV, steps taken)

    Raises
    ------
    StageError
        ``relax_not_converged`` after ``max_relax_steps``; ``relax_failed`` if the potential fails.
    """
    from ase.constraints import FixSymmetry
    from ase.filters import UnitCellFilter
    from ase.optimize import FIRE
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = potential.calculator()
    try:
        atoms.set_constraint(FixSymmetry(atoms, symprec=settings.symprec))
        target = UnitCellFilter(atoms) if settings.relax_cell else atoms
        opt = FIRE(target, logfile=None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converged = bool(opt.run(fmax=settings.fmax, steps=settings.max_relax_steps))
        energy = float(atoms.get_potential_energy()) / len(atoms)
    except Exception as exc:
        raise StageError(PhononRejectReason.RELAX_FAILED, f"{type(exc).__name__}: {exc}") from exc
    steps = int(opt.nsteps)
    if not converged:
        fmax_now = float(np.abs(target.get_forces()).max())
        raise StageError(
            PhononRejectReason.RELAX_NOT_CONVERGED,
            f"not converged in {steps} FIRE steps (max force/stress component {fmax_now:.3g} > fmax={settings.fmax})",
        )
    atoms.set_constraint()
    relaxed = AseAtomsAdaptor.get_structure(atoms)
    for key in list(relaxed.site_properties):
        relaxed.remove_site_property(key)
    return relaxed, energy, steps


def phonon_thermodynamics(
    sid: str,
    structure: Structure,
    potential: Potential,
    settings: PhononSettings,
    temperatures: np.ndarray,
) -> PhononResult:
    """Relax one structure and compute its harmonic phonon thermodynamics (raises :class:`StageError`)."""
    import phonopy
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    from screening.phonons.debye_fit import fit_debye_temperature

    t0 = time.perf_counter()
    prim = _check_input(sid, structure, settings)
    relaxed, energy, steps = relax_structure(prim, potential, settings)
    t_relax = time.perf_counter() - t0

    mult = supercell_multiples(relaxed, settings.supercell_min_length)
    try:
        unit = PhonopyAtoms(
            symbols=[site.specie.symbol for site in relaxed],
            cell=relaxed.lattice.matrix,
            scaled_positions=relaxed.frac_coords,
            masses=[float(site.specie.atomic_mass) for site in relaxed],
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ph = Phonopy(unit, supercell_matrix=np.diag(mult), primitive_matrix="P", symprec=settings.symprec)
            ph.generate_displacements(distance=settings.displacement)
        supercells = ph.supercells_with_displacements
        lattice = ph.supercell.cell
        displaced = [
            Structure(lattice, sc.symbols, sc.scaled_positions, coords_are_cartesian=False)
            for sc in supercells
        ]
    except Exception as exc:
        raise StageError(
            PhononRejectReason.PHONOPY_FAILED, f"displacements: {type(exc).__name__}: {exc}"
        ) from exc

    t1 = time.perf_counter()
    try:
        forces = potential.forces(displaced, batch_size=settings.force_batch_size)
    except Exception as exc:
        raise StageError(PhononRejectReason.RELAX_FAILED, f"forces: {type(exc).__name__}: {exc}") from exc
    t_forces = time.perf_counter() - t1

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f_arr = np.asarray(forces, dtype=float)
            f_arr -= f_arr.mean(
                axis=1, keepdims=True
            )  # remove the spurious net force (drift) of each snapshot
            ph.forces = f_arr
            ph.produce_force_constants()
            ph.symmetrize_force_constants()
            ph.run_mesh(settings.mesh_length, is_gamma_center=True)
            freqs = np.asarray(ph.mesh.frequencies, dtype=float)
            tp = ph.run_thermal_properties(temperatures=np.asarray(temperatures, dtype=float))
            if tp is None:  # older phonopy returns nothing
                tp = ph.thermal_properties
            t_grid = np.asarray(tp.temperatures, dtype=float)
            f_cell = np.asarray(tp.free_energy, dtype=float) * 1000.0  # kJ/mol of cells -> J/mol
            s_cell = np.asarray(tp.entropy, dtype=float)  # J/(K mol) of cells
            cv_cell = np.asarray(tp.heat_capacity, dtype=float)
            mesh = tuple(int(m) for m in ph.mesh.mesh_numbers)
    except Exception as exc:
        raise StageError(PhononRejectReason.PHONOPY_FAILED, f"{type(exc).__name__}: {exc}") from exc

    n = len(ph.primitive)
    cv, s, f = cv_cell / n, s_cell / n, f_cell / n
    u = f + t_grid * s
    if not (np.all(np.isfinite(cv)) and np.all(np.isfinite(u)) and np.all(np.isfinite(s))):
        raise StageError(PhononRejectReason.NON_FINITE, "non-finite thermodynamics from phonopy")
    # zero-point energy: sum over real modes of h nu / 2, weighted over the mesh, per mole of atoms
    weights = np.asarray(ph.mesh.weights, dtype=float)
    real = np.where(freqs > 0, freqs, 0.0)
    thz_to_ev = 4.135667696e-3
    zpe = (
        float((weights[:, None] * real).sum() / weights.sum())
        * 0.5
        * thz_to_ev
        * EV_TO_KJ_PER_MOL
        * 1000.0
        / n
    )

    min_freq = float(freqs.min())
    imaginary = freqs < -settings.imaginary_tolerance_thz
    try:
        fit = fit_debye_temperature(t_grid, cv)
        theta, rmse = fit.theta, fit.rmse
    except ValueError:
        theta, rmse = float("nan"), float("nan")

    return PhononResult(
        id=sid,
        formula=relaxed.composition.reduced_formula,
        n_sites=len(relaxed),
        temperatures=t_grid,
        cv=cv,
        u=u,
        s=s,
        f=f,
        zero_point_energy=zpe,
        debye_theta_fit=theta,
        debye_fit_rmse=rmse,
        dynamically_stable=not bool(imaginary.any()),
        min_frequency_thz=min_freq,
        imaginary_fraction=float((weights[:, None] * imaginary).sum() / (weights.sum() * freqs.shape[1])),
        relaxed=relaxed,
        energy_per_atom=energy,
        relax_steps=steps,
        supercell_matrix=mult,
        supercell_atoms=len(ph.supercell),
        n_displacements=len(displaced),
        mesh=mesh,  # type: ignore[arg-type]
        potential=potential.label,
        potential_version=potential.version,
        phonopy_version=phonopy.__version__,
        settings=settings,
        seconds_relax=t_relax,
        seconds_forces=t_forces,
        seconds_total=time.perf_counter() - t0,
    )


def run_phonon_stage(
    items: Iterable[tuple[str, Structure]],
    *,
    settings: PhononSettings | None = None,
    temperatures: Sequence[float] | np.ndarray | None = None,
    torch_threads: int | None = None,
    potential: Potential | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[list[PhononResult], list[Reject]]:
    """Run the phonon stage over a batch.

    Parameters
    ----------
    items
        ``(id, Structure)`` pairs.
    settings
        Numerical settings (defaults: CHGNet 0.3.0, supercell >= 10 Angstrom per side, 0.01 Angstrom displacement).
    temperatures
        Temperature grid in K (default :func:`default_temperatures`); must be >= 0 and finite.
    torch_threads
        Intra-op threads for torch and for BLAS while the stage runs (``None`` leaves the current settings).
    potential
        A loaded potential (default: ``load_potential(settings.model_name)``, cached per process).
    progress
        Called as ``progress(done, total, id)`` after each structure.

    Returns
    -------
    (results, rejects)
        One entry per input, in either list; an unstable structure is a result with ``dynamically_stable=False``.

    Raises
    ------
    ValueError
        On a bad temperature grid or a model that cannot be loaded (wrong as a whole, not per structure).
    """
    settings = settings or PhononSettings()
    temps = (
        default_temperatures() if temperatures is None else np.asarray(temperatures, dtype=float).reshape(-1)
    )
    if temps.size == 0 or not np.all(np.isfinite(temps)) or np.any(temps < 0):
        raise ValueError("temperatures must be a non-empty list of finite values >= 0 K")
    set_torch_threads(torch_threads)
    potential = potential or load_potential(settings.model_name)
    items = list(items)
    results: list[PhononResult] = []
    rejects: list[Reject] = []
    # BLAS threads on tiny 3x3 / 6x6 linear algebra (cell filter, phonopy) only spin-wait on a busy machine:
    # keep them to the torch thread count
    with threadpool_limits(limits=torch_threads):
        _run_items(items, settings, temps, potential, results, rejects, progress)
    return results, rejects


def _run_items(
    items: list[tuple[str, Structure]],
    settings: PhononSettings,
    temps: np.ndarray,
    potential: Potential,
    results: list[PhononResult],
    rejects: list[Reject],
    progress: Callable[[int, int, str], None] | None,
) -> None:
    for i, (sid, structure) in enumerate(items, start=1):
        try:
            results.append(phonon_thermodynamics(str(sid), structure, potential, settings, temps))
        except StageError as exc:
            rejects.append(Reject(id=str(sid), stage=STAGE, reason=exc.reason.value, message=str(exc)))
        except Exception as exc:  # a bug or a library failure on one structure must not stop the batch
            log.exception("phonon stage failed on %s", sid)
            rejects.append(
                Reject(
                    id=str(sid),
                    stage=STAGE,
                    reason=PhononRejectReason.PHONOPY_FAILED.value,
                    message=f"unexpected {type(exc).__name__}: {exc}",
                )
            )
        if progress is not None:
            progress(i, len(items), str(sid))
