"""Composition features for baselines and model initialisation (no structure, no Prefect, no Dask).

- :func:`scope_features` / :func:`formula_features`: element fractions + fraction-weighted Magpie statistics,
  vectorised (see :mod:`cloud_core.composition.features`);
- :func:`element_properties`: the shipped element property table on the Z grid (see
  :mod:`cloud_core.composition.properties`), e.g. to initialise element embeddings.
"""

from __future__ import annotations

from cloud_core.composition.features import (
    STATS,
    element_fractions,
    feature_names,
    formula_features,
    scope_features,
)
from cloud_core.composition.properties import ElementProperties, element_properties

__all__ = [
    "STATS",
    "ElementProperties",
    "element_fractions",
    "element_properties",
    "feature_names",
    "formula_features",
    "scope_features",
]
