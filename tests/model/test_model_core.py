"""Vocabulary, encoder, checkpoint IO and Predictor."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from cloud_core.model import (
    CheckpointError,
    CloudModel,
    HeadSpec,
    ModelConfig,
    Predictor,
    ScopeTokenError,
    TargetSpec,
    Vocabulary,
    checkpoint_id,
    get_vocabulary,
    load_checkpoint,
    save_checkpoint,
)
from cloud_core.model.vocab import ELEMENTS
from cloud_core.scope.validate import InvalidScopeError

SCOPES = [
    "225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1",
    "167 hR -3m | Al 12c O 18e | Al 2 O 3",
    "? | - | Fe 2 O 3",
    "? | - | H 2 C 1 4 9",
    "62 oP mmm | Ca 4c Ti 4a O 4c O 8d | Ca 1 Ti 1 O 3",
    "194 hP 6/mmm | Mg 2c | Mg 1",
]


def _model(seed: int = 0, **kw) -> CloudModel:
    torch.manual_seed(seed)
    heads = [HeadSpec("a"), HeadSpec("b", kind="classification", n_out=2)]
    return CloudModel(ModelConfig.from_size("tiny", len(get_vocabulary()), heads=heads, **kw))


def _targets() -> list[TargetSpec]:
    return [
        TargetSpec("a", mean=1.5, std=2.0, unit="eV"),
        TargetSpec("b", kind="classification", n_classes=2),
    ]


def test_vocabulary_is_closed_deterministic_and_section_aware():
    v1, v2 = Vocabulary(), Vocabulary()
    assert v1.tokens == v2.tokens and v1.hash == v2.hash
    assert len([t for t in v1.tokens if t.startswith("sg:")]) == 230
    assert len([t for t in v1.tokens if t.startswith("pg:")]) == 32
    assert len([t for t in v1.tokens if t.startswith("bl:")]) == 14
    assert "wy:192l" in v1.index and "wy:18e" in v1.index
    toks = v1.decode(v1.tokenize("1 aP 1 | C 1a | C 1 1"))
    assert toks == ["[CLS]", "sg:1", "bl:aP", "pg:1", "|", "C", "wy:1a", "|", "C", "n:1", "n:1", "[SEP]"]
    assert len({v1.index["sg:1"], v1.index["pg:1"], v1.index["n:1"]}) == 3
    assert v1.decode(v1.tokenize("? | - | Fe 2 O 3"))[1:4] == ["?", "|", "-"]
    from pymatgen.core.periodic_table import Element

    assert ELEMENTS == tuple(Element.from_Z(z).symbol for z in range(1, 119))


@pytest.mark.parametrize(
    "bad",
    [
        "225 cF m-3m Na 4a Cl 4b | Na 1 Cl 1",  # one separator
        "231 cF m-3m | Na 4a | Na 1",  # no such space group
        "225 cX m-3m | Na 4a | Na 1",  # no such lattice
        "225 cF m-3m | Na 4z | Na 1",  # no such Wyckoff letter
        "225 cF m-3m | Na 2a | Na 1",  # wrong multiplicity
        "225 cF m-3m | Xx 4a | Xx 1",  # no such element
        "225 cF m-3m | Na 4a | Na",  # count missing
        "225 cF m-3m | Na 4a | Na 0 1",  # leading zero
        "? | Na 4a | Na 1",  # unknown symmetry with orbits
        "",
    ],
)
def test_malformed_scope_raises_clear_error(bad):
    with pytest.raises(ScopeTokenError):
        get_vocabulary().tokenize(bad)


def test_batch_encoding_pads():
    enc = get_vocabulary().encode_batch(SCOPES[:3])
    assert enc.input_ids.shape == (3, max(enc.lengths))
    assert (enc.input_ids[~enc.attention_mask] == 0).all()
    with pytest.raises(ScopeTokenError):
        get_vocabulary().encode_batch(SCOPES, max_length=5)


def test_save_load_gives_identical_outputs(tmp_path):
    model = _model().eval()
    mid = save_checkpoint(tmp_path / "ck", model, targets=_targets(), provenance={"note": "test"})
    assert mid == checkpoint_id(tmp_path / "ck")
    loaded, cfg, mid2 = load_checkpoint(tmp_path / "ck")
    assert mid2 == mid and cfg.provenance["note"] == "test" and cfg.targets[0].std == 2.0
    enc = get_vocabulary().encode_batch(SCOPES)
    args = (
        torch.from_numpy(enc.input_ids),
        torch.from_numpy(enc.section_ids),
        torch.from_numpy(enc.attention_mask),
    )
    with torch.inference_mode():
        a, b = model(*args), loaded(*args)
    for key in ("pooled", "a", "b"):
        assert torch.equal(a[key], b[key])
    p1 = Predictor.from_checkpoint(tmp_path / "ck", device="cpu").predict(SCOPES)
    p2 = Predictor.from_checkpoint(tmp_path / "ck", device="cpu").predict(SCOPES)
    assert p1.equals(p2) and p1.column_names == ["a", "b"]


def test_alone_equals_padded_batch(tmp_path):
    save_checkpoint(tmp_path / "ck", _model(seed=3, pooling="mean"), targets=_targets())
    pred = Predictor.from_checkpoint(tmp_path / "ck", device="cpu")
    batch = pred.predict(SCOPES, batch_size=len(SCOPES), embeddings=True)
    for i, s in enumerate(SCOPES):
        alone = pred.predict([s], embeddings=True)
        assert abs(alone["a"][0].as_py() - batch["a"][i].as_py()) < 1e-5
        e1 = np.asarray(alone["embedding"][0].as_py())
        e2 = np.asarray(batch["embedding"][i].as_py())
        np.testing.assert_allclose(e1, e2, atol=1e-5)
    # input order is kept whatever the bucketing
    small = pred.predict(SCOPES, batch_size=2)
    np.testing.assert_allclose(small["a"].to_numpy(), batch["a"].to_numpy(), atol=1e-5)


def test_predict_with_rejects(tmp_path):
    save_checkpoint(tmp_path / "ck", _model(), targets=_targets())
    pred = Predictor.from_checkpoint(tmp_path / "ck", device="cpu")
    table, rejects = pred.predict_with_rejects([SCOPES[0], "nonsense", SCOPES[1]], ids=["x", "y", "z"])
    assert table["id"].to_pylist() == ["x", "z"]
    assert set(table["model_id"].to_pylist()) == {pred.model_id}
    assert [(r.id, r.stage, r.reason) for r in rejects] == [("y", "predict", "invalid_scope")]
    with pytest.raises(InvalidScopeError):
        pred.predict(["nonsense"])


def test_corrupt_and_mismatched_checkpoints_raise_clear_errors(tmp_path):
    ck = tmp_path / "ck"
    save_checkpoint(ck, _model(), targets=_targets())
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope")
    # corrupt weights
    bad = tmp_path / "bad"
    shutil.copytree(ck, bad)
    raw = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(bad)
    (bad / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(bad)
    # corrupt config
    shutil.copy(ck / "model.safetensors", bad / "model.safetensors")
    (bad / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(bad)
    # vocabulary mismatch
    cfg = json.loads((ck / "config.json").read_text())
    cfg["vocab"]["hash"] = "0" * 64
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="vocabulary"):
        load_checkpoint(bad)
    # sizes that do not match the weights
    cfg = json.loads((ck / "config.json").read_text())
    cfg["model"]["d_ff"] = 256
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(bad)
    # a head missing from the weights
    cfg = json.loads((ck / "config.json").read_text())
    cfg["model"]["heads"].append({"name": "c"})
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(bad)
    # not a directory
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(ck / "config.json")


def test_model_id_changes_with_weights(tmp_path):
    a = save_checkpoint(tmp_path / "a", _model(seed=0))
    b = save_checkpoint(tmp_path / "b", _model(seed=1))
    assert a != b and len(a) == 64
