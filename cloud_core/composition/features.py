"""Vectorised composition features: element fractions and fraction-weighted Magpie statistics.

For a formula with atomic fractions :math:`f_e` (summing to 1) and an element property :math:`p` (one column
of :func:`cloud_core.composition.properties.element_properties`), the statistics are

- ``mean``:  :math:`\\bar p = \\sum_e f_e p_e`
- ``mad``:   :math:`\\sum_e f_e |p_e - \\bar p|` (fraction-weighted mean absolute deviation, Magpie's "avg_dev")
- ``min``, ``max`` over the elements present (fractions > 0), and ``range = max - min``.

Feature vector (:func:`feature_names`): the 118 fractions (column ``Z - 1``, ``frac_<El>``), then
``<stat>_<property>`` for each statistic and property (5 x 22 with the Magpie table). A statistic is NaN when
an element of the formula is not in the table (Z > 97 for Magpie); gradient boosting treats NaN as missing.

Fast path: a formula is parsed once into a padded ``(n, m)`` pair of element-row indices and fractions
(``m`` = most elements in one formula); the statistics are then gathered from the property table as
``(n, m, k)`` arrays in chunks of rows, so the cost is numpy-bound, not per-formula Python (``mean`` is the
matrix product ``fractions @ table``). SCOPE strings are parsed by :func:`cloud_core.scope.record.parse_stoichiometry`,
the same validator that reads every SCOPE string.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

import numpy as np

from cloud_core.composition.properties import N_Z, TABLE, ElementProperties, element_properties
from cloud_core.scope.record import parse_stoichiometry
from cloud_core.scope.tables import element_table

STATS = ("mean", "mad", "min", "max", "range")
_CHUNK = 16384  # rows per gather: (chunk, m, k) float64 arrays of a few tens of MB at most


@cache
def _symbol_z() -> dict[str, int]:
    return {sym: info.z for sym, info in element_table()[1].items()}


def _pad(stoichiometries: Sequence[Sequence[tuple[str, int]]]) -> tuple[np.ndarray, np.ndarray]:
    """Padded ``(n, m)`` Z-1 indices (``N_Z`` = padding) and atomic fractions (0 = padding)."""
    z_of = _symbol_z()
    n = len(stoichiometries)
    m = max((len(s) for s in stoichiometries), default=1)
    idx = np.full((n, m), N_Z, dtype=np.int64)
    cnt = np.zeros((n, m), dtype=np.float64)
    for i, stoich in enumerate(stoichiometries):
        for j, (el, c) in enumerate(stoich):
            idx[i, j] = z_of[el] - 1
            cnt[i, j] = c
    total = cnt.sum(axis=1, keepdims=True)
    if n and (total <= 0).any():
        raise ValueError("empty stoichiometry")
    return idx, cnt / np.where(total > 0, total, 1.0)


def _stoichiometries_of_scopes(scopes: Iterable[str]) -> list[tuple[tuple[str, int], ...]]:
    cache_: dict[str, tuple[tuple[str, int], ...]] = {}
    out = []
    for s in scopes:
        st = cache_.get(s)
        if st is None:
            st = cache_[s] = parse_stoichiometry(s)
        out.append(st)
    return out


def _stoichiometries_of_formulas(formulas: Iterable[str]) -> list[tuple[tuple[str, int], ...]]:
    from cloud_core.scope.encoder import encode_formula

    return [encode_formula(f).stoichiometry for f in formulas]


def _fraction_matrix(idx: np.ndarray, frac: np.ndarray) -> np.ndarray:
    out = np.zeros((len(idx), N_Z + 1))
    rows = np.broadcast_to(np.arange(len(idx))[:, None], idx.shape)
    out[rows, idx] = frac  # elements are unique within a formula; padding lands in the extra column
    return out[:, :N_Z]


def property_statistics(idx: np.ndarray, frac: np.ndarray, table: ElementProperties) -> np.ndarray:
    """``(n, 5 k)`` statistics (:data:`STATS` x properties, statistic-major) of padded formulas."""
    k = len(table.names)
    vals = np.vstack([table.values, np.zeros((1, k))])  # row N_Z: padding
    out = np.empty((len(idx), len(STATS) * k))
    for a in range(0, len(idx), _CHUNK):
        i, f = idx[a : a + _CHUNK], frac[a : a + _CHUNK]
        p = vals[i]  # (c, m, k)
        present = (f > 0)[:, :, None]
        mean = np.einsum("cm,cmk->ck", f, p)
        mad = np.einsum("cm,cmk->ck", f, np.abs(p - mean[:, None, :]))
        lo = np.where(present, p, np.inf).min(axis=1)
        hi = np.where(present, p, -np.inf).max(axis=1)
        out[a : a + _CHUNK] = np.hstack([mean, mad, lo, hi, hi - lo])
    return out


def feature_names(table: str = TABLE) -> list[str]:
    """Names of the feature columns, in order: ``frac_<El>`` (Z = 1..118), then ``<stat>_<property>``."""
    by_z = element_table()[0]
    names = element_properties(table).names
    return [f"frac_{by_z[z].symbol}" for z in range(1, N_Z + 1)] + [f"{s}_{p}" for s in STATS for p in names]


def _features(
    stoichiometries: Sequence[Sequence[tuple[str, int]]], table: str
) -> tuple[np.ndarray, list[str]]:
    props = element_properties(table)
    idx, frac = _pad(stoichiometries)
    x = np.hstack([_fraction_matrix(idx, frac), property_statistics(idx, frac, props)])
    return x, feature_names(table)


def element_fractions(scopes: Iterable[str]) -> np.ndarray:
    """``(n, 118)`` float64 atomic fractions (column ``Z - 1``) of SCOPE strings' stoichiometry sections.

    Raises
    ------
    cloud_core.scope.ScopeError
        For a string whose stoichiometry section is not canonical SCOPE.
    """
    idx, frac = _pad(_stoichiometries_of_scopes(scopes))
    return _fraction_matrix(idx, frac)


def scope_features(scopes: Iterable[str], table: str = TABLE) -> tuple[np.ndarray, list[str]]:
    """Composition features of SCOPE strings (any symmetry section; only the stoichiometry is read).

    Returns
    -------
    (features, names)
        ``(n, 118 + 5 k)`` float64 matrix and its column names (:func:`feature_names`).

    Raises
    ------
    cloud_core.scope.ScopeError
        For a string whose stoichiometry section is not canonical SCOPE.
    """
    return _features(_stoichiometries_of_scopes(scopes), table)


def formula_features(formulas: Iterable[str], table: str = TABLE) -> tuple[np.ndarray, list[str]]:
    """Composition features of chemical formulas (``"Fe2O3"``; read by :func:`cloud_core.scope.encode_formula`).

    Slower than :func:`scope_features` (pymatgen parses each formula); same columns.
    """
    return _features(_stoichiometries_of_formulas(formulas), table)
