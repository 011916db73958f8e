"""Fast CPU inference (cloud_core.model.fast): the int8 variant of a checkpoint, its own id, its acceptance check,
and the torch-free config reader that start-up paths use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch
from torch import nn

from cloud_core.model import CloudModel, HeadSpec, ModelConfig, Predictor, TargetSpec, get_vocabulary
from cloud_core.model.checkpoint import checkpoint_id, read_config, save_checkpoint
from cloud_core.model.config_reader import CheckpointError, checkpoint_prediction_columns
from cloud_core.model.fast import (
    CONVERTERS,
    INT8,
    FastInferenceError,
    agreement_sample,
    compare,
    load_variant_predictor,
    quantize_int8,
)
from cloud_core.model.model_id import variant_model_id
from tests.model.scope_samples import random_scopes


def _checkpoint(path, seed: int = 0, gain: float = 0.5):
    """A tiny randomly initialised checkpoint with a regression target, its uncertainty head and a Debye head.

    ``gain`` scales the initial weights (the default init's std 0.02 gives nearly constant outputs; a trained
    model's are spread, and so are these: weights ~ N(0, gain^2/fan_in)). Mean pooling: a random network's [CLS]
    state varies little between inputs, so int8 noise reorders it (Spearman ~0.993 measured), which a trained
    model's does not (the shipped model: 0.9999)."""
    torch.manual_seed(seed)
    heads = [
        HeadSpec("e_form"),
        HeadSpec("e_form__logb", n_layers=1),
        HeadSpec("theta", kind="debye", options={"theta_init_K": 300.0, "theta_scale_K": 300.0}),
    ]
    model = CloudModel(
        ModelConfig.from_size("tiny", len(get_vocabulary()), heads=heads, dropout=0.0, pooling="mean")
    )
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.normal_(0.0, gain / m.in_features**0.5)
            elif isinstance(m, nn.Embedding):
                m.weight.normal_(0.0, gain)
    targets = [
        TargetSpec("e_form", mean=-1.0, std=0.8, unit="eV/atom", uncertainty="e_form__logb"),
        TargetSpec("theta", kind="debye", unit="K"),
    ]
    save_checkpoint(path, model, targets=targets)
    return path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp("fast") / "ck")


def test_int8_variant_is_accepted_has_its_own_id_and_agrees(ckpt):
    sample = random_scopes(400, seed=1)
    fast = load_variant_predictor(ckpt, INT8, threads=1, sample=sample)
    ref = Predictor.from_checkpoint(ckpt, device="cpu", threads=1)
    assert fast.model_id == variant_model_id(checkpoint_id(ckpt), INT8)
    assert fast.model_id != ref.model_id
    assert fast.targets == ref.targets == ["e_form", "theta_K", "e_form_std"]
    assert set(fast.agreement.spearman) == set(ref.targets)
    assert not fast.agreement.failures()
    # the converted encoder really is int8, and its predictions differ from float32 (but rank the same)
    assert any("quantized" in type(m).__module__ for m in fast.model.encoder.blocks.modules())
    other = random_scopes(300, seed=2)
    a, b = ref.predict(other), fast.predict(other)
    assert not np.array_equal(a.column("e_form").to_numpy(), b.column("e_form").to_numpy())
    assert not compare(a, b).failures()
    table, rejects = fast.predict_with_rejects(other[:5] + ["not a scope"])
    assert table.column("model_id").to_pylist() == [fast.model_id] * 5 and len(rejects) == 1


def test_the_packaged_sample_is_valid_and_used_by_default(ckpt):
    sample = agreement_sample()
    assert len(sample) >= 900 and len(set(sample)) == len(sample)
    assert any(s.startswith("?") for s in sample) and any(not s.startswith("?") for s in sample)
    fast = load_variant_predictor(ckpt, INT8, threads=1)
    assert fast.agreement.n == len(sample)


def test_a_variant_that_disagrees_is_refused(ckpt, monkeypatch):
    def bad_converter(model: CloudModel) -> CloudModel:
        q = quantize_int8(model)
        with torch.no_grad():  # a broken conversion: the regression head's last layer re-drawn
            q.heads["e_form"].net[-1].weight.normal_(0.0, 1.0)
        return q

    monkeypatch.setitem(CONVERTERS, INT8, bad_converter)
    with pytest.raises(FastInferenceError, match=r"e_form: Spearman .* < 0\.995"):
        load_variant_predictor(ckpt, INT8, threads=1, sample=random_scopes(300, seed=3))


def test_float32_variant_is_the_checkpoint_and_gpu_or_unknown_variants_are_refused(ckpt):
    assert load_variant_predictor(ckpt, "float32", threads=1).model_id == checkpoint_id(ckpt)
    assert variant_model_id("abc", "float32") == "abc"
    with pytest.raises(ValueError, match="unknown inference variant 'fp4'"):
        variant_model_id("abc", "fp4")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            load_variant_predictor(ckpt, INT8, device="cuda")


def test_compare_measures_rank_agreement_at_both_ends():
    x = np.arange(400, dtype=float)
    ref = pa.table({"v": x})
    assert not compare(ref, pa.table({"v": x + 1e-3})).failures()
    swapped = x.copy()
    swapped[:50] = swapped[:50][::-1]  # the lowest 50 reordered among themselves: ranks change, sets do not
    agr = compare(ref, pa.table({"v": swapped}))
    assert agr.top_overlap["v"] == 1.0 and agr.spearman["v"] < 1.0
    worse = x.copy()
    worse[:100] = x[300:]  # the 100 lowest become the highest
    worse[300:] = x[:100]
    bad = compare(ref, pa.table({"v": worse})).failures()
    assert any("Spearman" in b for b in bad) and any("top-100 overlap" in b for b in bad)
    nan = x.copy()
    nan[0] = np.nan
    assert compare(ref, pa.table({"v": nan})).failures() == ["v: Spearman nan < 0.995"]


def test_torch_free_reader_matches_the_typed_config_and_refuses_bad_files(ckpt, tmp_path):
    assert checkpoint_prediction_columns(ckpt) == read_config(ckpt).prediction_columns
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"format": "cloud-checkpoint", "format_version": 1}))
    with pytest.raises(CheckpointError, match="malformed checkpoint config"):
        checkpoint_prediction_columns(bad)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_config(tmp_path / "missing")


def test_ranking_parameter_check_and_variant_ids_import_no_torch(ckpt):
    code = f"""
import sys
from screening.campaign.spec import ScreenParameters
from screening.campaign.runner import check_ranking_parameters
from screening.campaign.predict import resolve_checkpoint
params = ScreenParameters(checkpoint={str(ckpt)!r}, inference="int8", rank_by="e_form")
path, mid = resolve_checkpoint(params.checkpoint, params.inference)
check_ranking_parameters(params, path)
print(mid, "torch" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [variant_model_id(checkpoint_id(ckpt), INT8), "False"]


def test_objectives_checked_from_the_config_as_from_a_probe_prediction(ckpt):
    """The flow checks objectives from the checkpoint's config (no model loaded): same verdicts as the probe."""
    from screening.campaign import ScreenParameters
    from screening.campaign.questions import check_objectives, check_objectives_for_checkpoint
    from screening.objectives import Objective, ObjectiveError

    predictor = Predictor.from_checkpoint(ckpt, device="cpu", threads=1)

    def outcome(fn, params):
        try:
            return fn(params)
        except ObjectiveError as exc:
            return str(exc)

    verdicts = []
    for obj in [o for o in Objective if o != Objective.CUSTOM]:
        params = ScreenParameters(checkpoint=str(ckpt), objective=obj, extra_objectives=list(Objective))
        got = outcome(lambda p: check_objectives_for_checkpoint(p, str(ckpt)), params)
        assert got == outcome(lambda p: check_objectives(p, predictor), params)
        verdicts.append(isinstance(got, str))
    assert any(verdicts)  # this checkpoint predicts no kappa: some objective is refused


def test_an_int8_campaign_is_another_campaign_with_the_variant_id_on_every_row(ckpt, tmp_path):
    """--inference int8 changes the model id in the parameter hash: float32 and int8 chunks never mix."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))
    import campaign_testkit as kit

    from screening.campaign import ScreenParameters
    from screening.campaign.runner import run_campaign
    from screening.store import ResultsStore

    pool = kit.write_pool(tmp_path / "pool.parquet", 30)
    base = dict(source={"kind": "pool", "path": str(pool)}, checkpoint=str(ckpt), results_dir=str(tmp_path / "r"),
                chunk_size=15, objective="custom", max_e_above_hull=None, device="cpu")  # fmt: skip
    f32 = run_campaign(ScreenParameters(**base))
    i8 = run_campaign(ScreenParameters(**base, inference="int8"))
    assert f32.campaign_id != i8.campaign_id
    store = ResultsStore(tmp_path / "r")
    ids = store.query(
        "SELECT campaign_id, list(DISTINCT model_id) AS m, count(*) AS n FROM predictions GROUP BY 1"
    ).to_pylist()
    want = {f32.campaign_id: checkpoint_id(ckpt), i8.campaign_id: variant_model_id(checkpoint_id(ckpt), INT8)}
    assert {r["campaign_id"]: r["m"] for r in ids} == {c: [m] for c, m in want.items()}
    assert len({r["n"] for r in ids}) == 1  # the same candidates predicted (or rejected) in both
