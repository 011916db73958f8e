"""SCOPE encoding: one crystal (:func:`encode`), a composition (:func:`encode_formula`), a batch (:func:`encode_many`)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from cloud_core.rejects import Reject
from cloud_core.scope.canonical import canonical_orbits
from cloud_core.scope.errors import ScopeError, ScopeRejectReason
from cloud_core.scope.formula import rational_stoichiometry, reduced_stoichiometry
from cloud_core.scope.inputs import MAX_SITES, OVERLAP_DISTANCE, to_cell_arrays
from cloud_core.scope.record import ScopeRecord
from cloud_core.scope.symmetry import RETRY_SYMPRECS, Backend, find_symmetry, primitive_site_count
from cloud_core.scope.tables import MAX_SUPPORTED_Z, element_by_symbol, element_by_z

#: Stage name written on rejects of this module.
STAGE = "scope"
DEFAULT_SYMPREC = 0.01


def encode(
    obj: Any,
    *,
    symprec: float = DEFAULT_SYMPREC,
    backend: Backend | str = Backend.MOYOPY,
    max_sites: int = MAX_SITES,
    overlap_distance: float = OVERLAP_DISTANCE,
    retry_symprecs: tuple[float, ...] = RETRY_SYMPRECS,
) -> ScopeRecord:
    """Encode one crystal as a canonical SCOPE record.

    Parameters
    ----------
    obj
        pymatgen ``Structure``, ASE ``Atoms``, or a path to a CIF / POSCAR file.
    symprec
        Symmetry tolerance in Angstrom tried first (0.01 reproduces the AFLOW space group of 284 of the 288
        prototypes pymatgen ships). If the search fails, ``retry_symprecs`` are tried in order; the record
        keeps the tolerance used.
    backend
        ``"moyopy"`` (default, fast) or ``"spglib"`` (cross-check).
    max_sites
        Largest number of sites accepted in the given cell.
    overlap_distance
        Atoms closer than this (Angstrom) make the input invalid.
    retry_symprecs
        Tolerances tried after ``symprec`` fails.

    Returns
    -------
    ScopeRecord

    Raises
    ------
    ScopeError
        With ``.reason`` one of :class:`~cloud_core.scope.errors.ScopeRejectReason`.
    """
    if not symprec > 0:
        raise ValueError(f"symprec must be > 0, got {symprec!r}")
    cell = to_cell_arrays(obj, max_sites=max_sites, overlap_distance=overlap_distance)
    sym = find_symmetry(cell, symprec=symprec, backend=backend, retry=retry_symprecs)
    symbols = [(element_by_z(z).symbol, letter) for z, letter, _n in sym.orbits]
    orbits = canonical_orbits(sym.spacegroup, symbols)
    counts: Counter[str] = Counter()
    for z, n in Counter(cell.numbers.tolist()).items():
        counts[element_by_z(int(z)).symbol] = n
    return ScopeRecord(
        spacegroup=sym.spacegroup,
        orbits=orbits,
        stoichiometry=reduced_stoichiometry(counts),
        n_sites=primitive_site_count(cell, sym),
        symprec=sym.symprec,
        backend=str(sym.backend),
    )


def encode_formula(formula: Any) -> ScopeRecord:
    """Encode a composition whose symmetry is unknown: ``"Fe2O3" -> "? | - | Fe 2 O 3"``.

    Parameters
    ----------
    formula
        A formula string (``"Fe2O3"``, ``"Li0.5CoO2"``), a pymatgen ``Composition`` or a mapping element ->
        amount. Fractional amounts must be exact small rationals (denominator <= 100).

    Raises
    ------
    ScopeError
        ``non_integer_formula``, ``unsupported_element`` or ``invalid_input``.
    """
    from pymatgen.core import Composition, DummySpecies, Element, Species

    if isinstance(formula, str):
        if not formula.strip():
            raise ScopeError(ScopeRejectReason.INVALID_INPUT, "empty formula")
        try:
            comp = Composition(formula)
        except Exception as exc:  # noqa: BLE001 - pymatgen raises several types for bad formulas
            raise ScopeError(
                ScopeRejectReason.INVALID_INPUT, f"cannot parse formula {formula!r}: {exc}"
            ) from None
    elif isinstance(formula, Composition):
        comp = formula
    elif hasattr(formula, "items"):
        try:
            comp = Composition(dict(formula))
        except Exception as exc:  # noqa: BLE001
            raise ScopeError(
                ScopeRejectReason.INVALID_INPUT, f"cannot read composition {formula!r}: {exc}"
            ) from None
    else:
        raise ScopeError(
            ScopeRejectReason.INVALID_INPUT, f"cannot encode a {type(formula).__name__} as a formula"
        )
    amounts: dict[str, float] = {}
    for sp, amount in comp.items():
        if isinstance(sp, DummySpecies) or not isinstance(sp, (Element, Species)):
            raise ScopeError(ScopeRejectReason.UNSUPPORTED_ELEMENT, f"{sp!s} is not an element")
        info = element_by_symbol(sp.symbol if isinstance(sp, Element) else sp.element.symbol)
        if info.z > MAX_SUPPORTED_Z:
            raise ScopeError(
                ScopeRejectReason.UNSUPPORTED_ELEMENT,
                f"{sp!s} is beyond the supported elements (Z <= {MAX_SUPPORTED_Z})",
            )
        amounts[info.symbol] = amounts.get(info.symbol, 0.0) + float(amount)
    return ScopeRecord(
        spacegroup=None,
        orbits=(),
        stoichiometry=rational_stoichiometry(amounts),
        n_sites=None,
        symprec=None,
        backend="formula",
    )


def _default_id(item: Any, index: int) -> str:
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    return str(index)


def encode_many(
    items: Iterable[Any],
    *,
    ids: Sequence[str] | None = None,
    symprec: float = DEFAULT_SYMPREC,
    backend: Backend | str = Backend.MOYOPY,
    max_sites: int = MAX_SITES,
    overlap_distance: float = OVERLAP_DISTANCE,
) -> tuple[list[tuple[str, ScopeRecord]], list[Reject]]:
    """Encode a batch; one bad item never stops the batch.

    Parameters
    ----------
    items
        Structures, ASE Atoms or paths (anything :func:`encode` takes).
    ids
        One id per item; default: the path for paths, else the position in ``items`` as a string.
    symprec, backend, max_sites, overlap_distance
        As for :func:`encode`.

    Returns
    -------
    tuple[list[tuple[str, ScopeRecord]], list[Reject]]
        ``(id, record)`` for every item encoded, in input order, and one ``Reject`` (stage ``"scope"``) per
        item that was not.
    """
    if not symprec > 0:
        raise ValueError(f"symprec must be > 0, got {symprec!r}")
    backend = Backend(backend)
    items = list(items)
    if ids is not None:
        ids = [str(i) for i in ids]
        if len(ids) != len(items):
            raise ValueError(f"{len(ids)} ids for {len(items)} items")
    results: list[tuple[str, ScopeRecord]] = []
    rejects: list[Reject] = []
    for index, item in enumerate(items):
        item_id = ids[index] if ids is not None else _default_id(item, index)
        try:
            record = encode(
                item, symprec=symprec, backend=backend, max_sites=max_sites, overlap_distance=overlap_distance
            )
        except ScopeError as exc:
            rejects.append(Reject(item_id, STAGE, str(exc.reason), exc.message))
        except Exception as exc:  # noqa: BLE001 - errors are data: a bug in one item must not stop the batch
            rejects.append(
                Reject(item_id, STAGE, str(ScopeRejectReason.INTERNAL_ERROR), f"{type(exc).__name__}: {exc}")
            )
        else:
            results.append((item_id, record))
    return results, rejects
