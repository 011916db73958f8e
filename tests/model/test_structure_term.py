"""The multi-fidelity structure term (cloud_core.model.structure_term) and the CHGNet training task."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from cloud_core.model import (
    CloudModel,
    HeadSpec,
    ModelConfig,
    Predictor,
    TargetSpec,
    get_vocabulary,
    save_checkpoint,
)
from cloud_core.model.structure_term import apply_structure_terms, composition_string

ROCKSALT = "225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1"
ZINCBLENDE = "216 cF -43m | Na 4a Cl 4c | Na 1 Cl 1"
NACL = "? | - | Na 1 Cl 1"
CORUNDUM = "167 hR -3m | Al 12c O 18e | Al 2 O 3"


def test_composition_string():
    assert composition_string(ROCKSALT) == NACL
    assert composition_string(NACL) == NACL
    assert composition_string(CORUNDUM) == "? | - | Al 2 O 3"
    with pytest.raises(ValueError, match="3 sections"):
        composition_string("225 cF m-3m Na 4a")


def test_apply_structure_terms_formula_and_std():
    targets = [
        TargetSpec("e", structure_via="m", uncertainty="e__logb"),
        TargetSpec("m", uncertainty="m__logb"),
    ]
    table = pa.table({"e": [9.0, 9.0, -1.0], "e_std": [5.0, 5.0, 0.3], "m": [-2.0, -1.5, -2.5],
                      "m_std": [0.5, 0.2, 0.4], "g": [1.0, 2.0, 3.0]})  # fmt: skip
    seen = []

    def comp_pass(comps):
        seen.append(comps)
        return pa.table({"e": [-1.0], "e_std": [0.3], "m": [-2.5], "m_std": [0.4], "g": [0.0]})

    out = apply_structure_terms(table, [ROCKSALT, ZINCBLENDE, NACL], targets, comp_pass)
    assert seen == [[NACL]]  # one pass over the distinct compositions of the full-structure rows
    np.testing.assert_allclose(out["e"].to_numpy(), [-1.0 + 0.5, -1.0 + 1.0, -1.0])
    # std: composition std, plus the structure's excess over its composition's, in quadrature
    np.testing.assert_allclose(out["e_std"].to_numpy(), [np.sqrt(0.09 + 0.25 - 0.16), 0.3, 0.3])
    assert out["m"].equals(table["m"]) and out["g"].equals(table["g"])
    # no structure term declared, or only composition strings: the table comes back unchanged
    assert apply_structure_terms(table, [NACL] * 3, targets, comp_pass) is table
    assert apply_structure_terms(table, [ROCKSALT] * 3, [TargetSpec("e")], comp_pass) is table


def test_composition_level_targets_come_from_the_composition_pass():
    targets = [TargetSpec("e", structure_via="m"), TargetSpec("m"), TargetSpec("gap", uncertainty="gap__logb"),
               TargetSpec("theta", kind="debye")]  # fmt: skip
    table = pa.table({"e": [1.0, 1.0], "m": [0.2, 0.1], "gap": [3.0, 2.0], "gap_std": [0.5, 0.4],
                      "theta_K": [300.0, 250.0], "emb": [7.0, 8.0]})  # fmt: skip

    def comp_pass(comps):
        return pa.table(
            {"e": [1.0], "m": [0.1], "gap": [4.0], "gap_std": [0.2], "theta_K": [280.0], "emb": [0.0]}
        )

    out = apply_structure_terms(table, [ROCKSALT, NACL], targets, comp_pass)
    assert out["gap"].to_pylist() == [4.0, 2.0] and out["gap_std"].to_pylist() == [0.2, 0.4]
    assert out["theta_K"].to_pylist() == [280.0, 250.0]
    assert out["emb"].equals(table["emb"]) and out["m"].equals(table["m"])
    np.testing.assert_allclose(out["e"].to_numpy(), [1.1, 1.0])


def test_pure_elements_are_their_own_reference():
    targets = [TargetSpec("e", structure_via="m"), TargetSpec("m")]
    fcc, bcc, cu = "225 cF m-3m | Cu 4a | Cu 1", "229 cI m-3m | Cu 2a | Cu 1", "? | - | Cu 1"
    table = pa.table({"e": [0.4, 0.4, 0.4, -1.0], "m": [0.1, 0.2, 0.05, -2.0]})

    def comp_pass(comps):
        assert comps == [cu]
        return pa.table({"e": [0.4], "m": [0.05]})

    out = apply_structure_terms(table, [fcc, bcc, cu, NACL], targets, comp_pass)
    # composition level of an element: 0 by definition; its structures: 0 + how far above the composition
    np.testing.assert_allclose(out["e"].to_numpy(), [0.05, 0.15, 0.0, -1.0])
    assert out["m"].equals(table["m"])


def _checkpoint(path, via: str):
    torch.manual_seed(0)
    heads = [HeadSpec("e_form"), HeadSpec("e_form_mlip")]
    model = CloudModel(
        ModelConfig.from_size("tiny", len(get_vocabulary()), heads=heads, mlm_head=False)
    ).eval()
    targets = [
        TargetSpec("e_form", mean=-1.0, std=1.0, structure_via=via),
        TargetSpec("e_form_mlip", std=1.0),
    ]
    save_checkpoint(path, model, targets=targets)
    return Predictor.from_checkpoint(path, device="cpu", threads=1)


def test_predictor_orders_polymorphs_by_the_structure_level_target(tmp_path):
    plain = _checkpoint(tmp_path / "plain", via="")
    term = _checkpoint(tmp_path / "term", via="e_form_mlip")
    scopes = [ROCKSALT, ZINCBLENDE, NACL, CORUNDUM]
    a, b = plain.predict(scopes), term.predict(scopes)
    comp = plain.predict([NACL, "? | - | Al 2 O 3"])
    e, m = b["e_form"].to_numpy(), a["e_form_mlip"].to_numpy()
    # e_form(s) = e_form(composition) + mlip(s) - mlip(composition)
    np.testing.assert_allclose(
        e[0], comp["e_form"][0].as_py() + m[0] - comp["e_form_mlip"][0].as_py(), atol=1e-5
    )
    np.testing.assert_allclose(e[0] - e[1], m[0] - m[1], atol=1e-5)
    np.testing.assert_allclose(
        e[3], comp["e_form"][1].as_py() + m[3] - comp["e_form_mlip"][1].as_py(), atol=1e-5
    )
    assert e[2] == pytest.approx(a["e_form"][2].as_py())  # composition-only input: unchanged
    assert b["e_form_mlip"].equals(a["e_form_mlip"])
    table, rejects = term.predict_with_rejects([ROCKSALT, "nonsense", ZINCBLENDE], ids=["x", "y", "z"])
    assert not [r for r in rejects if r.id != "y"]
    np.testing.assert_allclose(table["e_form"].to_numpy(), e[:2], atol=1e-5)


def test_mlip_table_folds_minimum_and_held_out(tmp_path):
    from screening.corpora.labels import Task
    from screening.corpora.mlip_task import mlip_table

    rows = [  # formula, scope, tier, converged, e_form
        ("NaCl", ROCKSALT, "A", True, -2.0),
        ("NaCl", ZINCBLENDE, "A", True, -1.9),
        ("NaCl", "221 cP m-3m | Na 1a Cl 1b | Na 1 Cl 1", "A", False, -5.0),  # unconverged: out
        ("Al2O3", CORUNDUM, "A", True, -3.0),
        ("Al2O3", CORUNDUM, "B", True, -2.5),  # tier B is another fidelity: out
        ("AlS", "216 cF -43m | Al 4a S 4c | Al 1 S 1", "A", True, -0.5),  # held out
    ]
    df = pd.DataFrame(rows, columns=["formula", "scope", "tier", "converged", "e_form_raw_eV_per_atom"])
    df["e_form_mp2020_eV_per_atom"] = df["e_form_raw_eV_per_atom"] - 1.0
    pq.write_table(pa.Table.from_pandas(df), tmp_path / "labels.parquet")
    tables = {
        Task.E_FORM: pd.DataFrame({"formula": ["NaCl"], "scope": [NACL], "target": [-2.1], "fold": [3]})
    }
    from screening.evaluation.folds import formula_key

    out = mlip_table(tables, tmp_path / "labels.parquet", held_out={formula_key("AlS")})
    got = {s: (t, f) for s, t, f in zip(out["scope"], out["target"], out["fold"], strict=True)}
    assert got == {ROCKSALT: (-2.0, 3), ZINCBLENDE: (-1.9, 3), NACL: (-2.0, 3), CORUNDUM: (-3.0, -1),
                   "? | - | Al 2 O 3": (-3.0, -1)}  # fmt: skip
    (tmp_path / "provenance.json").write_text('{"mp2020_decision": {"apply_mp2020": true}}')
    out = mlip_table(tables, tmp_path / "labels.parquet", held_out=set())
    assert out.set_index("scope").loc[ROCKSALT, "target"] == -3.0 and "AlS" in set(out["formula"])
