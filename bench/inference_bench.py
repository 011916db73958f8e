"""Inference throughput of the CLOUD encoder vs a Hugging Face ``BertModel`` of the same size, in one run.

For each size (tiny, mini, small, base) it measures structures/s of

- ``cloud``: :class:`cloud_core.model.Predictor` end to end (tokenisation included) on real SCOPE strings
  from the pre-training corpus, length-bucketed (float32 on CPU; bf16 autocast on CUDA);
- ``cloud_pad64``: the same encoder fed pre-tokenised batches padded to 64 tokens (no bucketing), to
  separate the implementation from the padding;
- ``hf_bert_pad64``: ``transformers.BertModel`` (SDPA attention) with the same layers/width/heads/FFN and
  vocabulary, pre-tokenised and padded to 64 tokens (the reference implementation's stack; fp16 on CUDA,
  float32 on CPU where fp16 has no fast kernels).

Each size is measured in interleaved rounds (``--rounds``), best round reported (a shared machine's load
varies between measurements). Model FLOP utilisation (MFU) = encoder FLOPs of the real tokens x structures/s / peak FLOP/s, where the
peak on CPU is the float32 matmul rate measured here (2048^3 GEMM) and on CUDA the card's bf16 dense peak
(set ``CLOUD_BENCH_PEAK_TFLOPS`` to override). Writes ``bench/results/inference_bench.json``.

Needs the ``bench`` extra (``pip install -e .[bench]``: transformers). Run: ``python bench/inference_bench.py``.

``--variants`` measures instead the inference variants of one checkpoint (default: the shipped one) on the
bundled prototype pool, in one run on one torch thread: ``float32`` and ``int8`` (:mod:`cloud_core.model.fast`),
interleaved rounds, best reported, as candidates/s of

- ``network``: the model alone on pre-tokenised, length-bucketed batches (uncertainty heads included);
- ``predict``: :meth:`Predictor.predict` without gradient-boosting members (validation + tokenisation + network);
- ``campaign``: :meth:`Predictor.predict` as a campaign calls it (members blended in, when the checkpoint has them);

plus the int8 variant's agreement with float32 over the whole pool (Spearman and top-100 overlap per column, the
network alone) and its load time (conversion + the acceptance check). ``--ort`` adds ONNX Runtime float32 and
int8 (the same recipe: weights of the encoder blocks' MatMuls) in network mode at the first batch size, with their
agreement with torch float32 on the timed strings (raw head outputs); it needs ``onnxruntime`` and ``onnx``, which
are not dependencies of the project. Writes ``bench/results/inference_variants.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cloud_core.model.checkpoint import CheckpointConfig  # noqa: E402
from cloud_core.model.encoder import CloudModel, ModelConfig, encoder_flops_per_sequence  # noqa: E402
from cloud_core.model.predictor import Predictor, available_cores  # noqa: E402
from cloud_core.model.run_config import SIZES  # noqa: E402
from cloud_core.model.vocab import get_vocabulary  # noqa: E402

OUT = ROOT / "bench" / "results" / "inference_bench.json"
CORPUS = ROOT / "data" / "corpora" / "pretrain"
SHRINK = {"tiny": 1, "mini": 2, "small": 4, "base": 8}


def load_scopes(n: int, seed: int = 0) -> list[str]:
    files = sorted(CORPUS.glob("*.parquet"))
    if not files:
        raise SystemExit(f"no corpus shards in {CORPUS}: build them with `cloud build-corpora` first")
    col = pq.read_table(files[0], columns=["scope"]).column(0).to_pylist()
    vocab = get_vocabulary()
    rng = np.random.default_rng(seed)
    out = []
    for i in rng.permutation(len(col)):
        ids = vocab.tokenize(col[i])
        if len(ids) <= 64:  # the baseline's maximum length
            out.append(col[i])
        if len(out) == n:
            break
    return out


def measure(fn, n_items: int, min_seconds: float, device: torch.device, warmup: bool = True) -> float:
    """Items/s of ``fn`` (which processes ``n_items``), after one warm-up call, repeated for ``min_seconds``."""
    if warmup:
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    done, t0 = 0, time.perf_counter()
    while True:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        done += n_items
        dt = time.perf_counter() - t0
        if dt >= min_seconds:
            return done / dt


def peak_flops(device: torch.device) -> tuple[float, str]:
    env = os.environ.get("CLOUD_BENCH_PEAK_TFLOPS")
    if env:
        return float(env) * 1e12, "CLOUD_BENCH_PEAK_TFLOPS"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        table = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12}
        for key, val in table.items():
            if key in name:
                return val, f"{key} bf16 dense datasheet"
        return float("nan"), "unknown card"
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    rate = measure(lambda: a @ b, 1, 2.0, device)
    return 2 * n**3 * rate, f"measured float32 {n}^3 matmul, {torch.get_num_threads()} threads"


def hf_model(size: str, vocab_size: int, device: torch.device):
    from transformers import BertConfig, BertModel

    s = SIZES[size]
    cfg = BertConfig(
        vocab_size=vocab_size, hidden_size=s["d_model"], num_hidden_layers=s["n_layers"],
        num_attention_heads=s["n_heads"], intermediate_size=s["d_ff"], max_position_embeddings=64,
        attn_implementation="sdpa",
    )  # fmt: skip
    model = BertModel(cfg, add_pooling_layer=False).eval().to(device)
    if device.type == "cuda":
        model = model.half()
    return model


def bench_size(
    size: str, scopes: list[str], bs: int, device: torch.device, peak: float, min_seconds: float, rounds: int
) -> dict:
    """One row of the table: the three measurements for one model size."""
    vocab = get_vocabulary()
    lengths = [len(vocab.tokenize(s)) for s in scopes]
    mcfg = ModelConfig.from_size(size, len(vocab), dropout=0.0, max_len=256)
    model = CloudModel(mcfg).eval().to(device)
    predictor = Predictor(model, CheckpointConfig(model=mcfg), "bench", device)
    flops_real = float(np.mean([encoder_flops_per_sequence(mcfg, n) for n in lengths]))
    n_params = model.n_params()

    def ours_run() -> None:  # end to end, length-bucketed, tokenisation included
        predictor.predict(scopes, batch_size=bs)

    # the same encoder on pre-tokenised batches padded to 64, like the baseline
    enc = vocab.encode_batch(scopes)
    w = enc.input_ids.shape[1]
    ids = torch.zeros((len(scopes), 64), dtype=torch.long)
    sec = torch.zeros((len(scopes), 64), dtype=torch.long)
    att = torch.zeros((len(scopes), 64), dtype=torch.bool)
    ids[:, :w] = torch.from_numpy(enc.input_ids)
    sec[:, :w] = torch.from_numpy(enc.section_ids)
    att[:, :w] = torch.from_numpy(enc.attention_mask)
    ids, sec, att = ids.to(device), sec.to(device), att.to(device)
    cuda = device.type == "cuda"

    def pad_run() -> None:
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            for s in range(0, len(scopes), bs):
                model(ids[s : s + bs], sec[s : s + bs], att[s : s + bs])

    hf = hf_model(size, len(vocab), device)
    mask_long = att.long()

    def hf_run() -> None:
        with torch.inference_mode():
            for s in range(0, len(scopes), bs):
                hf(input_ids=ids[s : s + bs], attention_mask=mask_long[s : s + bs])

    # interleaved rounds, best of each: on a shared machine the load changes between measurements, and the
    # fastest round is the one least disturbed by other processes
    runs: dict[str, list[float]] = {"ours": [], "pad64": [], "hf": []}
    for r in range(rounds):
        runs["ours"].append(measure(ours_run, len(scopes), min_seconds, device, warmup=r == 0))
        runs["pad64"].append(measure(pad_run, len(scopes), min_seconds, device, warmup=r == 0))
        runs["hf"].append(measure(hf_run, len(scopes), min_seconds, device, warmup=r == 0))
    ours, pad64, base = max(runs["ours"]), max(runs["pad64"]), max(runs["hf"])
    return {
        "size": size,
        **SIZES[size],
        "params": n_params,
        "n_structures": len(scopes),
        "batch_size": bs,
        "cloud_structures_per_s": round(ours, 1),
        "cloud_pad64_structures_per_s": round(pad64, 1),
        "hf_bert_pad64_structures_per_s": round(base, 1),
        "speedup_vs_hf": round(ours / base, 2),
        "encoder_gflop_per_structure": round(flops_real / 1e9, 4),
        "cloud_mfu": round(flops_real * ours / peak, 4),
        "hf_bert_mfu": round(flops_real * base / peak, 4),
        "rounds": {k: [round(x, 1) for x in v] for k, v in runs.items()},
    }


POOL = ROOT / "data" / "pools" / "prototype_pool_v1.parquet"
VARIANTS_OUT = ROOT / "bench" / "results" / "inference_variants.json"


def bench_variants(args: argparse.Namespace) -> dict:
    """float32 vs int8 of one checkpoint on the bundled pool, one thread, one run (see the module docstring)."""
    from cloud_core.model.checkpoint import default_checkpoint_path
    from cloud_core.model.fast import INT8, compare, load_variant_predictor

    torch.set_num_threads(args.threads or 1)
    ckpt = Path(args.checkpoint) if args.checkpoint else default_checkpoint_path()
    preds, load_s = {}, {}
    for v in ("float32", INT8):
        t0 = time.perf_counter()
        preds[v] = load_variant_predictor(ckpt, v, device="cpu", threads=torch.get_num_threads())
        load_s[v] = round(time.perf_counter() - t0, 2)
    vocab = get_vocabulary()
    max_len = min(p.max_len for p in preds.values())
    pool = [s for s in pq.read_table(POOL, columns=["scope"]).column(0).to_pylist() if s]
    n_pool = len(pool)
    pool = [s for s in pool if len(vocab.tokenize(s)) <= max_len]  # longer ones are rejects, not predictions
    rng = np.random.default_rng(0)
    timed = [pool[i] for i in sorted(rng.choice(len(pool), size=min(args.n_timed, len(pool)), replace=False))]
    bare = {v: Predictor(p.model, p.config, p.model_id, p.device) for v, p in preds.items()}
    encoded = [bare["float32"]._encode(s) for s in timed]
    cases = {}
    for v in preds:
        for bs in args.variant_batch_sizes:
            cases[(v, "network", bs)] = lambda v=v, bs=bs: bare[v]._run(encoded, bs, False)
            cases[(v, "predict", bs)] = lambda v=v, bs=bs: bare[v].predict_with_rejects(timed, batch_size=bs)
            cases[(v, "campaign", bs)] = lambda v=v, bs=bs: preds[v].predict_with_rejects(
                timed, batch_size=bs
            )
    ort_agreement: dict = {}
    if args.ort:
        import tempfile

        bs = args.variant_batch_sizes[0]
        with tempfile.TemporaryDirectory() as tmp:
            extra, raw = ort_cases(preds["float32"].model, vocab, encoded, bs, Path(tmp))
        with torch.inference_mode():  # raw head outputs of torch float32, the same layout, for agreement
            out = bare["float32"].model(*_padded(vocab, encoded))
            ref = torch.cat([out[h] for h in preds["float32"].model.heads.keys()], dim=-1).numpy()
        for k, fn in extra.items():
            cases[(k, "network", bs)] = fn
            ort_agreement[k] = compare(pa.table({str(j): ref[:, j] for j in range(ref.shape[1])}),
                                       pa.table({str(j): raw[k][:, j] for j in range(ref.shape[1])})).to_dict()  # fmt: skip
    runs: dict = {k: [] for k in cases}
    cpu = torch.device("cpu")
    for r in range(args.rounds):
        for k, fn in cases.items():
            runs[k].append(measure(fn, len(timed), args.min_seconds, cpu, warmup=r == 0))
    rows = []
    for (v, mode, bs), rates in runs.items():
        ref = max(runs[("float32", "network" if v.startswith("ort") else mode, bs)])
        rows.append({"variant": v, "mode": mode, "batch_size": bs, "candidates_per_s": round(max(rates), 1),
                     "vs_float32": round(max(rates) / ref, 2), "rounds": [round(x, 1) for x in rates]})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    agreement = compare(bare["float32"].predict(pool), bare[INT8].predict(pool))
    with_members = compare(preds["float32"].predict(pool), preds[INT8].predict(pool))
    return {
        "checkpoint": str(ckpt),
        "model_ids": {v: p.model_id for v, p in preds.items()},
        "has_members": preds["float32"].members is not None,
        "threads": torch.get_num_threads(),
        "n_timed": len(timed),
        "n_pool": n_pool,
        "n_pool_predicted": len(pool),
        "load_seconds": load_s,
        "sample_agreement": preds[INT8].agreement.to_dict(),
        "pool_agreement_network": agreement.to_dict(),
        "pool_agreement_campaign": with_members.to_dict(),
        "pool_failures_network": agreement.failures(),
        "ort_agreement_raw_heads": ort_agreement,
        "rows": rows,
    }


def _padded(vocab, encoded: list) -> tuple:
    b = vocab.pad(encoded)
    return torch.from_numpy(b.input_ids), torch.from_numpy(b.section_ids), torch.from_numpy(b.attention_mask)


def ort_cases(model, vocab, encoded: list, bs: int, work: Path) -> tuple[dict, dict]:
    """ONNX Runtime float32 and int8 (weights of the encoder blocks' MatMuls only, as the torch int8 recipe) of
    ``model``'s network on ``encoded`` (length-bucketed batches of ``bs``), one thread.

    The composition fractions (a loop over token positions) are computed by torch outside the graph, so the
    exported graph has dynamic batch and length axes. Returns ``({name: run()}, {name: raw head outputs})``.
    """
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from torch import nn

    heads = list(model.heads.keys())

    class Net(nn.Module):
        def __init__(self, m) -> None:
            super().__init__()
            self.m = m

        def forward(self, ids, sec, mask, frac):
            enc = self.m.encoder
            h = enc(ids, sec, mask, frac)
            m = mask.to(h.dtype).unsqueeze(-1)
            pooled = h[:, 0] if self.m.cfg.pooling == "cls" else (h * m).sum(1) / m.sum(1).clamp_min(1.0)
            if enc.comp is not None:
                pooled = pooled + enc.comp.pooled_summary(ids, sec, frac)
            return torch.cat([self.m.heads[n](pooled) for n in heads], dim=-1)

    order = np.argsort([len(e[0]) for e in encoded], kind="stable")
    batches = []
    for s0 in range(0, len(encoded), bs):
        b = vocab.pad([encoded[i] for i in order[s0 : s0 + bs]])
        ids, sec = torch.from_numpy(b.input_ids), torch.from_numpy(b.section_ids)
        mask = torch.from_numpy(b.attention_mask)
        comp = model.encoder.comp
        frac = comp.fractions(ids, sec) if comp is not None else torch.zeros(ids.shape)
        batches.append((ids, sec, mask, frac))
    names = ["ids", "sec", "mask", "frac"]
    f32, i8 = work / "net.onnx", work / "net_int8.onnx"
    torch.onnx.export(Net(model).eval(), batches[len(batches) // 2], str(f32), dynamo=False, input_names=names,
                      output_names=["out"], dynamic_axes={k: {0: "b", 1: "n"} for k in names} | {"out": {0: "b"}},
                      opset_version=17)  # fmt: skip
    graph = onnx.load(str(f32)).graph
    weights = {i.name for i in graph.initializer}
    blocks = [
        n.name for n in graph.node if n.op_type == "MatMul" and "blocks" in n.name and n.input[1] in weights
    ]
    quantize_dynamic(str(f32), str(i8), weight_type=QuantType.QInt8, nodes_to_quantize=blocks)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sessions = {k: ort.InferenceSession(str(f), opts, providers=["CPUExecutionProvider"])
                for k, f in (("ort_float32", f32), ("ort_int8", i8))}  # fmt: skip
    feeds = [dict(zip(names, (t.numpy() for t in b), strict=True)) for b in batches]
    inv = np.argsort(order, kind="stable")

    def runner(sess):
        return lambda: np.concatenate([sess.run(None, f)[0] for f in feeds])[inv]

    cases = {k: runner(v) for k, v in sessions.items()}
    return cases, {k: fn() for k, fn in cases.items()}


def variants_table(result: dict) -> str:
    lines = [
        f"{result['threads']} thread(s), {result['n_timed']} pool candidates timed; load s {result['load_seconds']}",
        "",
        "| variant | mode | batch | candidates/s | vs float32 |",
        "|---|---|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['variant']} | {r['mode']} | {r['batch_size']} | {r['candidates_per_s']:,} | {r['vs_float32']}x |"
        )
    agr = result["pool_agreement_network"]
    lines += ["", f"int8 vs float32 over {agr['n']} pool candidates (network): min Spearman "
              f"{min(agr['spearman'].values()):.5f}, min top-100 overlap {min(agr['top_overlap'].values()):.0%}"]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", nargs="+", default=["tiny", "mini", "small", "base"], choices=sorted(SIZES))
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--min-seconds", type=float, default=2.0, help="measure each case at least this long")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per size; the best is reported")
    p.add_argument("--out", default=str(OUT))
    p.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: the available cores)"
    )
    p.add_argument(
        "--variants", action="store_true", help="float32 vs int8 of one checkpoint on the bundled pool"
    )
    p.add_argument("--checkpoint", default=None, help="--variants: checkpoint (default: the shipped one)")
    p.add_argument("--n-timed", type=int, default=4096, help="--variants: pool candidates per timed pass")
    p.add_argument("--variant-batch-sizes", type=int, nargs="+", default=[128, 512])
    p.add_argument("--ort", action="store_true",
                   help="--variants: also ONNX Runtime float32 / int8 (needs onnxruntime, onnx), first batch size")  # fmt: skip
    args = p.parse_args(argv)
    if args.variants:
        load_before = os.getloadavg()
        result = bench_variants(args)
        result |= {"device": f"CPU ({platform.processor() or platform.machine()})", "torch": torch.__version__,
                   "load_average_before": [round(x, 2) for x in load_before],
                   "load_average_after": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
        out = Path(args.out) if args.out != str(OUT) else VARIANTS_OUT
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print()
        print(variants_table(result))
        return 0

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    threads = available_cores()
    torch.set_num_threads(args.threads or threads)
    torch.manual_seed(0)
    vocab = get_vocabulary()
    bs = args.batch_size if device.type == "cpu" else 4096
    scopes = load_scopes(bs * (1 if device.type == "cpu" else 8))
    lengths = np.array([len(vocab.tokenize(s)) for s in scopes])
    peak, peak_src = peak_flops(device)
    load_before = os.getloadavg()
    rows = []
    for size in args.sizes:
        # the big models see fewer structures per measurement on CPU (one batch of base takes seconds)
        n = max(1, len(scopes) // SHRINK[size]) if device.type == "cpu" else len(scopes)
        row = bench_size(size, scopes[:n], min(bs, n), device, peak, args.min_seconds, args.rounds)
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({platform.processor() or platform.machine()})",
        "gpu": None if device.type == "cpu" else torch.cuda.get_device_name(device),
        "gpu_note": "no CUDA device on this machine: CPU only" if device.type == "cpu" else "",
        "threads": torch.get_num_threads(),
        "cores_available": threads,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "dtype": {
            "cloud": "bfloat16 autocast" if device.type == "cuda" else "float32",
            "hf_bert": "float16" if device.type == "cuda" else "float32",
        },  # fmt: skip
        "batch_size": bs,
        "tokens_per_structure": {
            "mean": round(float(lengths.mean()), 2),
            "median": float(np.median(lengths)),
            "max": int(lengths.max()),
        },  # fmt: skip
        "peak_flops": peak,
        "peak_flops_source": peak_src,
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(markdown_table(result))
    return 0


def markdown_table(result: dict) -> str:
    lines = [
        f"device: {result['device']}; threads {result['threads']}; batch {result['batch_size']}; "
        f"{result['tokens_per_structure']['mean']} tokens/structure (mean); load avg {result['load_average_before'][0]}",
        "",
        "| size | params | CLOUD (bucketed) /s | CLOUD pad64 /s | HF BERT pad64 /s | speed-up | MFU CLOUD | MFU HF |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['size']} | {r['params']:,} | {r['cloud_structures_per_s']:,} | {r['cloud_pad64_structures_per_s']:,} | "
            f"{r['hf_bert_pad64_structures_per_s']:,} | {r['speedup_vs_hf']}x | {r['cloud_mfu']:.1%} | {r['hf_bert_mfu']:.1%} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
