"""CLOUD-DEBYE: differentiable, numerically stable Debye thermodynamics, elastic Debye temperatures, the head.

* :func:`thermo` - Cv, U, S, F per mole of atoms and per mole of cells, materials x temperatures.
* :func:`debye_cv`, :func:`debye_u`, :func:`debye_s`, :func:`debye_f` - the same, broadcasting, per mole of atoms.
* :func:`debye_d3` - the Debye function D3.
* :func:`theta_from_elastic`, :func:`theta_from_structure` - the *elastic* Debye temperature from bulk and
  shear moduli (sound velocities); not the calorimetric one (:func:`fit_theta_calorimetric`).
* :class:`DebyeHead` - embedding -> positive Debye temperature, with losses through the Debye layer.
"""

from __future__ import annotations

from cloud_core.debye.calorimetric import CALORIMETRIC_THETA_KEY, fit_theta_calorimetric
from cloud_core.debye.debye_function import DebyeWorkspace, debye_d3, debye_parts
from cloud_core.debye.elastic import (
    ELASTIC_THETA_KEY,
    ElasticReason,
    cubic_vrh_moduli,
    elastic_theta_labels,
    sound_velocities,
    theta_from_elastic,
    theta_from_structure,
)
from cloud_core.debye.head import DULONG_PETIT, DebyeHead, debye_loss, thermo_loss, theta_loss
from cloud_core.debye.thermo import (
    PER_ATOM_KEYS,
    PER_CELL_KEYS,
    R_GAS,
    DebyeKey,
    debye_cv,
    debye_f,
    debye_s,
    debye_u,
    thermo,
)

__all__ = [
    "CALORIMETRIC_THETA_KEY",
    "DULONG_PETIT",
    "ELASTIC_THETA_KEY",
    "DebyeHead",
    "DebyeWorkspace",
    "ElasticReason",
    "cubic_vrh_moduli",
    "debye_loss",
    "elastic_theta_labels",
    "fit_theta_calorimetric",
    "sound_velocities",
    "theta_from_elastic",
    "theta_from_structure",
    "theta_loss",
    "thermo_loss",
    "PER_ATOM_KEYS",
    "PER_CELL_KEYS",
    "R_GAS",
    "DebyeKey",
    "debye_cv",
    "debye_d3",
    "debye_f",
    "debye_parts",
    "debye_s",
    "debye_u",
    "thermo",
]
