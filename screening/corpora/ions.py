"""The ion table that generated pools decorate structures with.

One row per (element, oxidation state) taken from pymatgen's ``common_oxidation_states``, kept only where pymatgen
knows the ion's (Shannon crystal) radius, so that every decorated structure can be scaled to a sensible volume.
Elemental (oxidation state 0) decorations use the elements that are solid at room temperature and have an atomic
radius.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

#: Elements never used for decoration: noble gases, radioactive elements without stable isotopes, hydrogen
#: (its ions have no radius in pymatgen's tables) and everything past bismuth.
EXCLUDED_ELEMENTS = frozenset({"H", "He", "Ne", "Ar", "Kr", "Xe", "Tc", "Pm"})
MAX_Z = 83

#: Elements that are gases (or diatomic liquids) as pure elements: never used to decorate elemental prototypes.
NON_SOLID_ELEMENTS = frozenset({"N", "O", "F", "Cl", "Br"})


@dataclass(frozen=True, slots=True)
class Ion:
    """One decoration choice: an element in one oxidation state.

    Parameters
    ----------
    symbol
        Element symbol.
    charge
        Oxidation state (0 for elemental decorations).
    radius
        Shannon crystal radius for ions, atomic radius for oxidation state 0 (Angstrom).
    electronegativity
        Pauling electronegativity of the element.
    """

    symbol: str
    charge: int
    radius: float
    electronegativity: float


@lru_cache(maxsize=1)
def ion_table() -> tuple[Ion, ...]:
    """All charged ions usable for decoration, sorted by (charge, symbol) for determinism."""
    from pymatgen.core import Element, Species

    out: list[Ion] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for el in Element:
            if el.Z > MAX_Z or el.symbol in EXCLUDED_ELEMENTS:
                continue
            x = float(el.X)
            if math.isnan(x):
                continue
            for q in el.common_oxidation_states:
                if q == 0:
                    continue
                r = Species(el.symbol, q).ionic_radius
                if r is None:
                    continue
                out.append(Ion(el.symbol, int(q), float(r), x))
    out.sort(key=lambda i: (i.charge, i.symbol))
    return tuple(out)


@lru_cache(maxsize=1)
def elemental_table() -> tuple[Ion, ...]:
    """Elements (oxidation state 0) usable to decorate single-element prototypes."""
    from pymatgen.core import Element

    out: list[Ion] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for el in Element:
            if el.Z > MAX_Z or el.symbol in EXCLUDED_ELEMENTS or el.symbol in NON_SOLID_ELEMENTS:
                continue
            x = float(el.X)
            if el.atomic_radius is None or math.isnan(x):
                continue
            out.append(Ion(el.symbol, 0, float(el.atomic_radius), x))
    out.sort(key=lambda i: i.symbol)
    return tuple(out)
