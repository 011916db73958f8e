"""Turn whatever the caller gives (pymatgen Structure, ASE Atoms, a CIF/POSCAR path) into plain arrays.

Every problem with the input itself becomes a :class:`ScopeError` with its reason: unreadable file, disorder,
unsupported element, invalid lattice, overlapping atoms, too many sites.

Disorder and overlap mean the same whatever the format (CIF, POSCAR, extxyz, a pymatgen dict, ASE Atoms):

- ``disordered``: a site holds several species, or is partially occupied (total occupancy < 1);
- ``overlapping_atoms``: two atoms of the input are closer than 0.5 A, *or on the same position*. A CIF that
  lists two fully occupied atoms at one position is read without letting pymatgen merge them
  (:func:`read_cif_structures`: its CIF parser sums the occupancies of atoms within ``site_tolerance`` of each
  other into one site, then either drops the structure or, with ``check_occu=False``, keeps the sum
  unscaled); a site whose occupancies sum above 1 is two atoms on one position, so it is ``overlapping_atoms``,
  as the same crystal written as a POSCAR is.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import numpy as np

from cloud_core.scope.errors import ScopeError, ScopeRejectReason
from cloud_core.scope.tables import MAX_SUPPORTED_Z

#: Two atoms closer than this (Angstrom) are overlapping.
OVERLAP_DISTANCE = 0.5
#: Default upper limit on the number of sites in the given cell (symmetry search cost grows fast beyond).
MAX_SITES = 1000
_OCCUPANCY_TOL = 1e-6


@dataclass(frozen=True, slots=True)
class CellArrays:
    """A periodic, ordered crystal as arrays: lattice rows in Angstrom, fractional coordinates, atomic numbers."""

    lattice: np.ndarray
    frac_coords: np.ndarray
    numbers: np.ndarray


def is_cif(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a CIF (``*.cif``, ``*.mcif``, compressed or not), as pymatgen decides."""
    name = Path(path).name.lower()
    return fnmatch(name, "*.cif*") or fnmatch(name, "*.mcif*")


def read_cif_structures(path: str | os.PathLike[str]) -> list[Any]:
    """Every structure of a CIF, with each site's occupancies as the file gives them (summed, never rescaled).

    pymatgen's ``CifParser`` merges atoms within ``site_tolerance`` of each other into one site; with its default
    ``check_occu=True`` a merged site whose occupancies sum above 1 makes it drop the structure ("no structures"),
    and readers that fall back to ASE then merge the atoms silently into a different formula. Read with
    ``check_occu=False``, the merged site keeps its summed occupancy, which :func:`check_occupancies` reports as
    overlapping atoms.

    Raises
    ------
    Exception
        Whatever pymatgen raises for an unreadable CIF (``on_error="raise"``).
    """
    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parser = CifParser(str(path))
        return list(parser.parse_structures(primitive=False, check_occu=False, on_error="raise"))


def check_occupancies(structure: Any) -> None:
    """Reject disorder and atoms on one position in a pymatgen structure, by the sites' occupancies.

    Raises
    ------
    ScopeError
        ``overlapping_atoms`` when a site's occupancies sum above 1 (two atoms on one position),
        ``disordered`` when a site holds several species or its occupancy is below 1.
    """
    for i, site in enumerate(structure):
        items = list(site.species.items())
        total = sum(float(occ) for _sp, occ in items)
        if total > 1.0 + _OCCUPANCY_TOL:
            raise ScopeError(
                ScopeRejectReason.OVERLAPPING_ATOMS,
                f"site {i} holds {site.species.formula} (occupancies sum to {total:g}): "
                "several atoms of the input on one position",
            )
        if len(items) != 1:
            raise ScopeError(
                ScopeRejectReason.DISORDERED, f"site {i} holds several species: {site.species.formula}"
            )
        if total < 1.0 - _OCCUPANCY_TOL:
            raise ScopeError(
                ScopeRejectReason.DISORDERED,
                f"site {i} ({items[0][0]}) is partially occupied ({total:g} < 1)",
            )


def read_structure_file(path: str | os.PathLike[str]) -> Any:
    """Read a CIF / POSCAR (or anything pymatgen, then ASE, can read) into a pymatgen Structure.

    Raises
    ------
    ScopeError
        ``unreadable_file`` when the path does not exist or no reader understands it.
    """
    p = Path(path)
    if not p.is_file():
        what = "a directory, not a file" if p.is_dir() else "no such file"
        raise ScopeError(ScopeRejectReason.UNREADABLE_FILE, f"{what}: {str(p)!r}")
    errors: list[str] = []
    from pymatgen.core import Structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if is_cif(p):
                structures = read_cif_structures(p)
                if not structures:
                    raise ValueError("no structure in the CIF")
                structure = structures[0]
            else:
                structure = Structure.from_file(str(p))
            if len(structure) == 0:
                raise ValueError("no atoms")
            return structure
        except Exception as exc:  # noqa: BLE001 - any reader failure is an unreadable file
            errors.append(f"pymatgen: {type(exc).__name__}: {exc}")
        if is_cif(p):  # ASE's CIF reader merges atoms on one position silently: never the fallback for CIFs
            detail = "; ".join(e[:200] for e in errors)
            raise ScopeError(ScopeRejectReason.UNREADABLE_FILE, f"cannot read {str(p)!r} as a CIF ({detail})")
        try:
            from ase.io import read

            atoms = read(str(p))
            if isinstance(atoms, list):
                atoms = atoms[0]
            if len(atoms) == 0:
                raise ValueError("no atoms")
            return atoms
        except Exception as exc:  # noqa: BLE001
            errors.append(f"ase: {type(exc).__name__}: {exc}")
    detail = "; ".join(e[:200] for e in errors)
    raise ScopeError(
        ScopeRejectReason.UNREADABLE_FILE, f"cannot read {str(p)!r} as a crystal structure ({detail})"
    )


def _check_z(z: int, label: str) -> int:
    if not 1 <= z <= MAX_SUPPORTED_Z:
        raise ScopeError(
            ScopeRejectReason.UNSUPPORTED_ELEMENT,
            f"{label} is not a supported element (atomic numbers 1-{MAX_SUPPORTED_Z})",
        )
    return z


def _from_pymatgen(structure: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from pymatgen.core import DummySpecies, Element, Species

    check_occupancies(structure)
    numbers = []
    coords = []
    for i, site in enumerate(structure):
        sp = next(iter(site.species))
        if type(sp) is Element:
            z = sp.Z
        elif isinstance(sp, Element):
            z = sp.Z
        elif isinstance(sp, Species) and not isinstance(sp, DummySpecies):
            z = sp.element.Z
        else:
            raise ScopeError(ScopeRejectReason.UNSUPPORTED_ELEMENT, f"site {i} holds {sp!s}, not an element")
        if not 1 <= z <= MAX_SUPPORTED_Z:
            _check_z(int(z), f"site {i} ({sp!s})")
        numbers.append(z)
        coords.append(site.frac_coords)
    return (
        np.asarray(structure.lattice.matrix, dtype=float),
        np.array(coords, dtype=float),
        np.array(numbers, dtype=np.int64),
    )


def _from_ase(atoms: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not all(atoms.pbc):
        raise ScopeError(
            ScopeRejectReason.INVALID_LATTICE, f"ASE Atoms is not periodic in 3D (pbc={list(atoms.pbc)})"
        )
    lattice = np.asarray(atoms.cell.array, dtype=float)
    numbers = np.asarray(atoms.numbers, dtype=np.int64)
    for i, z in enumerate(numbers):
        _check_z(int(z), f"atom {i} (Z={int(z)})")
    occupancy = atoms.info.get("occupancy") if isinstance(atoms.info, dict) else None
    if occupancy:
        for i, occ in occupancy.items():
            values = [float(v) for v in (occ.values() if isinstance(occ, dict) else [occ])]
            if sum(values) > 1 + _OCCUPANCY_TOL:
                raise ScopeError(
                    ScopeRejectReason.OVERLAPPING_ATOMS,
                    f"atom {i} holds {occ} (occupancies sum to {sum(values):g}): several atoms on one position",
                )
            if len(values) > 1:
                raise ScopeError(ScopeRejectReason.DISORDERED, f"atom {i} holds several species: {occ}")
            if values and values[0] < 1 - _OCCUPANCY_TOL:
                raise ScopeError(
                    ScopeRejectReason.DISORDERED, f"atom {i} is partially occupied ({values[0]:g} < 1)"
                )
    with np.errstate(all="ignore"):
        try:
            frac = np.linalg.solve(lattice.T, np.asarray(atoms.positions, dtype=float).T).T
        except np.linalg.LinAlgError as exc:
            raise ScopeError(ScopeRejectReason.INVALID_LATTICE, f"singular lattice: {exc}") from None
    return lattice, frac, numbers


def to_cell_arrays(
    obj: Any, *, max_sites: int = MAX_SITES, overlap_distance: float = OVERLAP_DISTANCE
) -> CellArrays:
    """Validate one input and return it as arrays.

    Parameters
    ----------
    obj
        pymatgen ``Structure``/``IStructure``, ASE ``Atoms``, or a path (``str`` / ``PathLike``) to a CIF,
        POSCAR or other file that pymatgen or ASE can read.
    max_sites
        Reject cells with more sites than this (``too_many_sites``).
    overlap_distance
        Reject cells with two atoms closer than this, in Angstrom (``overlapping_atoms``).
    """
    if isinstance(obj, (str, os.PathLike)):
        obj = read_structure_file(obj)
    from pymatgen.core import IStructure

    kind = type(obj).__name__
    if isinstance(obj, IStructure):
        if len(obj) == 0:
            raise ScopeError(ScopeRejectReason.INVALID_INPUT, "empty structure")
        if len(obj) > max_sites:
            raise ScopeError(ScopeRejectReason.TOO_MANY_SITES, f"{len(obj)} sites > limit {max_sites}")
        lattice, frac, numbers = _from_pymatgen(obj)
    elif hasattr(obj, "cell") and hasattr(obj, "numbers") and hasattr(obj, "pbc"):
        if len(obj) == 0:
            raise ScopeError(ScopeRejectReason.INVALID_INPUT, "empty Atoms")
        if len(obj) > max_sites:
            raise ScopeError(ScopeRejectReason.TOO_MANY_SITES, f"{len(obj)} sites > limit {max_sites}")
        lattice, frac, numbers = _from_ase(obj)
    else:
        raise ScopeError(
            ScopeRejectReason.INVALID_INPUT,
            f"cannot encode a {kind}: give a pymatgen Structure, an ASE Atoms or a path to a CIF/POSCAR file",
        )
    spacings = check_lattice(lattice)
    if not np.isfinite(frac).all():
        raise ScopeError(ScopeRejectReason.INVALID_INPUT, "non-finite atomic coordinates")
    frac = frac - np.floor(frac)
    frac[frac >= 1.0] = 0.0
    check_overlap(lattice, frac, overlap_distance, spacings=spacings)
    return CellArrays(lattice=lattice, frac_coords=frac, numbers=numbers)


def check_lattice(lattice: np.ndarray) -> tuple[float, float, float]:
    """Reject non-finite or degenerate lattices (``invalid_lattice``); return the three interplanar spacings."""
    if lattice.shape != (3, 3):
        raise ScopeError(ScopeRejectReason.INVALID_LATTICE, "lattice is not a 3x3 matrix")
    (a1, a2, a3), (b1, b2, b3), (c1, c2, c3) = lattice.tolist()
    if not all(math.isfinite(x) for x in (a1, a2, a3, b1, b2, b3, c1, c2, c3)):
        raise ScopeError(ScopeRejectReason.INVALID_LATTICE, "lattice has non-finite entries")
    lengths = (math.hypot(a1, a2, a3), math.hypot(b1, b2, b3), math.hypot(c1, c2, c3))
    if min(lengths) < 1e-3:
        raise ScopeError(ScopeRejectReason.INVALID_LATTICE, f"lattice vector of length {min(lengths):.3g} A")
    # cross products b x c, c x a, a x b: their norms are the face areas, a . (b x c) the volume
    bc = (b2 * c3 - b3 * c2, b3 * c1 - b1 * c3, b1 * c2 - b2 * c1)
    ca = (c2 * a3 - c3 * a2, c3 * a1 - c1 * a3, c1 * a2 - c2 * a1)
    ab = (a2 * b3 - a3 * b2, a3 * b1 - a1 * b3, a1 * b2 - a2 * b1)
    volume = abs(a1 * bc[0] + a2 * bc[1] + a3 * bc[2])
    if volume < 1e-6 * lengths[0] * lengths[1] * lengths[2] or volume < 1e-3:
        raise ScopeError(ScopeRejectReason.INVALID_LATTICE, f"degenerate lattice (volume {volume:.3g} A^3)")
    return (volume / math.hypot(*bc), volume / math.hypot(*ca), volume / math.hypot(*ab))


def check_overlap(
    lattice: np.ndarray,
    frac: np.ndarray,
    overlap_distance: float,
    *,
    spacings: tuple[float, float, float] | None = None,
) -> None:
    """Reject two atoms (or an atom and its own image) closer than ``overlap_distance`` (``overlapping_atoms``).

    When every interplanar spacing of the cell exceeds twice the threshold, a pair closer than the threshold
    can only be the minimum image in fractional coordinates (``|d_k + n_k| < r / h_k < 1/2``), and an atom is
    farther than the threshold from its own images, so one rounded difference per pair is exact (used up to
    256 sites); otherwise pymatgen's periodic neighbour search is used.
    """
    if overlap_distance <= 0:
        return
    if spacings is None:
        spacings = check_lattice(lattice)
    n = len(frac)
    if min(spacings) > 2.0 * overlap_distance and n <= 256:
        if n < 2:
            return
        d = frac[None, :, :] - frac[:, None, :]
        d -= np.rint(d)
        cart = d @ lattice
        dist2 = np.einsum("ijk,ijk->ij", cart, cart)
        np.fill_diagonal(dist2, np.inf)
        k = int(np.argmin(dist2))
        if dist2.flat[k] < overlap_distance**2:
            i, j = divmod(k, n)
            raise ScopeError(
                ScopeRejectReason.OVERLAPPING_ATOMS,
                f"atoms {i} and {j} are {math.sqrt(float(dist2.flat[k])):.3f} A apart (< {overlap_distance} A)",
            )
        return
    from pymatgen.optimization.neighbors import find_points_in_spheres

    cart = np.ascontiguousarray(frac @ lattice)
    i, j, offsets, dist = find_points_in_spheres(
        cart,
        cart,
        r=float(overlap_distance),
        pbc=np.array([1, 1, 1], dtype=np.int64),
        lattice=np.ascontiguousarray(lattice),
        tol=1e-8,
    )
    mask = (i != j) | np.any(offsets != 0, axis=1)
    if np.any(mask):
        k = int(np.argmin(np.where(mask, dist, np.inf)))
        raise ScopeError(
            ScopeRejectReason.OVERLAPPING_ATOMS,
            f"atoms {int(i[k])} and {int(j[k])} are {float(dist[k]):.3f} A apart (< {overlap_distance} A)",
        )
