"""The Materials Project formation energies the CHGNet labels are calibrated against.

The composition-level label of a formula is the minimum over its entries in crabnet's ``matbench/mp_e_form.csv``
(the ground state; elements at ~0), keyed by pymatgen's reduced formula.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

#: Metals that get a Hubbard U in MP's GGA+U scheme for oxides and fluorides (MP2020).
GGA_U_METALS = frozenset({"Co", "Cr", "Fe", "Mn", "Mo", "Ni", "V", "W"})


@lru_cache(maxsize=2)
def mp_min_formation_energy(crabnet_data: str | None = None) -> dict[str, float]:
    """Reduced formula -> minimum MP formation energy (eV/atom) over its entries."""
    import pandas as pd
    from pymatgen.core import Composition

    from screening.corpora.labels import find_crabnet_data

    path = Path(find_crabnet_data(crabnet_data)) / "matbench" / "mp_e_form.csv"
    df = pd.read_csv(path)
    out: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for formula, target in zip(df["formula"], df["target"], strict=True):
            try:
                key = Composition(formula).reduced_formula
            except Exception:  # a formula pymatgen cannot read is not comparable
                continue
            v = float(target)
            if key not in out or v < out[key]:
                out[key] = v
    return out


def chemistry_class(elements: set[str]) -> str:
    """``"u_oxide_fluoride"`` (O or F with a GGA+U metal), ``"intermetallic"`` (metals only) or ``"other"``."""
    from pymatgen.core import Element

    if elements & {"O", "F"} and elements & GGA_U_METALS:
        return "u_oxide_fluoride"
    if len(elements) > 1 and all(Element(e).is_metal for e in elements):
        return "intermetallic"
    return "other"
