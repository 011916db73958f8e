"""Phonon results as Arrow tables (the reference set and the ``phonon_validation`` rows share these columns)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from screening.phonons.stage import PhononResult

_F64 = pa.float64()
_LF = pa.list_(pa.float64())
_LI = pa.list_(pa.int32())

PHONON_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("formula", pa.string()),
        pa.field("n_sites", pa.int32()),
        pa.field("spacegroup", pa.int32()),
        pa.field("temperatures_K", _LF),
        pa.field("cv_J_per_molatom_K", _LF),
        pa.field("u_J_per_molatom", _LF),
        pa.field("s_J_per_molatom_K", _LF),
        pa.field("f_J_per_molatom", _LF),
        pa.field("zero_point_energy_J_per_molatom", _F64),
        pa.field("debye_theta_fit_K", _F64),
        pa.field("debye_fit_rmse_J_per_molatom_K", _F64),
        pa.field("dynamically_stable", pa.bool_()),
        pa.field("min_frequency_THz", _F64),
        pa.field("imaginary_fraction", _F64),
        pa.field("energy_eV_per_atom", _F64),
        pa.field("relax_steps", pa.int32()),
        pa.field("supercell_matrix", _LI),
        pa.field("supercell_atoms", pa.int32()),
        pa.field("n_displacements", pa.int32()),
        pa.field("mesh", _LI),
        pa.field("potential", pa.string()),
        pa.field("potential_version", pa.string()),
        pa.field("phonopy_version", pa.string()),
        pa.field("symprec", _F64),
        pa.field("displacement_A", _F64),
        pa.field("supercell_min_length_A", _F64),
        pa.field("mesh_length_A", _F64),
        pa.field("fmax_eV_per_A", _F64),
        pa.field("imaginary_tolerance_THz", _F64),
        pa.field("seconds", _F64),
        pa.field("structure_json", pa.string()),
    ]
)


def _spacegroup(result: PhononResult) -> int | None:
    from cloud_core.scope.inputs import to_cell_arrays
    from cloud_core.scope.symmetry import Backend, find_symmetry

    try:
        cell = to_cell_arrays(result.relaxed)
        return find_symmetry(cell, symprec=result.settings.symprec, backend=Backend.SPGLIB, retry=()).spacegroup
    except Exception:  # symmetry is informative here, never a reason to lose a result
        return None


def result_to_row(result: PhononResult, source: str | None = None) -> dict[str, Any]:
    """One result as a plain dict with :data:`PHONON_SCHEMA`'s columns (JSON-serialisable)."""
    st = result.settings
    return {
        "id": result.id,
        "source": source,
        "formula": result.formula,
        "n_sites": int(result.n_sites),
        "spacegroup": _spacegroup(result),
        "temperatures_K": [float(x) for x in result.temperatures],
        "cv_J_per_molatom_K": [float(x) for x in result.cv],
        "u_J_per_molatom": [float(x) for x in result.u],
        "s_J_per_molatom_K": [float(x) for x in result.s],
        "f_J_per_molatom": [float(x) for x in result.f],
        "zero_point_energy_J_per_molatom": float(result.zero_point_energy),
        "debye_theta_fit_K": _finite_or_none(result.debye_theta_fit),
        "debye_fit_rmse_J_per_molatom_K": _finite_or_none(result.debye_fit_rmse),
        "dynamically_stable": bool(result.dynamically_stable),
        "min_frequency_THz": float(result.min_frequency_thz),
        "imaginary_fraction": float(result.imaginary_fraction),
        "energy_eV_per_atom": float(result.energy_per_atom),
        "relax_steps": int(result.relax_steps),
        "supercell_matrix": [int(x) for x in result.supercell_matrix],
        "supercell_atoms": int(result.supercell_atoms),
        "n_displacements": int(result.n_displacements),
        "mesh": [int(x) for x in result.mesh],
        "potential": result.potential,
        "potential_version": result.potential_version,
        "phonopy_version": result.phonopy_version,
        "symprec": float(st.symprec),
        "displacement_A": float(st.displacement),
        "supercell_min_length_A": float(st.supercell_min_length),
        "mesh_length_A": float(st.mesh_length),
        "fmax_eV_per_A": float(st.fmax),
        "imaginary_tolerance_THz": float(st.imaginary_tolerance_thz),
        "seconds": float(result.seconds_total),
        "structure_json": json.dumps(result.relaxed.as_dict()),
    }


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def rows_to_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Rows (from :func:`result_to_row`) as an Arrow table with :data:`PHONON_SCHEMA`."""
    return pa.Table.from_pylist(list(rows), schema=PHONON_SCHEMA)


def results_to_table(results: Sequence[PhononResult], sources: dict[str, str] | None = None) -> pa.Table:
    """Phonon results as an Arrow table with :data:`PHONON_SCHEMA`."""
    sources = sources or {}
    return rows_to_table([result_to_row(r, sources.get(r.id)) for r in results])
