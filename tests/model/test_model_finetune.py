"""Fine-tuning (multi-task, missing labels, standardisation, freezing, Debye head) and `cloud predict`."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from scope_samples import random_scopes

from cloud_core.model import (
    CloudModel,
    ModelConfig,
    Predictor,
    get_vocabulary,
    load_checkpoint,
    save_checkpoint,
)
from cloud_core.model.data import DataError
from cloud_core.model.finetune import finetune
from cloud_core.model.run_config import FinetuneConfig


def _table(n: int, seed: int = 0) -> pa.Table:
    scopes = random_scopes(n, seed=seed)
    rng = np.random.default_rng(seed)
    # a learnable signal: number of tokens; labels missing at random
    length = np.array([len(s.split()) for s in scopes], dtype=float)
    y1 = 100.0 + 5.0 * length
    y2 = -0.5 * length + rng.normal(0, 0.1, n)
    y1[rng.random(n) < 0.3] = np.nan
    y2[rng.random(n) < 0.3] = np.nan
    theta = 200.0 + 10.0 * length
    theta[rng.random(n) < 0.5] = np.nan
    return pa.table({"scope": scopes, "y1": y1, "y2": y2, "theta": theta})


def test_multitask_finetune_with_missing_labels_and_debye_head(tmp_path):
    pq.write_table(_table(160), tmp_path / "train.parquet")
    cfg = FinetuneConfig(
        data=[str(tmp_path / "train.parquet")], out_dir=str(tmp_path / "ft"), targets=["y1", "y2"],
        debye="theta", units={"y1": "meV"}, epochs=10, batch_size=32, lr=2e-3, patience=3, threads=1,
        device="cpu", val_fraction=0.25,
    )  # fmt: skip
    ckpt = finetune(cfg)
    model, ccfg, _ = load_checkpoint(ckpt)
    specs = {t.name: t for t in ccfg.targets}
    y1 = _table(160)["y1"].to_numpy(zero_copy_only=False)
    assert specs["y1"].unit == "meV" and specs["theta"].kind == "debye"
    assert abs(specs["y1"].mean - np.nanmean(y1)) < 0.2 * np.nanstd(y1)  # training rows only, near the whole
    lines = [json.loads(x) for x in (tmp_path / "ft" / "metrics.jsonl").read_text().splitlines()]
    assert lines and all(np.isfinite(x["train_loss"]) for x in lines)
    assert lines[-1]["val"]["loss"] < lines[0]["val"]["loss"] or ccfg.provenance["best_epoch"] > 1
    pred = Predictor.from_checkpoint(ckpt, device="cpu")
    assert pred.targets == ["y1", "y2", "theta_K"]
    out = pred.predict(random_scopes(20, seed=9))
    assert out.column_names == ["y1", "y2", "theta_K"]
    assert (out["theta_K"].to_numpy() > 0).all()
    # predictions come back in the targets' units (not standardised)
    assert 50 < float(np.mean(out["y1"].to_numpy())) < 400


def test_frozen_encoder_from_pretrained_keeps_encoder_weights(tmp_path):
    torch.manual_seed(0)
    pre = CloudModel(ModelConfig.from_size("tiny", len(get_vocabulary())))
    save_checkpoint(tmp_path / "pre", pre)
    pq.write_table(_table(120), tmp_path / "train.parquet")
    cfg = FinetuneConfig(
        data=[str(tmp_path / "train.parquet")], out_dir=str(tmp_path / "ft"), targets=["y1"], init=str(tmp_path / "pre"),
        epochs=2, freeze_epochs=2, batch_size=32, lr=1e-3, threads=1, device="cpu",
    )  # fmt: skip
    model, ccfg, _ = load_checkpoint(finetune(cfg))
    assert ccfg.provenance["init_model_id"] and not model.cfg.mlm_head
    for k, v in pre.encoder.state_dict().items():
        assert torch.equal(v, model.encoder.state_dict()[k]), k


def test_finetune_rejects_bad_inputs(tmp_path):
    pq.write_table(_table(50), tmp_path / "t.parquet")
    with pytest.raises(DataError, match="not in the data"):
        finetune(
            FinetuneConfig(data=[str(tmp_path / "t.parquet")], out_dir=str(tmp_path / "o"), targets=["nope"])
        )
    pq.write_table(pa.table({"smiles": ["C"], "y": [1.0]}), tmp_path / "u.parquet")
    with pytest.raises(DataError, match="no 'scope' column"):
        finetune(FinetuneConfig(data=[str(tmp_path / "u.parquet")], out_dir=str(tmp_path / "o")))
    with pytest.raises(DataError, match="no such file"):
        finetune(FinetuneConfig(data=[str(tmp_path / "missing.parquet")], out_dir=str(tmp_path / "o")))


def test_cloud_predict_cli(tmp_path, capsys):
    from flows.cli import main

    torch.manual_seed(0)
    from cloud_core.model import HeadSpec, TargetSpec

    model = CloudModel(ModelConfig.from_size("tiny", len(get_vocabulary()), heads=[HeadSpec("e_form")]))
    mid = save_checkpoint(tmp_path / "ck", model, targets=[TargetSpec("e_form", mean=-1.0, std=0.5)])
    rc = main(["predict", "--model", str(tmp_path / "ck"), "--scope", "225 cF m-3m | Na 4a Cl 4b | Na 1 Cl 1",
               "--scope", "not a scope"])  # fmt: skip
    assert rc == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0]["model_id"] == mid and isinstance(lines[0]["e_form"], float)
    assert lines[1]["error"]["reason"] == "invalid_scope" and "e_form" not in lines[1]
    assert main(["predict", "--model", str(tmp_path / "nope"), "--scope", "? | - | Fe 1"]) == 1
    assert "does not exist" in capsys.readouterr().err
