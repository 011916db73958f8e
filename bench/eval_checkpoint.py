"""Train and evaluate CLOUD on the bundled label sets; train the shipped default checkpoint.

Stages (each resumable: a finished stage's output is kept and skipped when run again):

``corpus``    the pre-training corpus (test compositions of every fold removed), ``runs/eval/pretrain_corpus.parquet``
``pretrain``  one MLM pre-training of the encoder on it (``runs/eval/pretrain``)
``folds``     per fold, multi-task fine-tuning on the leak-free training tables and MAE on the fold's test sets;
              the ablation (pre-trained vs from scratch, several seeds) on ``--ablation-fold``
``ship``      fine-tuning on all rows of every task, saved to ``cloud_core/data/checkpoints/default`` with
              ``metrics.json`` (training record and sample predictions)
``stability``  stability precision / recall / F1 of the shipped checkpoint on its held-out fold's test formulas
              (:mod:`screening.evaluation.stability`), into its ``metrics.json``; then the model card
``report``    ``bench/results/eval_checkpoint.json`` from the finished runs, the stability record, the model card

    python bench/eval_checkpoint.py all            # or scripts/train_default.sh (the settings of the shipped model)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from screening.corpora.labels import DEFAULT_SOURCE, N_FOLDS, TASKS, Task, default_labels_dir, load_all  # noqa: E402
from screening.evaluation.metrics_file import read_json, run_metadata, summarize, write_json  # noqa: E402
from screening.evaluation.model_card import MAIN_TASKS  # noqa: E402
from screening.evaluation.training import FAMILIES, task_name  # noqa: E402

log = logging.getLogger("eval_checkpoint")

RUNS = ROOT / "runs" / "eval"
OUT = ROOT / "bench" / "results" / "eval_checkpoint.json"
SHIP_DIR = ROOT / "cloud_core" / "data" / "checkpoints" / "default"
#: the fine-tuned targets: the tasks the model card shows (one list, in screening.evaluation.model_card)
FINETUNE_TASKS = MAIN_TASKS


def _settings(args: argparse.Namespace) -> dict:
    return {
        "size": args.size,
        "max_len": 64,
        "pretrain_steps": args.pretrain_steps,
        "pretrain_batch": args.pretrain_batch,
        "pretrain_lr": 1e-3,
        "finetune_batch": args.batch,
        "finetune_lr": args.lr,
        "finetune_steps": args.steps,
        "ship_steps": args.ship_steps,
        "threads": 1,
        "composition": args.composition,
        "uncertainty": not args.no_uncertainty,
        "balance_power": args.balance_power,
        "patience": args.patience,
        "eval_every": args.eval_every,
        "init_variant": args.init_variant,
        "gbm_member": args.gbm_member,
        "mlip_labels": "" if args.no_mlip else str(args.mlip_labels),
    }


# ------------------------------------------------------------------------------------------------ corpus
def stage_corpus(args: argparse.Namespace) -> dict:
    from screening.evaluation.pretrain_corpus import build_pretrain_corpus

    out = RUNS / "pretrain_corpus.parquet"
    summary_file = RUNS / "pretrain_corpus.json"
    if out.is_file() and summary_file.is_file():
        return read_json(summary_file)
    tables = load_all(args.labels)
    crab = Path(os.environ.get("CLOUD_CRABNET_DATA", DEFAULT_SOURCE))
    pools = sorted((ROOT / "data" / "pools").glob("*.parquet"))
    summary = build_pretrain_corpus(
        tables,
        out,
        crabnet_data=crab if crab.is_dir() else None,
        corpora_dir=ROOT / "data" / "corpora" / "pretrain",
        pool_files=pools,
    )
    summary["files"] = {
        "crabnet_oqmd": str(crab) if crab.is_dir() else None,
        "pools": [p.name for p in pools],
    }
    write_json(summary_file, summary)
    return summary


# ------------------------------------------------------------------------------------------------ pretrain
def stage_pretrain(args: argparse.Namespace) -> Path:
    from cloud_core.model.pretrain import PretrainConfig, pretrain

    s = _settings(args)
    ckpt = RUNS / "pretrain" / "checkpoint"
    if (ckpt / "config.json").is_file() and (RUNS / "pretrain" / "done").is_file():
        return ckpt
    cfg = PretrainConfig(
        data=[str(RUNS / "pretrain_corpus.parquet")],
        out_dir=str(RUNS / "pretrain"),
        size=s["size"],
        steps=s["pretrain_steps"],
        batch_size=s["pretrain_batch"],
        lr=s["pretrain_lr"],
        max_len=s["max_len"],
        save_every=100,
        log_every=20,
        device="cpu",
        threads=s["threads"],
        max_minutes=args.pretrain_minutes,
        eval_data=[
            str(f) for f in sorted((ROOT / "data" / "corpora" / "pretrain_heldout").glob("*.parquet"))
        ],
        eval_limit=5000,
    )
    t0 = time.monotonic()
    path = pretrain(cfg)
    (RUNS / "pretrain" / "done").write_text(json.dumps({"seconds": time.monotonic() - t0}))
    return path


def _pretrain_record() -> dict:
    rec: dict = {}
    corpus = RUNS / "pretrain_corpus.json"
    if corpus.is_file():
        c = read_json(corpus)
        rec.update(
            rows=c["rows"], corpus_sources=c["sources"], structural_fraction=c.get("structural_fraction")
        )
    cfg_file = RUNS / "pretrain" / "checkpoint" / "config.json"
    if cfg_file.is_file():
        prov = json.loads(cfg_file.read_text()).get("provenance", {})
        rec.update(steps=prov.get("steps_done"), batch_size=prov.get("config", {}).get("batch_size"))
    metrics = RUNS / "pretrain" / "metrics.jsonl"
    if metrics.is_file():
        lines = [json.loads(x) for x in metrics.read_text().splitlines() if x.strip()]
        losses = [x for x in lines if "loss" in x]
        if losses:
            rec.update(final_loss=losses[-1]["loss"], seconds=losses[-1]["elapsed_s"])
        evals = [x["eval"] for x in lines if "eval" in x]
        if evals:
            rec["mlm_eval"] = evals[-1]
    done = RUNS / "pretrain" / "done"
    if done.is_file():
        rec["seconds"] = json.loads(done.read_text())["seconds"]
    rec["corpus"] = (
        "label formulas + OQMD formulas (unlabelled) + corpora/pools structures, test compositions removed"
    )
    return rec


# ------------------------------------------------------------------------------------------------ fine-tune
def _tables(labels: str, mlip_labels: str) -> tuple[dict, list]:
    """The crabnet label tables, plus the CHGNet task (``e_form_mlip``) when ``mlip_labels`` names its file;
    and the fine-tuned tasks."""
    tables: dict = dict(load_all(labels))
    tasks: list = list(FINETUNE_TASKS)
    if mlip_labels:
        from screening.corpora.mlip_task import MLIP_E_FORM, mlip_table

        tables[MLIP_E_FORM] = mlip_table(tables, mlip_labels)
        tasks.append(MLIP_E_FORM)
    return tables, tasks


def _file_record(path: str) -> dict | None:
    """Path and sha256 of an input file (the CHGNet labels grow while their job runs: record which)."""
    if not path:
        return None
    import hashlib

    return {"path": str(Path(path).resolve().relative_to(ROOT)) if Path(path).resolve().is_relative_to(ROOT)
            else str(path), "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}  # fmt: skip


def _run_one(job: dict) -> dict:
    """One fine-tuning + evaluation (runs in a worker process)."""
    from screening.evaluation.training import evaluate_on_tables, finetune_multitask

    out = Path(job["out"])
    result_file = out / "result.json"
    if result_file.is_file():
        return read_json(result_file)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s [{out.name}] %(message)s")
    tables, tasks = _tables(job["labels"], job.get("mlip_labels", ""))
    from screening.evaluation.folds import split_fold

    if job["fold"] is None:
        train = {t: tables[t] for t in tasks}
        tests = {}
    else:
        splits = split_fold({t: tables[t] for t in tables}, job["fold"])
        train = {t: splits[t].train for t in tasks}
        tests = {t: splits[t].test for t in tasks}
    family = job.get("family")
    if family:  # hold a chemical family out of every training table (the out-of-distribution check)
        from screening.evaluation.training import FAMILIES, in_family

        train = {
            t: df[~in_family(df["scope"], FAMILIES[family])].reset_index(drop=True) for t, df in train.items()
        }
    t0 = time.monotonic()
    ckpt, record = finetune_multitask(
        train,
        out / "checkpoint",
        init=job["init"],
        size=job["size"],
        max_len=job["max_len"],
        seed=job["seed"],
        batch_size=job["batch"],
        lr=job["lr"],
        steps=job["steps"],
        threads=job["threads"],
        composition=job.get("composition", ""),
        uncertainty=job.get("uncertainty", False),
        balance_power=job.get("balance_power", 1.0),
        patience=job.get("patience"),
        eval_every=job.get("eval_every", 100),
        gbm_member=job.get("gbm_member", False),
        provenance={
            "fold": job["fold"],
            "variant": job["variant"],
            "labels_manifest": job["manifest"],
            "mlip_labels": _file_record(job.get("mlip_labels", "")),
            "family_held_out": family,
        },
    )
    seconds = time.monotonic() - t0
    result = {
        "fold": job["fold"],
        "variant": job["variant"],
        "seed": job["seed"],
        "train_seconds": seconds,
        "n_train": {task_name(t): len(df) for t, df in train.items()},
        "training": record,
    }
    if tests:
        result["n_test"] = {task_name(t): len(df) for t, df in tests.items()}
        result["metrics"] = evaluate_on_tables(ckpt, tests)
        if job.get("gbm_member"):  # the ablation: each member of the blend alone, same test rows
            result["metrics_network"] = evaluate_on_tables(ckpt, tests, mode="network")
            result["metrics_member"] = evaluate_on_tables(ckpt, tests, mode="member")
        if family:
            from screening.evaluation.training import FAMILIES, family_sigma

            result["family"] = {"name": family, **family_sigma(ckpt, tests, FAMILIES[family])}
    write_json(result_file, result)
    return result


_JOB_KEYS = (
    "composition",
    "uncertainty",
    "balance_power",
    "patience",
    "eval_every",
    "gbm_member",
    "mlip_labels",
)


def _jobs(args: argparse.Namespace) -> list[dict]:
    s = _settings(args)
    manifest = str(Path(args.labels) / "manifest.json")
    base = {
        "labels": str(args.labels),
        "size": s["size"],
        "max_len": s["max_len"],
        "batch": s["finetune_batch"],
        "lr": s["finetune_lr"],
        "steps": s["finetune_steps"],
        "threads": s["threads"],
        "manifest": manifest,
        **{k: s[k] for k in _JOB_KEYS},
    }
    pre = str(RUNS / "pretrain" / "checkpoint")
    jobs = []
    main_variant = s["init_variant"]
    for fold in args.folds:
        init = pre if main_variant == "pretrained" else None
        jobs.append({**base, "fold": fold, "variant": main_variant, "seed": 0, "init": init})
    for seed in args.seeds:
        for variant in ("pretrained", "scratch"):
            if variant == main_variant and seed == 0 and args.ablation_fold in args.folds:
                continue
            jobs.append(
                {
                    **base,
                    "fold": args.ablation_fold,
                    "variant": variant,
                    "seed": seed,
                    "init": pre if variant == "pretrained" else None,
                }
            )
    for j in jobs:
        j["out"] = str(RUNS / "finetune" / f"fold{j['fold']}-{j['variant']}-seed{j['seed']}")
    return jobs


def stage_family(args: argparse.Namespace) -> dict:
    """One run on the ablation fold with a chemical family (``--family``) held out of all training: does the
    predicted sigma grow out of distribution? (``runs/eval/family/<family>-fold<k>``)"""
    job = next(j for j in _jobs(args) if j["fold"] == args.ablation_fold and j["seed"] == 0)
    job = {**job, "family": args.family, "steps": args.family_steps or job["steps"],
           "out": str(RUNS / "family" / f"{args.family}-fold{args.ablation_fold}")}  # fmt: skip
    return _run_one(job)


def stage_folds(args: argparse.Namespace) -> list[dict]:
    jobs = [j for j in _jobs(args) if args.only is None or j["variant"] == args.only]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(_run_one, jobs))
    return results


def stage_evaluate(args: argparse.Namespace) -> list[dict]:
    """(Re)compute the test metrics of every finished fold run with the current Predictor: the blend, the
    network alone and the members alone (the ablation), and the family check of family runs. Training is not
    repeated; use it after a change to how predictions are made (members, structure terms)."""
    from screening.evaluation.folds import split_fold
    from screening.evaluation.training import FAMILIES, evaluate_on_tables, family_sigma

    done = []
    cache: dict = {}
    for f in sorted(RUNS.glob("*/*/result.json")):
        result = read_json(f)
        ckpt = f.parent / "checkpoint"
        if result.get("fold") is None or not (ckpt / "config.json").is_file():
            continue
        mlip = (json.loads((ckpt / "config.json").read_text())["provenance"].get("mlip_labels") or {}).get(
            "path", ""
        )
        key = (result["fold"], mlip)
        if key not in cache:
            tables, tasks = _tables(args.labels, str(ROOT / mlip) if mlip else "")
            splits = split_fold({t: tables[t] for t in tables}, result["fold"])
            cache[key] = {t: splits[t].test for t in tasks}
        tests = cache[key]
        log.info("evaluating %s", f.parent.name)
        result["metrics"] = evaluate_on_tables(ckpt, tests)
        if (ckpt / "gbm").is_dir():
            result["metrics_network"] = evaluate_on_tables(ckpt, tests, mode="network")
            result["metrics_member"] = evaluate_on_tables(ckpt, tests, mode="member")
        if result.get("family"):
            name = result["family"]["name"]
            result["family"] = {"name": name, **family_sigma(ckpt, tests, FAMILIES[name])}
        write_json(f, result)
        done.append(result)
    return done


# ------------------------------------------------------------------------------------------------ ship
#: label set -> the shipped checkpoint's target name (the names the rest of the system uses)
SHIPPED_NAMES = {
    "e_form_mlip": "e_form_mlip",
    Task.E_FORM.value: "e_form",
    Task.BAND_GAP.value: "band_gap",
    Task.LOG10_K_VRH.value: "log10_k_vrh",
    Task.LOG10_G_VRH.value: "log10_g_vrh",
    Task.AFLOW_DEBYE.value: "theta",
    Task.AFLOW_KAPPA.value: "log10_kappa_300K",
    Task.AFLOW_THERMAL_EXPANSION.value: "thermal_expansion_300K",
}
#: suffix of the uncertainty (Laplace scale) heads, renamed with their target
SCALE_HEAD_SUFFIX = "__logb"


def rename_heads(model, targets, mapping: dict[str, str]):
    """The same model and targets with heads renamed by ``mapping`` (weights unchanged)."""
    from dataclasses import replace

    from cloud_core.model import CloudModel, ModelConfig

    mapping = {**mapping, **{k + SCALE_HEAD_SUFFIX: v + SCALE_HEAD_SUFFIX for k, v in mapping.items()}}
    d = model.cfg.to_dict()
    for h in d["heads"]:
        h["name"] = mapping.get(h["name"], h["name"])
    new = CloudModel(ModelConfig.from_dict(d))
    state = {}
    for k, v in model.state_dict().items():
        if k.startswith("heads."):
            _, name, rest = k.split(".", 2)
            k = f"heads.{mapping.get(name, name)}.{rest}"
        state[k] = v
    new.load_state_dict(state)
    new.eval()
    return new, [
        replace(t, name=mapping.get(t.name, t.name), uncertainty=mapping.get(t.uncertainty, t.uncertainty))
        for t in targets
    ]


def stage_ship(args: argparse.Namespace) -> Path:
    from screening.evaluation.training import sample_predictions

    s = _settings(args)
    job = {
        "labels": str(args.labels),
        "size": s["size"],
        "max_len": s["max_len"],
        "batch": s["finetune_batch"],
        "lr": s["finetune_lr"],
        "steps": s["ship_steps"],
        "threads": s["threads"],
        "manifest": str(Path(args.labels) / "manifest.json"),
        "fold": None,
        "variant": s["init_variant"],
        "seed": 0,
        "init": str(RUNS / "pretrain" / "checkpoint") if s["init_variant"] == "pretrained" else None,
        **{k: s[k] for k in _JOB_KEYS},
        "out": str(RUNS / "ship"),
    }
    if args.ship_from:  # ship a finished evaluation run (its test metrics are the card's numbers for it)
        run_dir = RUNS / "finetune" / args.ship_from
        result = read_json(run_dir / "result.json")
        source = run_dir / "checkpoint"
    else:
        result = _run_one(job)
        source = RUNS / "ship" / "checkpoint"
    from cloud_core.model.checkpoint import checkpoint_id, load_checkpoint, save_checkpoint
    from cloud_core.model.gbm_member import GbmMembers

    model, cfg, _ = load_checkpoint(source)
    model, targets = rename_heads(model, cfg.targets, SHIPPED_NAMES)
    prov = {
        **cfg.provenance,
        "label_sets": {SHIPPED_NAMES.get(t.value, t.value): t.value for t in FINETUNE_TASKS},
        "shipped_from": args.ship_from or "ship",
    }
    model_id = save_checkpoint(SHIP_DIR, model, targets=targets, provenance=prov)
    members = GbmMembers.load(source)
    if members is not None:  # the declared members, under the shipped target names
        from dataclasses import replace

        names = {k: SHIPPED_NAMES.get(k, k) for k in members.blends}
        GbmMembers(
            {names[k]: b for k, b in members.boosters.items()},
            {
                names[k]: replace(b, target=names[k], column=b.column if b.column == "theta_K" else names[k])
                for k, b in members.blends.items()
            },
        ).save(SHIP_DIR)
        model_id = checkpoint_id(SHIP_DIR)
    metrics = {
        "model_id": model_id,
        "meta": run_metadata(),
        "n_params": model.n_params(),
        "train": {
            "rows": result["n_train"],
            "device": "CPU (shared 2-core machine, 1 torch thread)",
            "finetune_seconds": result["train_seconds"],
            "finetune": result["training"],
            "pretrain": _pretrain_record(),
            "pretrain_seconds": _pretrain_record().get("seconds"),
        },
        "sample_predictions": sample_predictions(SHIP_DIR, load_all(args.labels)),
    }
    write_json(SHIP_DIR / "metrics.json", metrics)
    return SHIP_DIR


# ------------------------------------------------------------------------------------------------ report
def stage_report(args: argparse.Namespace) -> dict:
    results = []
    for f in sorted((RUNS / "finetune").glob("*/result.json")):
        results.append(read_json(f))
    s = _settings(args)
    report: dict = {
        "benchmark": "eval_checkpoint",
        "meta": run_metadata(),
        "protocol": {
            **s,
            "tasks": [t.value for t in FINETUNE_TASKS],
            "units": {t.value: TASKS[t].unit for t in FINETUNE_TASKS},
            "folds": sorted(
                {r["fold"] for r in results if r["variant"] == s["init_variant"] and r["seed"] == 0}
            ),
            "seeds": [0],
            "pretrain": _pretrain_record(),
            "note": args.note,
        },
        "runs": results,
        "summary": {},
    }
    for variant in ("pretrained", "scratch"):
        rs = [r for r in results if r["variant"] == variant and r["seed"] == 0]
        report["summary"][variant] = {
            t.value: {
                "mae": summarize(
                    [r["metrics"][t.value]["mae"] for r in rs if t.value in r.get("metrics", {})]
                )
            }
            for t in FINETUNE_TASKS
        }
    abl = [r for r in results if r["fold"] == args.ablation_fold]
    seeds = sorted({r["seed"] for r in abl})
    tasks = {}
    for t in FINETUNE_TASKS:
        pre = [
            r["metrics"][t.value]["mae"]
            for s_ in seeds
            for r in abl
            if r["seed"] == s_ and r["variant"] == "pretrained"
        ]
        scr = [
            r["metrics"][t.value]["mae"]
            for s_ in seeds
            for r in abl
            if r["seed"] == s_ and r["variant"] == "scratch"
        ]
        tasks[t.value] = {
            "pretrained": pre,
            "scratch": scr,
            "summary_pretrained": summarize(pre),
            "summary_scratch": summarize(scr),
        }
    report["ablation"] = {"fold": args.ablation_fold, "seeds": seeds, "tasks": tasks}
    report["family"] = [
        {"fold": r["fold"], "steps": r["training"]["steps"], **r["family"]}
        for r in (read_json(f) for f in sorted((RUNS / "family").glob("*/result.json")))
        if r.get("family")
    ]
    report["stability"] = [r["stability"] for r in results if r.get("stability") and r["seed"] == 0]
    write_json(args.out, report)
    stage_stability(args)
    _print_table(report)
    return report


def _crabnet_dir():
    from screening.corpora.labels import LabelsError, find_crabnet_data

    try:
        return find_crabnet_data(os.environ.get("CRABNET_DATA"))
    except LabelsError:  # the mp_e_hull reference is skipped, the label-hull one stays
        return None


def stage_stability(args: argparse.Namespace) -> dict | None:
    """Stability records: every finished fold run's (its ``result.json``, once; the per-fold models of the
    recipe) and the shipped checkpoint's when it is an evaluation run (held-out fold); then the card."""
    from screening.evaluation.model_card import write_model_card
    from screening.evaluation.stability import METRICS_KEY, checkpoint_stability, stability_lines

    for f in sorted((RUNS / "finetune").glob("*/result.json")):
        result = read_json(f)
        if result.get("fold") is None or result.get("stability") or result.get("seed") != 0:
            continue
        log.info("stability of %s", f.parent.name)
        result["stability"] = checkpoint_stability(f.parent / "checkpoint", result["fold"], args.labels,
                                                   _crabnet_dir())  # fmt: skip
        write_json(f, result)
    if not (SHIP_DIR / "config.json").is_file():
        return None
    fold = read_json(SHIP_DIR / "config.json").get("provenance", {}).get("fold")
    rec = None
    if isinstance(fold, int):  # trained on all folds: no held-out formulas, no record
        rec = checkpoint_stability(SHIP_DIR, fold, args.labels, _crabnet_dir())
        metrics = read_json(SHIP_DIR / "metrics.json")
        metrics[METRICS_KEY] = rec
        write_json(SHIP_DIR / "metrics.json", metrics)
        caption, header, rows = stability_lines(rec)
        print(caption)
        for row in rows:
            print(" | ".join(f"{h}: {v}" for h, v in zip(header, row, strict=True)))
    if args.out.is_file():
        write_model_card(SHIP_DIR, cloud=args.out)
    return rec


def _print_table(report: dict) -> None:
    base = read_json(ROOT / "bench" / "results" / "eval_baselines.json")
    print(
        f"{'task':26s} {'CLOUD pre-trained':>22s} {'CLOUD scratch':>22s} {'dummy':>10s} {'ridge':>10s} {'gbm':>10s}"
    )
    for t in FINETUNE_TASKS:
        p = report["summary"]["pretrained"][t.value]["mae"]
        q = report["summary"]["scratch"][t.value]["mae"]
        b = base["tasks"][t.value]["summary"]
        print(
            f"{t.value:26s} {p['mean']:>12.4f} ±{p['std']:.4f} ({p['n']}) {q['mean']:>12.4f} ±{q['std']:.4f} ({q['n']})"
            f" {b['dummy']['mae']['mean']:>10.4f} {b['ridge']['mae']['mean']:>10.4f}"
            f" {b.get('gbm', {}).get('mae', {}).get('mean', float('nan')):>10.4f}"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "stage",
        choices=["corpus", "pretrain", "folds", "evaluate", "family", "ship", "stability", "report", "all"],
    )
    p.add_argument("--labels", type=Path, default=default_labels_dir())
    p.add_argument("--size", default="tiny")
    p.add_argument("--pretrain-steps", type=int, default=500)
    p.add_argument("--pretrain-batch", type=int, default=128)
    p.add_argument("--pretrain-minutes", type=float, default=None)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--steps", type=int, default=600, help="optimiser steps per evaluation fine-tuning")
    p.add_argument("--ship-steps", type=int, default=400, help="optimiser steps of the shipped model")
    p.add_argument(
        "--ship-from",
        default=None,
        metavar="RUN",
        help="ship stage: ship this finished run (runs/eval/finetune/RUN) instead of training anew",
    )
    p.add_argument(
        "--only", choices=["pretrained", "scratch"], default=None, help="folds stage: one variant only"
    )
    p.add_argument("--folds", type=int, nargs="+", default=list(range(N_FOLDS)))
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    p.add_argument(
        "--init-variant",
        choices=["pretrained", "scratch"],
        default="pretrained",
        help="the per-fold and shipped runs: from the pre-trained encoder or from scratch",
    )
    p.add_argument(
        "--composition",
        default="magpie.csv",
        help="element property table of the composition inputs ('' = tokens only)",
    )
    p.add_argument("--no-uncertainty", action="store_true", help="no Laplace scale heads / *_std columns")
    p.add_argument("--balance-power", type=float, default=0.5, help="task balance of the row sampling")
    p.add_argument("--patience", type=int, default=8, help="early stopping: evaluations without improvement")
    p.add_argument("--eval-every", type=int, default=250, help="validation every N steps")
    p.add_argument(
        "--gbm-member",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add the declared composition-only LightGBM member per target (cloud_core.model.gbm_member)",
    )
    p.add_argument(
        "--mlip-labels",
        type=Path,
        default=ROOT / "data" / "mlip_labels" / "labels.parquet",
        help="CHGNet structure labels (cloud build-mlip-labels) for the e_form_mlip task",
    )
    p.add_argument("--no-mlip", action="store_true", help="composition labels only (no e_form_mlip task)")
    p.add_argument("--ablation-fold", type=int, default=0)
    p.add_argument(
        "--family", default="lanthanides", choices=sorted(FAMILIES), help="family stage: the family held out"
    )
    p.add_argument("--family-steps", type=int, default=None, help="family stage: steps (default --steps)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--note", default="")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stages = ["corpus", "pretrain", "folds", "ship", "report"] if args.stage == "all" else [args.stage]
    for st in stages:
        t0 = time.monotonic()
        log.info("stage %s", st)
        res = globals()[f"stage_{st}"](args)
        if st == "corpus":
            log.info("corpus: %s", json.dumps(res)[:500])
        log.info("stage %s done in %.0f s", st, time.monotonic() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
