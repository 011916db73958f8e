"""The recipe of the first shipped default checkpoint (``cloud_core/data/checkpoints/default``).

A placeholder trained in minutes on a shared 2-core CPU so that the rest of the system has a real model;
it is meant to be replaced by a properly trained one (same commands, larger ``--size``/steps/rows).

Stages (each rerunnable; ``--stage all`` runs them in order)::

    python -m cloud_core.model.default_recipe --stage labels    # join data/labels/*.parquet into one table
    python -m cloud_core.model.default_recipe --stage pretrain  # MLM on data/corpora/pretrain
    python -m cloud_core.model.default_recipe --stage finetune  # multi-task heads + Debye head
    python -m cloud_core.model.default_recipe --stage ship      # copy into cloud_core/data/checkpoints/default

Labels: composition-level (symmetry-unknown SCOPE strings) from ``data/labels`` (crabnet-derived Matbench
formation energy, band gap, log10 K_VRH, log10 G_VRH; AFLOW AEL Debye temperatures for the Debye head).
Rows of fold 0 are held out for validation (early stopping) and the rest subsampled for training.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
# target name -> (label file, unit)
TASKS = {
    "e_form": ("mp_e_form", "eV/atom"),
    "band_gap": ("mp_gap", "eV"),
    "log10_k_vrh": ("log10_k_vrh", "log10(GPa)"),
    "log10_g_vrh": ("log10_g_vrh", "log10(GPa)"),
    "theta": ("aflow_debye_temperature", "K"),
}


def build_label_table(
    labels_dir: Path, out_dir: Path, max_rows_per_task: int, seed: int = 0
) -> tuple[Path, Path]:
    """One row per SCOPE string, one column per task (NaN where a task has no label); train/val by fold 0."""
    rng = np.random.default_rng(seed)
    frames = []
    for name, (stem, _) in TASKS.items():
        df = pq.read_table(labels_dir / f"{stem}.parquet", columns=["scope", "target", "fold"]).to_pandas()
        df = df.groupby("scope", as_index=False).agg(target=("target", "mean"), fold=("fold", "first"))
        if len(df) > max_rows_per_task:
            df = df.iloc[np.sort(rng.choice(len(df), max_rows_per_task, replace=False))]
        frames.append(
            df.rename(columns={"target": name}).assign(**{f"fold_{name}": df["fold"]}).drop(columns="fold")
        )
    table = frames[0]
    for f in frames[1:]:
        table = table.merge(f, on="scope", how="outer")
    fold_cols = [c for c in table.columns if c.startswith("fold_")]
    is_val = (table[fold_cols] == 0).any(axis=1).to_numpy()
    table = table.drop(columns=fold_cols)
    out_dir.mkdir(parents=True, exist_ok=True)
    train, val = out_dir / "labels_train.parquet", out_dir / "labels_val.parquet"
    pq.write_table(pa.Table.from_pandas(table[~is_val], preserve_index=False), train)
    pq.write_table(pa.Table.from_pandas(table[is_val], preserve_index=False), val)
    return train, val


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m cloud_core.model.default_recipe", description=__doc__.split("\n")[0]
    )
    p.add_argument("--stage", choices=["labels", "pretrain", "finetune", "ship", "all"], default="all")
    p.add_argument("--work", default="runs/default", help="working directory")
    p.add_argument("--size", default="tiny")
    p.add_argument("--pretrain-steps", type=int, default=150)
    p.add_argument("--pretrain-minutes", type=float, default=13.0)
    p.add_argument("--finetune-epochs", type=int, default=30)
    p.add_argument("--finetune-minutes", type=float, default=8.0)
    p.add_argument("--max-rows-per-task", type=int, default=6000)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    work = Path(args.work)
    stages = ["labels", "pretrain", "finetune", "ship"] if args.stage == "all" else [args.stage]
    if "labels" in stages:
        print(build_label_table(ROOT / "data" / "labels", work, args.max_rows_per_task))
    if "pretrain" in stages:
        from cloud_core.model.pretrain import pretrain
        from cloud_core.model.run_config import PretrainConfig

        cfg = PretrainConfig(
            data=[str(ROOT / "data" / "corpora" / "pretrain")], out_dir=str(work / "pretrain"), size=args.size,
            steps=args.pretrain_steps, batch_size=128, lr=1e-3, warmup_frac=0.1, save_every=25, log_every=10,
            eval_data=[str(ROOT / "data" / "corpora" / "pretrain_heldout")], eval_every=75, threads=args.threads,
            max_minutes=args.pretrain_minutes, seed=0,
        )  # fmt: skip
        print(pretrain(cfg))
    if "finetune" in stages:
        from cloud_core.model.finetune import finetune
        from cloud_core.model.run_config import FinetuneConfig

        cfg = FinetuneConfig(
            data=[str(work / "labels_train.parquet")], val_data=[str(work / "labels_val.parquet")],
            out_dir=str(work / "finetune"), targets=[t for t in TASKS if t != "theta"], debye="theta",
            units={k: u for k, (_, u) in TASKS.items()}, init=str(work / "pretrain" / "checkpoint"),
            epochs=args.finetune_epochs, batch_size=256, lr=1e-3, freeze_epochs=1, patience=5,
            threads=args.threads, max_minutes=args.finetune_minutes, seed=0,
        )  # fmt: skip
        print(finetune(cfg))
    if "ship" in stages:
        src = work / "finetune" / "checkpoint"
        dst = ROOT / "cloud_core" / "data" / "checkpoints" / "default"
        if dst.exists():
            shutil.rmtree(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, dst)
        from cloud_core.model.checkpoint import checkpoint_id

        print(dst, checkpoint_id(dst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
