"""Every entry point uses the one SCOPE validator: predict (Predictor and ``cloud predict --scope``), the
campaign encode step, the candidate pools and the training-data readers reject invalid strings with a reason."""

from __future__ import annotations

import json
import logging

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cloud_core.scope as scope_pkg
from cloud_core.scope import Orbit, ScopeRecord
from cloud_core.scope.validate import InvalidScopeError

ROCKSALT = "225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1"
#: The strings of issue 11 that ``cloud predict`` accepted, and the reason each must be rejected with.
ISSUE_STRINGS = {
    "225 cF m-3m | Na 4a | Na 1 Cl 1": "formula_mismatch",
    "225 cF m-3m | Na 4a Cl 4b | Na 2 Cl 1": "formula_mismatch",
    "225 cF m-3m | Na 4a Na 4a | Na 1": "repeated_fixed_position",
    "225 cP 1 | Na 4a Cl 4b | Na 1 Cl 1": "inconsistent_symmetry",
    "225 cF m-3m | Na 4a Cl 4b | Cl 1 Na 1": "not_canonical",
}
#: A record the encoder must never write: 4a of Fm-3m twice.
BAD_RECORD = ScopeRecord(225, (Orbit("Na", 4, "a"), Orbit("Na", 4, "a")), (("Na", 1),), 2)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    import torch

    from cloud_core.model import (
        CloudModel,
        HeadSpec,
        ModelConfig,
        TargetSpec,
        get_vocabulary,
        save_checkpoint,
    )

    torch.manual_seed(0)
    model = CloudModel(ModelConfig.from_size("tiny", len(get_vocabulary()), heads=[HeadSpec("e_form")]))
    path = tmp_path_factory.mktemp("ck") / "ck"
    save_checkpoint(path, model, targets=[TargetSpec("e_form", mean=-1.0, std=0.5)])
    return path


def test_predictor_rejects_invalid_strings(tiny_checkpoint) -> None:
    from cloud_core.model import Predictor

    pred = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    strings = [ROCKSALT, *ISSUE_STRINGS, "? | - | Fe 2 O 3"]
    table, rejects = pred.predict_with_rejects(strings, ids=[f"i{k}" for k in range(len(strings))])
    assert table["id"].to_pylist() == ["i0", f"i{len(strings) - 1}"]
    assert [r.reason for r in rejects] == list(ISSUE_STRINGS.values())
    assert all(r.stage == "predict" for r in rejects)
    assert "'225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1'" in rejects[-1].message  # the canonical form
    for text in ISSUE_STRINGS:
        with pytest.raises(InvalidScopeError):
            pred.predict([text])


def test_cloud_predict_scope_rejects_invalid_strings(tiny_checkpoint, capsys) -> None:
    from flows.cli import main

    args = ["predict", "--model", str(tiny_checkpoint), "--device", "cpu", "--scope", ROCKSALT]
    for text in ISSUE_STRINGS:
        args += ["--scope", text]
    assert main(args) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert "e_form" in lines[0] and "error" not in lines[0]
    assert [line["error"]["reason"] for line in lines[1:]] == list(ISSUE_STRINGS.values())
    assert not any("e_form" in line for line in lines[1:])


def _candidates() -> pa.Table:
    from pymatgen.core import Lattice, Structure

    from screening.sources.candidate import CANDIDATE_SCHEMA

    s = Structure.from_spacegroup(225, Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    rows = [
        {"candidate_id": "a", "source": "t", "formula": "NaCl", "structure_json": json.dumps(s.as_dict())},
        {"candidate_id": "b", "source": "t", "formula": "Fe2O3", "structure_json": None},
    ]
    return pa.Table.from_pylist(rows, schema=CANDIDATE_SCHEMA)


def test_campaign_encode_validates_every_string(monkeypatch) -> None:
    from screening.campaign.encode import encode_chunk

    encoded, rejects = encode_chunk(_candidates())
    assert encoded["scope"].to_pylist() == [ROCKSALT, "? | - | Fe 2 O 3"] and rejects.num_rows == 0

    def buggy_encode_many(items, ids=None, **_kw):  # an encoder bug: a fixed position written twice
        return [(i, BAD_RECORD) for i in ids], []

    monkeypatch.setattr(scope_pkg, "encode_many", buggy_encode_many)
    encoded, rejects = encode_chunk(_candidates())
    assert encoded["candidate_id"].to_pylist() == ["b"]
    got = rejects.to_pylist()
    assert [(r["candidate_id"], r["stage"], r["reason"]) for r in got] == [
        ("a", "scope", "repeated_fixed_position")
    ]


def test_prototype_pool_validates_on_write(monkeypatch) -> None:
    from screening.sources.prototype_pool import PrototypePool

    real = scope_pkg.canonical_orbits

    def buggy(spacegroup, orbits):  # an encoder bug: the first orbit written twice
        out = real(spacegroup, orbits)
        return out + out[:1]

    monkeypatch.setattr(scope_pkg, "canonical_orbits", buggy)
    pool = PrototypePool(20, seed=1, max_sites=4, max_fails=2)
    cands = [c for batch in pool.batches() for c in batch]
    bad = {
        k: v
        for k, v in pool.stats.failures.items()
        if k in ("scope_formula_mismatch", "scope_repeated_fixed_position")
    }
    assert sum(bad.values()) > 0, pool.stats.failures
    from cloud_core.scope.validate import validate_scope

    for c in cands:  # what was written is valid (prototypes the fast path does not cover go through encode)
        assert validate_scope(c.scope) == c.scope


def test_pyxtal_pool_validates_on_write(monkeypatch) -> None:
    from screening.sources.pyxtal_pool import PyxtalPool

    monkeypatch.setattr(scope_pkg, "encode", lambda *_a, **_k: BAD_RECORD)
    pool = PyxtalPool(1, seed=0, max_sites=8, max_attempts=6)
    out = list(pool.batches_with_rejects())
    cands = [c for cs, _ in out for c in cs]
    rejects = [r for _, rs in out for r in rs]
    assert not cands
    scope_rejects = [r for r in rejects if r.reason == "scope_failed"]
    assert scope_rejects and all("repeated_fixed_position" in r.message for r in scope_rejects)


def _mixed_parquet(path, column: str = "scope", **extra) -> None:
    scopes = [ROCKSALT, *ISSUE_STRINGS, "? | - | Fe 2 O 3", None]
    cols = {column: scopes, **{k: [v] * len(scopes) for k, v in extra.items()}}
    pq.write_table(pa.table(cols), path, row_group_size=3)


def test_training_readers_drop_invalid_rows(tmp_path, caplog) -> None:
    from cloud_core.model.data import ScopeShardStream, read_scopes
    from cloud_core.model.finetune import read_table

    _mixed_parquet(tmp_path / "p.parquet")
    with caplog.at_level(logging.WARNING):
        assert read_scopes([tmp_path / "p.parquet"]) == [ROCKSALT, "? | - | Fe 2 O 3"]
    assert "dropped 6 invalid SCOPE strings" in caplog.text
    stream = ScopeShardStream([tmp_path / "p.parquet"], seed=0)
    batch, _cursor = next(stream.batches(8))
    assert set(batch) == {ROCKSALT, "? | - | Fe 2 O 3"}
    _mixed_parquet(tmp_path / "f.parquet", y=1.0)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        table = read_table([str(tmp_path / "f.parquet")])
    assert table["scope"].to_pylist() == [ROCKSALT, "? | - | Fe 2 O 3"]
    assert "dropped 6 invalid SCOPE strings" in caplog.text
