"""The resumable labelling job: shards of rows, a manifest of done ids, progress on stderr.

Layout under the output folder (``data/mlip_labels/`` by default)::

    shards/A-00000.parquet ...   rows (ok and reject) of N structures each, zstd, written to a temp name + renamed
    manifest.json                shard -> ids (rebuilt from the shards, which are the truth)
    labels.parquet, rejects.parquet, provenance.json, PROVENANCE.md   written by finalize (rerunnable any time)

Exactly once: a rerun reads the ids of every shard and skips them; a process killed at any point loses at most
the shard it was computing (its temp file is ignored and overwritten). The work order is deterministic
(:mod:`screening.mlip.worklist`), so the same ids come next.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from screening.mlip.compute import MlipSettings, label_tier_a, label_tier_b

log = logging.getLogger(__name__)

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "data" / "mlip_labels"

ROW_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("tier", pa.string()),
        ("source", pa.string()),
        ("group", pa.string()),
        ("priority", pa.int16()),
        ("formula", pa.string()),
        ("elements", pa.string()),
        ("scope", pa.string()),
        ("n_sites", pa.int16()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("message", pa.string()),
        ("energy_per_atom_eV", pa.float64()),
        ("mp2020_correction_eV_per_atom", pa.float64()),
        ("volume_per_atom", pa.float64()),
        ("input_volume_per_atom", pa.float64()),
        ("bulk_modulus_GPa", pa.float64()),
        ("eos_rmse_meV", pa.float64()),
        ("converged", pa.bool_()),
        ("n_steps", pa.int32()),
        ("n_single_points", pa.int32()),
        ("seconds", pa.float64()),
        ("chgnet_version", pa.string()),
        ("created_at", pa.string()),
        ("relaxed_structure_json", pa.string()),
    ]
)


def shard_dir(out: Path) -> Path:
    return Path(out) / "shards"


def shard_files(out: Path) -> list[Path]:
    """Finished shards, in name order (temp files are not shards)."""
    d = shard_dir(out)
    return sorted(p for p in d.glob("*.parquet") if not p.name.startswith(".")) if d.is_dir() else []


def done_ids(out: Path) -> dict[str, list[str]]:
    """Shard name -> ids in it, read from the shards themselves."""
    return {p.name: pq.read_table(p, columns=["id"]).column("id").to_pylist() for p in shard_files(out)}


def write_manifest(out: Path, shards: dict[str, list[str]]) -> None:
    """``manifest.json``: shards and their ids (a convenience index; the shards are the truth)."""
    n = sum(len(v) for v in shards.values())
    _atomic_text(
        Path(out) / "manifest.json", json.dumps({"n_done": n, "shards": shards}, indent=0, sort_keys=True)
    )


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_table_atomic(table: pa.Table, path: Path) -> None:
    """Parquet (zstd) to a temp name in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd", compression_level=9)
    os.replace(tmp, path)


def rows_to_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    cols = {f.name: [r.get(f.name) for r in rows] for f in ROW_SCHEMA}
    return pa.table(cols, schema=ROW_SCHEMA)


def read_shards(out: Path):
    """All shard rows as one pandas DataFrame (empty with the schema's columns if none)."""
    files = shard_files(out)
    if not files:
        return ROW_SCHEMA.empty_table().to_pandas()
    return pa.concat_tables([pq.read_table(p, schema=ROW_SCHEMA) for p in files]).to_pandas()


def _fmt_eta(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "?"
    h, rem = divmod(int(seconds), 3600)
    return f"{h}h{rem // 60:02d}m"


def run_job(
    items: Sequence,
    out: Path = DEFAULT_OUT,
    *,
    settings: MlipSettings | None = None,
    potential=None,
    shard_size_a: int = 20,
    shard_size_b: int = 200,
    max_shards: int | None = None,
    on_shard: Callable[[Path], None] | None = None,
    progress=sys.stderr,
) -> dict[str, Any]:
    """Label every item not yet in a shard, in order, a shard at a time.

    Parameters
    ----------
    items
        The work list (:func:`~screening.mlip.worklist.build_worklist`), in work order.
    out
        Output folder (shards, manifest).
    settings, potential
        Numerical settings; the CHGNet potential (loaded from ``settings.model_name`` if ``None``).
    shard_size_a, shard_size_b
        Structures per shard for tier A and tier B.
    max_shards
        Stop after this many new shards (``None``: run to the end).
    on_shard
        Called with each new shard's path (e.g. finalize, so PROVENANCE stays current).

    Returns
    -------
    dict with ``new_shards``, ``new_rows``, ``skipped`` (already done), ``remaining``.
    """
    from screening.phonons.potential import load_potential

    settings = settings or MlipSettings()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shards = done_ids(out)
    write_manifest(out, shards)
    done = {i for ids in shards.values() for i in ids}
    todo = [it for it in items if it.id not in done]
    skipped = len(items) - len(todo)
    total = len(items)
    if not todo:
        print(f"[mlip] nothing to do: {skipped}/{total} done", file=progress, flush=True)
        return {"new_shards": 0, "new_rows": 0, "skipped": skipped, "remaining": 0}
    potential = potential or load_potential(settings.model_name)
    next_index = {"A": 0, "B": 0}
    for name in shards:
        tier, _, num = name.removesuffix(".parquet").partition("-")
        if tier in next_index and num.isdigit():
            next_index[tier] = max(next_index[tier], int(num) + 1)

    n_done = skipped
    new_shards = new_rows = 0
    t_start = time.perf_counter()
    pos = 0
    while pos < len(todo):
        tier = todo[pos].tier
        size = shard_size_a if tier == "A" else shard_size_b
        chunk = [todo[pos]]
        while len(chunk) < size and pos + len(chunk) < len(todo) and todo[pos + len(chunk)].tier == tier:
            chunk.append(todo[pos + len(chunk)])
        if tier == "A":
            rows = [label_tier_a(it, potential, settings) for it in chunk]
        else:
            rows = label_tier_b(chunk, potential, settings)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        for r in rows:
            r["created_at"] = stamp
        path = shard_dir(out) / f"{tier}-{next_index[tier]:05d}.parquet"
        next_index[tier] += 1
        write_table_atomic(rows_to_table(rows), path)
        shards[path.name] = [r["id"] for r in rows]
        write_manifest(out, shards)
        pos += len(chunk)
        n_done += len(chunk)
        new_shards += 1
        new_rows += len(rows)
        elapsed = time.perf_counter() - t_start
        rate = new_rows / elapsed if elapsed > 0 else float("nan")
        remaining = len(todo) - pos
        rem_a = sum(1 for it in todo[pos:] if it.tier == "A")
        n_rej = sum(1 for r in rows if r["status"] != "ok")
        print(
            f"[mlip] {datetime.now(UTC):%H:%M:%S} {path.name}: {n_done}/{total} done "
            f"({n_rej} rejects in shard), {rate:.3f} structures/s this run, {remaining} left "
            f"({rem_a} tier A), ETA at this rate {_fmt_eta(remaining / rate if rate > 0 else float('inf'))}",
            file=progress,
            flush=True,
        )
        if on_shard is not None:
            on_shard(path)
        if max_shards is not None and new_shards >= max_shards:
            break
    return {"new_shards": new_shards, "new_rows": new_rows, "skipped": skipped, "remaining": len(todo) - pos}
