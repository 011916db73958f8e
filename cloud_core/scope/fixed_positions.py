"""Build the table of Wyckoff positions without free parameters (fixed points) of the 230 space groups.

A Wyckoff position whose coordinates have no free parameter (``4a`` = ``0,0,0`` in Fm-3m) holds one set of
points, so a crystal can occupy it at most once; a position with a free parameter (``24e`` = ``x,0,0``) can be
occupied several times at different ``x``. The SCOPE validator (:mod:`cloud_core.scope.validate`) rejects a
string that uses a fixed position twice.

The degrees of freedom come from pyxtal's Wyckoff tables (standard settings, rhombohedral groups on hexagonal
axes, the same letters and multiplicities as pymatgen's table, which the build checks). They are computed once,
offline, and written to ``cloud_core/data/scope/fixed_positions.json``, which :mod:`cloud_core.scope.tables`
reads (importing pyxtal costs seconds).

Run: ``python -m cloud_core.scope.fixed_positions`` (needs pyxtal; a few seconds).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "data" / "scope" / "fixed_positions.json"


def fixed_letters() -> dict[str, str]:
    """Space group number -> letters of its positions without free parameters (alphabetical), from pyxtal.

    Raises
    ------
    RuntimeError
        If pyxtal's letters or multiplicities disagree with pymatgen's table for some group.
    """
    from pyxtal.symmetry import Group

    from cloud_core.scope.tables import LETTER_RANK, _prototype_data_dir

    with gzip.open(_prototype_data_dir() / "wyckoff-position-multiplicities.json.gz", "rt") as fh:
        pymatgen_mult = json.load(fh)
    out: dict[str, str] = {}
    for number in range(1, 231):
        positions = Group(number).Wyckoff_positions
        mult = {wp.letter: int(wp.multiplicity) for wp in positions}
        expected = {str(k): int(v) for k, v in pymatgen_mult[str(number)].items()}
        if mult != expected:
            raise RuntimeError(f"space group {number}: pyxtal {mult} != pymatgen {expected}")
        fixed = [wp.letter for wp in positions if int(wp.get_dof()) == 0]
        out[str(number)] = "".join(sorted(fixed, key=LETTER_RANK.__getitem__))
    return out


def build(path: Path = OUTPUT) -> dict[str, str]:
    """Compute :func:`fixed_letters` and write it as JSON (atomically)."""
    table = fixed_letters()
    payload = {
        "description": "Wyckoff letters without free parameters of each space group (standard settings, "
        "rhombohedral groups on hexagonal axes), built by cloud_core/scope/fixed_positions.py from pyxtal",
        "fixed": table,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=0, sort_keys=True) + "\n")
    tmp.replace(path)
    return table


if __name__ == "__main__":
    table = build()
    print(
        f"wrote {OUTPUT}: {sum(len(v) for v in table.values())} fixed positions in {len(table)} space groups"
    )
