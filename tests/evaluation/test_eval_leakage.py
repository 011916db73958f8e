"""Leakage control: per fold, no training formula of any task is in any task's test set of that fold."""

from __future__ import annotations

import pandas as pd
import pytest

from screening.corpora.labels import N_FOLDS, Task, load_all
from screening.evaluation.folds import (
    ScopeParseError,
    all_fold_test_keys,
    drop_keys_from_scopes,
    fold_test_keys,
    formula_key,
    overlap,
    scope_key,
    scope_stoichiometry,
    split_fold,
)


@pytest.fixture(scope="module")
def tables():
    return load_all()


@pytest.mark.parametrize("fold", range(N_FOLDS))
def test_zero_overlap_between_training_and_any_test_set(tables, fold):
    keys = fold_test_keys(tables, fold)
    splits = split_fold(tables, fold, keys)
    assert len(keys) > 1000
    # independent of the key functions: reduced-formula strings and stoichiometry sections, compared as text
    test_formulas = set().union(*(set(df.loc[df["fold"] == fold, "formula"]) for df in tables.values()))
    test_stoich = set().union(
        *(set(df.loc[df["fold"] == fold, "scope"].str.split("|").str[2]) for df in tables.values())
    )
    for task, s in splits.items():
        assert not set(s.train["formula"]) & test_formulas, task
        assert not set(s.train["scope"].str.split("|").str[2]) & test_stoich, task
        assert overlap(s.train["scope"], keys, scope=True) == 0, task
        assert len(s.test) == int((tables[task]["fold"] == fold).sum())
        assert len(s.train) + len(s.test) + s.n_dropped == len(tables[task])
    # the rule bites: the label sets overlap, so other tasks' test formulas are removed from training
    assert splits[Task.E_FORM].n_dropped > 0 and splits[Task.LOG10_K_VRH].n_dropped > 0


def test_keys_agree_between_formula_and_scope_forms():
    assert formula_key("Fe4O6") == formula_key("Fe2O3") == scope_key("? | - | Fe 2 O 3")
    assert scope_key("167 hR -3m | Al 12c O 18e | Al 2 O 3") == formula_key("Al2O3")
    assert scope_key("? | - | C 1 4 9 H 2") == formula_key("C149H2")
    assert formula_key("FeO") != formula_key("Fe2O3")


def test_bad_scope_strings():
    for bad in ["Na 1 Cl 1", "? | - | 1 Na", "? | - | Na", "? | - |"]:
        with pytest.raises(ScopeParseError):
            scope_stoichiometry(bad)


def test_pretraining_filter_drops_test_compositions():
    tables = {
        Task.E_FORM: pd.DataFrame(
            {
                "formula": ["NaCl", "MgO", "Al2O3"],
                "scope": ["? | - | Na 1 Cl 1", "? | - | Mg 1 O 1", "? | - | Al 2 O 3"],
                "target": [0.0, 1.0, 2.0],
                "fold": [0, 1, -1],
            }
        )
    }
    keys = fold_test_keys(tables, 0)
    corpus = ["225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1", "225 cF m-3m | Mg 4a O 4b | Mg 1 O 1", "broken"]
    mask, bad = drop_keys_from_scopes(corpus, keys)
    assert mask.tolist() == [False, True, False] and bad == 1
    assert all_fold_test_keys(tables) == {formula_key("NaCl"), formula_key("MgO")}
    with pytest.raises(ValueError, match="fold"):
        fold_test_keys(tables, N_FOLDS)
