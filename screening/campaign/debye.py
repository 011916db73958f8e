"""Debye step: predicted Debye temperatures -> thermodynamic curves on the campaign's temperature grid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa


def debye_chunk(
    candidate_ids: Sequence[str],
    theta_K: Sequence[float],
    n_atoms: Sequence[int | None],
    temperatures_K: Sequence[float],
) -> pa.Table:
    """Cv, U, S, F (per mole of atoms, and per mole of cells where ``n_atoms`` is known) on a T grid.

    Returns
    -------
    pyarrow.Table
        Long format, one row per (candidate, temperature): ``candidate_id, T_K, theta_K, n_atoms`` and every
        quantity :func:`cloud_core.debye.thermo` returns (``cv_J_per_molatom_K``, ``u_J_per_molatom``, ...).
    """
    import torch

    from cloud_core.debye import thermo

    m, k = len(candidate_ids), len(temperatures_K)
    temps = np.asarray(temperatures_K, dtype=np.float64)
    if m == 0:
        return pa.table(
            {
                "candidate_id": pa.array([], pa.string()),
                "T_K": pa.array([], pa.float64()),
                "theta_K": pa.array([], pa.float64()),
                "n_atoms": pa.array([], pa.int32()),
            }
        )
    theta = torch.as_tensor(np.asarray(theta_K, dtype=np.float64))
    n = torch.as_tensor(np.array([np.nan if a is None else float(a) for a in n_atoms], dtype=np.float64))
    with torch.no_grad():
        curves = thermo(theta, torch.as_tensor(temps), n_atoms=n)
    cols: dict[str, pa.Array] = {
        "candidate_id": pa.array(np.repeat(np.asarray(candidate_ids, dtype=object), k), pa.string()),
        "T_K": pa.array(np.tile(temps, m)),
        "theta_K": pa.array(np.repeat(theta.numpy(), k)),
        "n_atoms": pa.array(np.repeat(n.numpy(), k), pa.float64(), from_pandas=True).cast(pa.int32()),
    }
    for key, tensor in curves.items():
        arr = tensor.detach().cpu().numpy().astype(np.float64).reshape(m, k)
        cols[key] = pa.array(arr.reshape(-1), from_pandas=True)
    return pa.table(cols)
