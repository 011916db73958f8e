"""Phonon validation of a campaign's leaders: predicted Debye curves next to computed phonon curves.

:func:`validate` runs the phonon stage on the top-k candidates of a campaign and returns the rows of a
``phonon_validation`` table (one row per candidate that the stage could compute; rejects separately).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
from pymatgen.core import Structure

from cloud_core.rejects import Reject
from screening.phonons.stage import PhononResult, PhononSettings, run_phonon_stage

_LF = pa.list_(pa.float64())

PHONON_VALIDATION_SCHEMA = pa.schema(
    [
        pa.field("campaign_id", pa.string()),
        pa.field("id", pa.string(), nullable=False),
        pa.field("formula", pa.string()),
        pa.field("temperatures_K", _LF),
        pa.field("theta_pred_K", pa.float64()),
        pa.field("cv_pred_J_per_molatom_K", _LF),
        pa.field("u_pred_J_per_molatom", _LF),
        pa.field("cv_phonon_J_per_molatom_K", _LF),
        pa.field("u_phonon_J_per_molatom", _LF),
        pa.field("s_phonon_J_per_molatom_K", _LF),
        pa.field("f_phonon_J_per_molatom", _LF),
        pa.field("theta_fit_K", pa.float64()),
        pa.field("cv_mae_J_per_molatom_K", pa.float64()),
        pa.field("u_mae_J_per_molatom", pa.float64()),
        pa.field("dynamically_stable", pa.bool_()),
        pa.field("min_frequency_THz", pa.float64()),
        pa.field("potential", pa.string()),
        pa.field("potential_version", pa.string()),
        pa.field("phonopy_version", pa.string()),
        pa.field("supercell_matrix", pa.list_(pa.int32())),
        pa.field("mesh", pa.list_(pa.int32())),
        pa.field("symprec", pa.float64()),
        pa.field("computed_at", pa.timestamp("us", tz="UTC")),
    ]
)


def _predicted_curves(theta: float | None, temps: np.ndarray) -> tuple[list[float] | None, list[float] | None]:
    if theta is None or not np.isfinite(theta) or theta <= 0:
        return None, None
    import torch

    from cloud_core.debye import debye_cv, debye_u

    th = torch.tensor([float(theta)], dtype=torch.float64)
    tt = torch.as_tensor(temps, dtype=torch.float64)
    with torch.no_grad():
        return debye_cv(th, tt).reshape(-1).tolist(), debye_u(th, tt).reshape(-1).tolist()


def _row(r: PhononResult, theta: float | None, campaign_id: str | None, now: datetime) -> dict:
    cv_pred, u_pred = _predicted_curves(theta, r.temperatures)
    cv_mae = float(np.mean(np.abs(np.asarray(cv_pred) - r.cv))) if cv_pred is not None else None
    u_mae = float(np.mean(np.abs(np.asarray(u_pred) - r.u))) if u_pred is not None else None
    return {
        "campaign_id": campaign_id,
        "id": r.id,
        "formula": r.formula,
        "temperatures_K": r.temperatures.tolist(),
        "theta_pred_K": float(theta) if cv_pred is not None else None,
        "cv_pred_J_per_molatom_K": cv_pred,
        "u_pred_J_per_molatom": u_pred,
        "cv_phonon_J_per_molatom_K": r.cv.tolist(),
        "u_phonon_J_per_molatom": r.u.tolist(),
        "s_phonon_J_per_molatom_K": r.s.tolist(),
        "f_phonon_J_per_molatom": r.f.tolist(),
        "theta_fit_K": float(r.debye_theta_fit) if np.isfinite(r.debye_theta_fit) else None,
        "cv_mae_J_per_molatom_K": cv_mae,
        "u_mae_J_per_molatom": u_mae,
        "dynamically_stable": bool(r.dynamically_stable),
        "min_frequency_THz": float(r.min_frequency_thz),
        "potential": r.potential,
        "potential_version": r.potential_version,
        "phonopy_version": r.phonopy_version,
        "supercell_matrix": list(r.supercell_matrix),
        "mesh": list(r.mesh),
        "symprec": float(r.settings.symprec),
        "computed_at": now,
    }


def validate(
    items: Sequence[tuple[str, Structure]],
    predicted_theta: Mapping[str, float | None],
    *,
    temperatures: Sequence[float] | np.ndarray,
    campaign_id: str | None = None,
    settings: PhononSettings | None = None,
    torch_threads: int | None = None,
) -> tuple[pa.Table, list[Reject]]:
    """Phonon-validate a campaign's leaders.

    Parameters
    ----------
    items
        ``(id, Structure)`` of the top-k candidates (candidates without a structure cannot be validated: give
        them as rejects upstream).
    predicted_theta
        The model's Debye temperature (K) per id; a missing or non-positive value leaves the predicted curves
        null (the phonon curves are still computed).
    temperatures
        The campaign's temperature grid (K).
    campaign_id
        Written on every row.

    Returns
    -------
    (table with :data:`PHONON_VALIDATION_SCHEMA`, rejects of the phonon stage)
    """
    temps = np.asarray(temperatures, dtype=float).reshape(-1)
    results, rejects = run_phonon_stage(items, settings=settings, temperatures=temps, torch_threads=torch_threads)
    now = datetime.now(timezone.utc)
    rows = [_row(r, predicted_theta.get(r.id), campaign_id, now) for r in results]
    return pa.Table.from_pylist(rows, schema=PHONON_VALIDATION_SCHEMA), rejects
