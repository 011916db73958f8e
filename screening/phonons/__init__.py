"""Phonon ground truth from a universal interatomic potential (CHGNet + phonopy).

* :func:`run_phonon_stage` - relax + harmonic phonons over a batch of ``(id, Structure)`` -> (results, rejects).
* :func:`fit_debye_temperature` - the Debye temperature that best fits a Cv curve over 20-300 K.
* :func:`build_reference` - the committed reference set (``data/phonon_reference``).
* :func:`evaluate_zero_shot` - Debye curves trained on Cv(300 K) against the reference at 50-1000 K.
* :func:`validate` - the ``phonon_validation`` table for a campaign's leaders.

Heavy imports (torch, CHGNet, phonopy) happen inside the functions that need them.
"""

from __future__ import annotations

from screening.phonons.debye_fit import DebyeFit, fit_debye_temperature
from screening.phonons.stage import (
    PhononRejectReason,
    PhononResult,
    PhononSettings,
    default_temperatures,
    run_phonon_stage,
)

__all__ = [
    "DebyeFit",
    "PhononRejectReason",
    "PhononResult",
    "PhononSettings",
    "default_temperatures",
    "fit_debye_temperature",
    "run_phonon_stage",
]
