"""The bundled label sets: schema, SCOPE strings, folds, and the builder on a small fake crabnet folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from screening.corpora.labels import (
    LABELS_SCHEMA,
    N_FOLDS,
    TASKS,
    LabelsError,
    Task,
    build_task_frames,
    default_labels_dir,
    integer_stoichiometry,
    load_labels,
    scope_for_formula,
    write_labels,
)
from screening.evaluation.folds import scope_stoichiometry


def test_bundled_tables_schema_and_sizes():
    root = default_labels_dir()
    manifest = json.loads((root / "manifest.json").read_text())
    total = 0
    for task in Task:
        df = load_labels(task, root)
        assert len(df) == manifest["tasks"][task.value]["rows"] > 1000
        assert df["formula"].is_unique
        assert np.isfinite(df["target"]).all()
        assert set(df["fold"].unique()) <= set(range(-1, N_FOLDS))
        assert set(range(N_FOLDS)) <= set(df["fold"].unique())
        if TASKS[task].unit in ("K", "GPa"):
            assert (df["target"] > 0).all()
        total += (root / f"{task.value}.parquet").stat().st_size
    assert total < 15e6
    assert "crabnet" in (root / "PROVENANCE.md").read_text()


def test_scope_column_matches_formula():
    df = load_labels(Task.LOG10_K_VRH)
    for f, s in zip(df["formula"][:300], df["scope"][:300], strict=True):
        assert s.startswith("? | - | ")
        assert tuple(scope_stoichiometry(s)) == integer_stoichiometry(f)


def test_scope_grammar_examples():
    assert scope_for_formula("NaCl") == "? | - | Na 1 Cl 1"
    assert scope_for_formula("Fe4O6") == "? | - | Fe 2 O 3"
    assert scope_for_formula("C149H2") == "? | - | H 2 C 1 4 9"
    with pytest.raises(ValueError, match="non-integer"):
        scope_for_formula("Fe0.5O")


def test_unknown_task_and_missing_file(tmp_path):
    with pytest.raises(LabelsError, match="unknown task"):
        load_labels("nope")
    with pytest.raises(LabelsError, match="missing"):
        load_labels(Task.E_FORM, tmp_path)


def _fake_crabnet(root):
    """A tiny crabnet-like data folder: 2 matbench tasks with 5 folds and the 4 split tasks."""
    rng = np.random.default_rng(0)
    formulas = ["NaCl", "KCl", "LiF", "MgO", "CaO", "SrO", "BaO", "ZnS", "GaAs", "InP", "AlN", "SiC"]
    for spec in TASKS.values():
        d = root / spec.source
        d.mkdir(parents=True, exist_ok=True)
        if spec.kind == "matbench_cv":
            rows = pd.DataFrame({"formula": formulas, "target": rng.normal(size=len(formulas))})
            for k in range(N_FOLDS):
                test = rows.iloc[[2 * k, 2 * k + 1]]
                train = rows.drop(test.index)
                test.to_csv(d / f"test{k}.csv", index=False)
                train.iloc[:-1].to_csv(d / f"train{k}.csv", index=False)
                train.iloc[-1:].to_csv(d / f"val{k}.csv", index=False)
            full = root / "matbench" / f"{d.name}.csv"
            full.parent.mkdir(exist_ok=True)
            rows.to_csv(full, index=False)
        else:
            rows = pd.DataFrame(
                {"formula": ["NaCl", "Na2Cl2", "Fe0.5O", "MgO", "TiO2"], "target": [1, 3, 2, -1, 5.0]}
            )
            rows.iloc[:3].to_csv(d / "train.csv", index=False)
            rows.iloc[3:4].to_csv(d / "val.csv", index=False)
            rows.iloc[4:].to_csv(d / "test.csv", index=False)


def test_builder_on_fake_source(tmp_path):
    src = tmp_path / "crabnet"
    _fake_crabnet(src)
    frames, counts = build_task_frames(src)
    manifest = write_labels(frames, counts, tmp_path / "out")
    e = load_labels(Task.E_FORM, tmp_path / "out")
    assert len(e) == 12 and (e["fold"] == -1).sum() == 2  # SiC and AlN are never tested
    debye = load_labels(Task.AFLOW_DEBYE, tmp_path / "out")
    # NaCl and Na2Cl2 merge (mean of 1 and 3), Fe0.5O is dropped (not integer), MgO (-1 K) dropped (<= 0)
    assert dict(zip(debye["formula"], debye["target"], strict=True)) == {"NaCl": 2.0, "TiO2": 5.0}
    assert manifest["tasks"]["aflow_debye_temperature"]["counts"]["non_integer"] == 1
    assert manifest["tasks"]["aflow_debye_temperature"]["counts"]["non_positive"] == 1
    # NaCl is a Matbench test formula of fold 0 (log K first): the split task inherits that fold
    assert int(debye.loc[debye["formula"] == "NaCl", "fold"].iloc[0]) == 0
    import pyarrow.parquet as pq

    assert pq.read_schema(tmp_path / "out" / "mp_e_form.parquet").equals(LABELS_SCHEMA, check_metadata=False)
    assert "| mp_e_form.parquet | 12 |" in (tmp_path / "out" / "PROVENANCE.md").read_text()


def test_builder_missing_source_is_clear(tmp_path, monkeypatch):
    import screening.corpora.labels as labels

    monkeypatch.delenv("CLOUD_CRABNET_DATA", raising=False)
    monkeypatch.setattr(labels, "DEFAULT_SOURCE", str(tmp_path / "also-missing"))
    with pytest.raises(LabelsError, match="pip download"):
        labels.build_task_frames(tmp_path / "nowhere")


def test_formation_energy_is_the_ground_state_of_each_formula(tmp_path):
    """e_form = minimum over a formula's polymorphs (test formulas too); band gap keeps the test-file value."""
    src = tmp_path / "crabnet"
    _fake_crabnet(src)
    for name in ("mp_e_form", "mp_gap"):
        full = src / "matbench" / f"{name}.csv"
        df = pd.read_csv(full)
        extra = pd.DataFrame({"formula": ["NaCl", "Na2Cl2", "SiC"], "target": [-9.0, -7.0, -8.0]})
        pd.concat([df, extra]).to_csv(full, index=False)
        test0 = pd.read_csv(src / "matbench_cv" / name / "test0.csv")
        assert "NaCl" in set(test0["formula"])
    frames, counts = build_task_frames(src)
    e = frames[Task.E_FORM].set_index("formula")["target"]
    assert e["NaCl"] == -9.0 and e["SiC"] == -8.0  # a test formula and a training-only formula
    gap = frames[Task.BAND_GAP].set_index("formula")["target"]
    test0 = pd.read_csv(src / "matbench_cv" / "mp_gap" / "test0.csv").set_index("formula")["target"]
    assert gap["NaCl"] == test0["NaCl"]


def test_bundled_elements_are_at_zero_and_new_tasks_present():
    e = load_labels(Task.E_FORM)
    elements = e[e["formula"].str.fullmatch(r"[A-Z][a-z]?")]
    assert len(elements) >= 70
    assert elements["target"].abs().max() <= 0.05
    kappa = load_labels(Task.AFLOW_KAPPA)
    assert kappa["target"].between(-3, 4).all() and kappa["target"].median() > 0  # log10 W/(m K)
    alpha = load_labels(Task.AFLOW_THERMAL_EXPANSION)
    assert alpha["target"].median() > 1 and alpha["target"].max() < 1e4  # 1e-6/K
