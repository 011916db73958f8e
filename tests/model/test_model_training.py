"""MLM masking, pre-training (overfit, resume, DDP) on tiny models."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from scope_samples import random_scopes, write_shards

from cloud_core.model import CloudModel, ModelConfig, get_vocabulary, load_checkpoint
from cloud_core.model.data import Cursor, ScopeShardStream
from cloud_core.model.masking import IGNORE_INDEX, mask_tokens
from cloud_core.model.pretrain import PretrainConfig, pretrain
from cloud_core.model.vocab import MASK_ID

ROOT = Path(__file__).resolve().parents[2]


def test_masking_never_touches_special_or_section_tokens():
    vocab = get_vocabulary()
    batch = vocab.encode_batch(random_scopes(400, seed=1))
    rng = np.random.default_rng(0)
    structural = ~vocab.maskable[batch.input_ids]
    total_sel = 0
    for _ in range(5):
        out, labels = mask_tokens(batch.input_ids, vocab, rng, rate=0.5)
        sel = labels != IGNORE_INDEX
        assert not (sel & structural).any()
        assert (out[structural] == batch.input_ids[structural]).all()
        assert (labels[sel] == batch.input_ids[sel]).all()
        assert sel.any(axis=1).all()  # every row learns something
        total_sel += sel.sum()
        # replacements are [MASK] or maskable tokens, never structural ones
        changed = out[sel]
        assert (vocab.maskable[changed] | (changed == MASK_ID)).all()
    # 80/10/10 split, roughly
    out, labels = mask_tokens(batch.input_ids, vocab, np.random.default_rng(1), rate=0.9)
    sel = labels != IGNORE_INDEX
    frac_mask = (out[sel] == MASK_ID).mean()
    frac_same = (out[sel] == batch.input_ids[sel]).mean()
    assert 0.75 < frac_mask < 0.85 and 0.07 < frac_same < 0.16


def test_tiny_model_overfits_a_batch():
    torch.manual_seed(0)
    vocab = get_vocabulary()
    model = CloudModel(ModelConfig.from_size("tiny", len(vocab), dropout=0.0))
    batch = vocab.encode_batch(random_scopes(8, seed=2))
    corrupted, labels = mask_tokens(batch.input_ids, vocab, np.random.default_rng(0))
    args = [torch.from_numpy(a) for a in (corrupted, batch.section_ids, batch.attention_mask)]
    lab = torch.from_numpy(labels)
    sel = lab != IGNORE_INDEX
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(150):
        out = model(*args, heads=False, mlm_positions=sel)
        loss = F.cross_entropy(out["mlm_logits"], lab[sel])
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = (model(*args, heads=False, mlm_positions=sel)["mlm_logits"].argmax(-1) == lab[sel]).float().mean()
    assert loss.item() < 0.05 and acc.item() == 1.0


def test_stream_resumes_at_cursor(tmp_path):
    paths = write_shards(tmp_path / "d", n_shards=3, rows=50, row_group=20)
    stream = ScopeShardStream(paths, seed=3)
    it = stream.batches(17)
    ref = [next(it) for _ in range(20)]  # crosses row groups, shards and epochs (150 rows / epoch)
    assert ref[-1][1].epoch >= 1
    epoch0 = [s for batch, _ in ref[:9] for s in batch][:150]
    assert sorted(epoch0) == sorted(random_scopes(50, 0) + random_scopes(50, 1) + random_scopes(50, 2))
    resumed = stream.batches(17, ref[9][1])
    for k in range(10, 20):
        assert next(resumed) == ref[k]
    assert Cursor(**ref[3][1].to_dict()) == ref[3][1]


def _cfg(tmp_path, data, name, **kw) -> PretrainConfig:
    base = dict(
        data=data, out_dir=str(tmp_path / name), size="tiny", steps=6, batch_size=16, save_every=3,
        log_every=1, seed=5, max_len=64, warmup_frac=0.3,
    )  # fmt: skip
    base.update(kw)
    return PretrainConfig(**base)


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    data = write_shards(tmp_path / "d", n_shards=2, rows=40, row_group=16)
    pretrain(_cfg(tmp_path, data, "full"))
    pretrain(_cfg(tmp_path, data, "cut", stop_after=3))
    assert (tmp_path / "cut" / "state" / "state.json").is_file()
    ckpt = pretrain(_cfg(tmp_path, data, "cut"))
    a = load_file(str(tmp_path / "full" / "checkpoint" / "model.safetensors"))
    b = load_file(str(ckpt / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # optimizer moments too
    oa = load_file(str(tmp_path / "full" / "state" / "optimizer.safetensors"))
    ob = load_file(str(tmp_path / "cut" / "state" / "optimizer.safetensors"))
    for k in oa:
        assert torch.equal(oa[k], ob[k]), k
    steps = [
        __import__("json").loads(line)["step"]
        for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="different settings"):
        pretrain(_cfg(tmp_path, data, "cut", batch_size=8))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_match_one(tmp_path):
    data = write_shards(tmp_path / "d", n_shards=2, rows=40, row_group=16)
    one = pretrain(_cfg(tmp_path, data, "one", dropout=0.0, steps=3, save_every=3))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(_free_port()),
        "-m", "cloud_core.model.pretrain", *data, "--out", str(tmp_path / "two"), "--size", "tiny",
        "--steps", "3", "--batch-size", "16", "--save-every", "3", "--log-every", "1", "--seed", "5",
        "--max-len", "64", "--warmup-frac", "0.3", "--dropout", "0", "--threads", "1", "--device", "cpu",
    ]  # fmt: skip
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    m1, _, _ = load_checkpoint(one)
    m2, _, _ = load_checkpoint(tmp_path / "two" / "checkpoint")
    s1, s2 = m1.state_dict(), m2.state_dict()
    for k in s1:
        torch.testing.assert_close(s1[k], s2[k], rtol=1e-4, atol=1e-5, msg=k)
    # and the runs really trained
    assert not torch.equal(s1["encoder.tok.weight"], CloudModel(m1.cfg).state_dict()["encoder.tok.weight"])


def test_masked_token_evaluation_and_frequency_baseline():
    from cloud_core.model.pretrain import CATEGORIES, evaluate_mlm, token_categories

    vocab = get_vocabulary()
    scopes = random_scopes(30, seed=4)
    counts = np.zeros(len(vocab), dtype=np.int64)
    counts[vocab.index["n:1"]] = 10  # the baseline always guesses digit 1 for a masked digit
    res = evaluate_mlm(CloudModel(ModelConfig.from_size("tiny", len(vocab))), scopes, counts)
    assert res["n_structures"] == 30 and res["n_masked"] == sum(c["n"] for c in res["per_category"].values())
    assert 0.0 <= res["accuracy"] <= 1.0 and set(res["per_category"]) == set(CATEGORIES)
    digit = res["per_category"]["digit"]
    assert digit["n"] > 0 and 0.0 < digit["baseline_accuracy"] <= 1.0
    cats = token_categories(vocab)
    assert cats[vocab.index["sg:225"]] == 0 and cats[vocab.index["Fe"]] == 4 and cats[vocab.index["|"]] == -1
