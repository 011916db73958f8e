"""``cloud pretrain``, ``cloud finetune`` and ``cloud predict``: the CLOUD model from the command line.

- ``cloud pretrain SHARDS... --out RUN``: MLM pre-training on Parquet shards with a ``scope`` column
  (for several processes/GPUs: ``torchrun --nproc_per_node N -m cloud_core.model.pretrain ...``, same arguments).
- ``cloud finetune TABLES... --out RUN [--init CKPT]``: multi-task fine-tuning on labelled tables.
- ``cloud predict PATH... [--model CKPT]``: JSON lines like ``cloud encode`` plus one field per predicted
  property and ``model_id``. PATH may be a structure file (CIF, POSCAR, ...) or ``-`` / ``--scope S`` for
  SCOPE strings; rejects are lines with an ``error`` field. Exits 0 once its inputs are processed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from flows.cli.argtypes import (
    finite_non_negative_float,
    finite_positive_float,
    float_in,
    non_negative_int,
    positive_int,
    set_types,
    symprec,
)

unit_interval = float_in(0.0, 1.0)
#: Types of the arguments pretrain and finetune share.
_COMMON_TYPES = {
    "batch_size": positive_int,
    "max_len": positive_int,
    "lr": finite_positive_float,
    "weight_decay": finite_non_negative_float,
    "warmup_frac": float_in(0.0, 1.0, hi_open=True),
    "dropout": float_in(0.0, 1.0, hi_open=True),
    "threads": positive_int,
    "max_minutes": finite_positive_float,
}


def register(subparsers: argparse._SubParsersAction) -> None:
    from cloud_core.model.run_config import add_finetune_arguments, add_pretrain_arguments

    p = subparsers.add_parser("pretrain", help="MLM pre-training of the CLOUD encoder on SCOPE shards")
    add_pretrain_arguments(p)
    # cloud_core defines these arguments (torchrun uses them too) and cannot import flows: stricter types here
    set_types(p, **_COMMON_TYPES, save_every=positive_int, log_every=positive_int, eval_every=non_negative_int,
              eval_limit=positive_int, steps=positive_int, micro_batch_tokens=positive_int, min_lr_ratio=unit_interval,
              grad_clip=finite_positive_float, mask_rate=float_in(0.0, 1.0, lo_open=True, hi_open=True),
              stop_after=positive_int)  # fmt: skip
    p.set_defaults(handler=run_pretrain)

    f = subparsers.add_parser(
        "finetune", help="multi-task fine-tuning of a CLOUD model on labelled SCOPE tables"
    )
    add_finetune_arguments(f)
    set_types(f, **_COMMON_TYPES, epochs=positive_int, freeze_epochs=non_negative_int, patience=positive_int,
              head_layers=positive_int, head_hidden=non_negative_int,
              val_fraction=float_in(0.0, 1.0, hi_open=True))  # fmt: skip
    f.set_defaults(handler=run_finetune)

    q = subparsers.add_parser(
        "predict",
        help="predict properties of structure files or SCOPE strings, one JSON line each",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument(
        "paths", nargs="*", metavar="PATH", help="structure files; '-' reads SCOPE strings from stdin"
    )
    q.add_argument("--scope", action="append", default=[], help="a SCOPE string to predict (repeatable)")
    q.add_argument("--model", default=None, help="checkpoint directory (default: the shipped checkpoint)")
    q.add_argument("--device", default="auto")
    q.add_argument("--batch-size", type=positive_int, default=None)
    q.add_argument("--symprec", type=symprec, default=None, help="symmetry tolerance for structure files")
    q.set_defaults(handler=run_predict)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)


def run_pretrain(args: argparse.Namespace) -> int:
    from cloud_core.model.pretrain import pretrain
    from cloud_core.model.run_config import pretrain_config_from_args

    _logging()
    print(pretrain(pretrain_config_from_args(args)))
    return 0


def run_finetune(args: argparse.Namespace) -> int:
    from cloud_core.model.finetune import finetune
    from cloud_core.model.run_config import finetune_config_from_args

    _logging()
    print(finetune(finetune_config_from_args(args)))
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from cloud_core.model import CheckpointError, Predictor

    items: list[tuple[str, dict]] = []  # (id, base line); base line has "scope" or "error"
    for i, s in enumerate(args.scope):
        items.append((f"scope:{i}", {"scope": s}))
    files = [p for p in args.paths if p != "-"]
    if "-" in args.paths:
        for n, line in enumerate(sys.stdin):
            if line.strip():
                items.append((f"stdin:{n + 1}", {"scope": line.strip()}))
    if files:
        from cloud_core.scope import ScopeError, encode

        symprec = args.symprec
        if symprec is None:
            from screening.settings import get_settings

            symprec = get_settings().symprec
        for path in files:
            try:
                record = encode(path, symprec=symprec)
            except ScopeError as exc:
                items.append((path, {"error": {"reason": str(exc.reason), "message": exc.message}}))
            except Exception as exc:  # noqa: BLE001 - one bad file never stops the others
                items.append(
                    (path, {"error": {"reason": "internal_error", "message": f"{type(exc).__name__}: {exc}"}})
                )
            else:
                base = {"scope": record.to_string(), "spacegroup": record.spacegroup, "n_sites": record.n_sites,
                        "symprec": record.symprec, "backend": record.backend}  # fmt: skip
                items.append((path, base))
    if not items:
        print("cloud predict: give structure files, '-' (SCOPE strings on stdin) or --scope", file=sys.stderr)
        return 2
    try:
        predictor = Predictor.from_checkpoint(args.model, device=args.device)
    except (CheckpointError, RuntimeError) as exc:
        print(f"cloud predict: {exc}", file=sys.stderr)
        return 1
    todo = [(i, base) for i, base in items if "scope" in base]
    table, rejects = predictor.predict_with_rejects(
        [b["scope"] for _, b in todo], ids=[str(k) for k in range(len(todo))], batch_size=args.batch_size
    )
    rows = {r["id"]: r for r in table.to_pylist()}
    bad = {r.id: r for r in rejects}
    todo_index = {id(base): str(k) for k, (_, base) in enumerate(todo)}
    out = sys.stdout
    for ident, base in items:
        line = {"id": ident, **base}
        key = todo_index.get(id(base))
        if key is not None and key in rows:
            pred = rows[key]
            line.update({t: pred[t] for t in predictor.targets})
            line["model_id"] = predictor.model_id
        elif key is not None:
            line["error"] = {"reason": bad[key].reason, "message": bad[key].message}
        out.write(json.dumps(line) + "\n")
    out.flush()
    return 0
