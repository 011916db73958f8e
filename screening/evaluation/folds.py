"""Leakage-free per-fold tables.

Rule (issue 7): for fold ``k``, every training and pre-training table drops each reduced formula that is in ANY
task's test set of fold ``k``. Formulas are compared by a stoichiometry key (elements with their gcd-reduced
integer counts), so a label formula (``Fe2O3``), a SCOPE string (``... | Fe 2 O 3``) and a non-reduced formula
(``Fe4O6``) of the same composition collide.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from screening.corpora.labels import N_FOLDS, Task, integer_stoichiometry


class ScopeParseError(ValueError):
    """A SCOPE string whose stoichiometry section cannot be read."""


def _key(pairs: Iterable[tuple[str, int]]) -> str:
    counts: dict[str, int] = {}
    for el, n in pairs:
        counts[el] = counts.get(el, 0) + n
    if not counts or min(counts.values()) <= 0:
        raise ValueError(f"empty or non-positive stoichiometry {counts}")
    g = np.gcd.reduce(np.fromiter(counts.values(), dtype=np.int64))
    return " ".join(f"{el}{n // g}" for el, n in sorted(counts.items()))


@lru_cache(maxsize=1 << 20)
def formula_key(formula: str) -> str:
    """Stoichiometry key of a chemical formula (``"Fe2 O3"`` style, elements sorted alphabetically)."""
    return _key(integer_stoichiometry(formula))


def scope_stoichiometry(scope: str) -> list[tuple[str, int]]:
    """The ``(element, count)`` pairs of a SCOPE string's third section (``Na 1 Cl 1`` -> Na 1, Cl 1)."""
    parts = scope.split("|")
    if len(parts) != 3:
        raise ScopeParseError(f"SCOPE string needs 3 sections separated by '|': {scope!r}")
    pairs: list[tuple[str, int]] = []
    el: str | None = None
    digits = ""
    for tok in parts[2].split():
        if tok.isdigit():
            if el is None:
                raise ScopeParseError(f"count before element in {scope!r}")
            digits += tok
        else:
            if el is not None:
                if not digits:
                    raise ScopeParseError(f"element {el} without count in {scope!r}")
                pairs.append((el, int(digits)))
            el, digits = tok, ""
    if el is None or not digits:
        raise ScopeParseError(f"empty or truncated stoichiometry in {scope!r}")
    pairs.append((el, int(digits)))
    return pairs


@lru_cache(maxsize=1 << 20)
def scope_key(scope: str) -> str:
    """Stoichiometry key of a SCOPE string (same key space as :func:`formula_key`)."""
    return _key(scope_stoichiometry(scope))


def table_keys(df: pd.DataFrame) -> list[str]:
    """Stoichiometry key of every row of a label table (from its ``scope`` column, else ``formula``)."""
    if "scope" in df.columns:
        return [scope_key(s) for s in df["scope"]]
    return [formula_key(f) for f in df["formula"]]


def fold_test_keys(tables: Mapping[Task, pd.DataFrame], fold: int) -> set[str]:
    """Stoichiometry keys of every formula that is in any task's test set of ``fold``."""
    if not 0 <= fold < N_FOLDS:
        raise ValueError(f"fold must be in 0..{N_FOLDS - 1}, got {fold}")
    keys: set[str] = set()
    for df in tables.values():
        keys.update(table_keys(df[df["fold"] == fold]))
    return keys


def all_fold_test_keys(tables: Mapping[Task, pd.DataFrame]) -> set[str]:
    """Keys of formulas in any task's test set of any fold (dropping these is leak-free for every fold)."""
    keys: set[str] = set()
    for k in range(N_FOLDS):
        keys |= fold_test_keys(tables, k)
    return keys


@dataclass(frozen=True)
class FoldSplit:
    """One task's tables in one fold: ``train`` is leak-free, ``test`` is the task's own test set."""

    task: Task
    fold: int
    train: pd.DataFrame
    test: pd.DataFrame
    n_dropped: int  # training rows removed because another task tests their formula in this fold


def split_fold(
    tables: Mapping[Task, pd.DataFrame], fold: int, keys: set[str] | None = None
) -> dict[Task, FoldSplit]:
    """Leak-free train/test tables of every task for one fold.

    ``keys`` (optional) are the fold's test keys when already computed (:func:`fold_test_keys`).
    """
    keys = fold_test_keys(tables, fold) if keys is None else keys
    out: dict[Task, FoldSplit] = {}
    for task, df in tables.items():
        is_test = (df["fold"] == fold).to_numpy()
        leaks = np.fromiter((k in keys for k in table_keys(df)), dtype=bool, count=len(df))
        train = df[~leaks].reset_index(drop=True)
        test = df[is_test].reset_index(drop=True)
        out[task] = FoldSplit(task, fold, train, test, int((leaks & ~is_test).sum()))
    return out


def drop_keys_from_scopes(scopes: Iterable[str], keys: set[str]) -> tuple[np.ndarray, int]:
    """Mask of pre-training SCOPE strings to keep (their composition is not in ``keys``).

    Returns the boolean mask and the number of unparsable strings (dropped too).
    """
    mask, bad = [], 0
    for s in scopes:
        try:
            mask.append(scope_key(s) not in keys)
        except (ScopeParseError, ValueError):
            mask.append(False)
            bad += 1
    return np.asarray(mask, dtype=bool), bad


def overlap(train_formulas: Iterable[str], keys: set[str], *, scope: bool = False) -> int:
    """How many training items share a stoichiometry key with ``keys`` (0 when leak-free)."""
    f = scope_key if scope else formula_key
    return sum(f(x) in keys for x in train_formulas)
