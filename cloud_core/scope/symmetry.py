"""Symmetry backends: space group and Wyckoff letter of every orbit, with retries over tolerances.

moyopy is the default (fast); spglib is the cross-check. Both return Wyckoff letters of the standard setting
of the International Tables (letters do not depend on the origin choice, the cell choice or rhombohedral vs
hexagonal axes), which SCOPE then canonicalises over the group's normalizer.

A search "fails" when the backend raises or when its Wyckoff assignment is inconsistent (the number of sites
of an orbit in the given cell must be its conventional multiplicity times the same ratio for every orbit).
The search is retried at other tolerances, as Wren does, and the tolerance actually used is returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cloud_core.scope.errors import ScopeError, ScopeRejectReason
from cloud_core.scope.inputs import CellArrays
from cloud_core.scope.tables import space_group

#: Tolerances tried, in this order, after the requested one fails (Angstrom).
RETRY_SYMPRECS: tuple[float, ...] = (1e-3, 1e-4, 1e-5, 0.05, 0.1)


class Backend(StrEnum):
    """Symmetry library used for the search."""

    MOYOPY = "moyopy"
    SPGLIB = "spglib"


@dataclass(frozen=True, slots=True)
class SymmetryResult:
    """Space group and orbits of one cell.

    Attributes
    ----------
    spacegroup
        International number.
    orbits
        ``(atomic number, Wyckoff letter, sites of the orbit in the given cell)`` per orbit.
    symprec
        The tolerance that gave this result.
    backend
        The library that found it.
    """

    spacegroup: int
    orbits: tuple[tuple[int, str, int], ...]
    symprec: float
    backend: Backend


def _moyopy_raw(cell: CellArrays, symprec: float) -> tuple[int, list[int], list[str], float]:
    import moyopy

    moyo_cell = moyopy.Cell(cell.lattice.tolist(), cell.frac_coords.tolist(), cell.numbers.tolist())
    dataset = moyopy.MoyoDataset(moyo_cell, symprec=symprec)
    return dataset.number, list(dataset.orbits), list(dataset.wyckoffs), float(dataset.symprec)


def _spglib_raw(cell: CellArrays, symprec: float) -> tuple[int, list[int], list[str], float]:
    import spglib

    dataset = spglib.get_symmetry_dataset((cell.lattice, cell.frac_coords, cell.numbers), symprec=symprec)
    if dataset is None:
        raise RuntimeError(spglib.get_error_message())
    return (
        int(dataset.number),
        [int(x) for x in dataset.crystallographic_orbits],
        list(dataset.wyckoffs),
        symprec,
    )


_RAW = {Backend.MOYOPY: _moyopy_raw, Backend.SPGLIB: _spglib_raw}


def _orbits_if_consistent(
    cell: CellArrays, number: int, orbit_of: list[int], letters: list[str]
) -> tuple[tuple[int, str, int], ...] | None:
    """Group sites into orbits; ``None`` when the Wyckoff assignment does not add up."""
    mult = space_group(number).multiplicity
    members: dict[int, list[int]] = {}
    for i, rep in enumerate(orbit_of):
        members.setdefault(rep, []).append(i)
    numbers = cell.numbers.tolist()
    orbits = []
    ref: tuple[int, int] | None = (
        None  # (sites, multiplicity) of the first orbit: every orbit has the same ratio
    )
    for rep, sites in members.items():
        letter = letters[rep]
        m = mult.get(letter)
        if m is None:
            return None
        z = numbers[rep]
        for s in sites:
            if numbers[s] != z or letters[s] != letter:
                return None
        if ref is None:
            ref = (len(sites), m)
        elif len(sites) * ref[1] != ref[0] * m:
            return None
        orbits.append((z, letter, len(sites)))
    return tuple(orbits)


def find_symmetry(
    cell: CellArrays,
    *,
    symprec: float = 0.01,
    backend: Backend | str = Backend.MOYOPY,
    retry: tuple[float, ...] = RETRY_SYMPRECS,
) -> SymmetryResult:
    """Space group and Wyckoff orbits of ``cell``, retrying at other tolerances when the search fails.

    Raises
    ------
    ScopeError
        ``symmetry_not_found`` when no tolerance gives a consistent result.
    """
    backend = Backend(backend)
    raw = _RAW[backend]
    tried: list[str] = []
    for tol in dict.fromkeys((float(symprec), *retry)):
        try:
            number, orbit_of, letters, used = raw(cell, tol)
        except Exception as exc:  # noqa: BLE001 - a failed search is retried, then reported
            tried.append(f"{tol:g}: {type(exc).__name__}: {str(exc)[:120]}")
            continue
        orbits = _orbits_if_consistent(cell, number, orbit_of, letters)
        if orbits is None:
            tried.append(f"{tol:g}: inconsistent Wyckoff multiplicities in space group {number}")
            continue
        return SymmetryResult(spacegroup=number, orbits=orbits, symprec=used, backend=backend)
    raise ScopeError(
        ScopeRejectReason.SYMMETRY_NOT_FOUND,
        f"{backend} found no consistent symmetry at any tolerance ({'; '.join(tried)})",
    )


def primitive_site_count(cell: CellArrays, result: SymmetryResult) -> int:
    """Sites in the primitive cell: sum of conventional multiplicities over the centring order."""
    info = space_group(result.spacegroup)
    total = sum(info.multiplicity[letter] for _z, letter, _n in result.orbits)
    return total // info.centering_order
