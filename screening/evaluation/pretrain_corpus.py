"""The pre-training corpus of the evaluation and of the shipped model, with test compositions removed.

Sources (each optional except the label formulas; all de-duplicated by SCOPE string):

- the label sets' formulas, unlabelled, as symmetry-unknown SCOPE strings (``? | - | Fe 2 O 3``);
- the formulas of crabnet's OQMD sets (~340k, only the formula column is read; no OQMD target is used);
- SCOPE strings of any Parquet file with a ``scope`` column under ``data/corpora/pretrain/`` (the corpora
  builders' output);
- the bundled prototype pool's structures (``data/pools/*.parquet``), encoded with ``cloud_core.scope``.

Leakage control: every string whose composition is in ANY fold's test set of ANY task is dropped
(:func:`screening.evaluation.folds.all_fold_test_keys`), so one pre-trained encoder is leak-free for every
fold, and the shipped model reuses it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from screening.corpora.labels import Task, _electronegativity_key, scope_for_formula
from screening.evaluation.folds import all_fold_test_keys, drop_keys_from_scopes

log = logging.getLogger(__name__)

_SIMPLE = re.compile(r"([A-Z][a-z]?)(\d*)")


def _fast_scope(formula: str) -> str | None:
    """Symmetry-unknown SCOPE of a plain integer formula like ``Ta2Te1Zr1`` (None if not that simple)."""
    pairs = _SIMPLE.findall(formula)
    if not pairs or "".join(e + n for e, n in pairs) != formula:
        return None
    counts: dict[str, int] = {}
    for el, n in pairs:
        counts[el] = counts.get(el, 0) + (int(n) if n else 1)
    try:
        keys = {el: _electronegativity_key(el) for el in counts}
    except ValueError:  # not an element symbol
        return None
    g = int(np.gcd.reduce(np.fromiter(counts.values(), dtype=np.int64)))
    if g <= 0:
        return None
    toks = ["?", "|", "-", "|"]
    for el in sorted(counts, key=keys.__getitem__):
        toks.append(el)
        toks.extend(str(counts[el] // g))
    return " ".join(toks)


def formulas_to_scopes(formulas: Iterable[str]) -> tuple[list[str], int]:
    """Symmetry-unknown SCOPE strings of formulas (fast path for plain formulas); returns (strings, n_bad)."""
    out, bad = [], 0
    for f in formulas:
        s = _fast_scope(f)
        if s is None:
            try:
                s = scope_for_formula(f)
            except Exception:  # any unparsable or non-integer formula is skipped and counted
                bad += 1
                continue
        out.append(s)
    return out, bad


def oqmd_formulas(crabnet_data: Path) -> list[str]:
    """Unique formulas of crabnet's OQMD sets (formula column only)."""
    seen: set[str] = set()
    for d in sorted((crabnet_data / "benchmark_data").glob("OQMD_*")):
        for part in ("train", "val", "test"):
            f = d / f"{part}.csv"
            if f.is_file():
                seen.update(pd.read_csv(f, usecols=["formula"])["formula"].astype(str))
    return sorted(seen)


def pool_scopes(pool_files: Iterable[Path], limit: int | None = None) -> tuple[list[str], int]:
    """SCOPE strings of the structures in candidate-pool Parquet files (rejects counted, not raised)."""
    from pymatgen.core import Structure

    from cloud_core.scope import encode_many

    structures, n_bad = [], 0
    for f in pool_files:
        table = pq.read_table(f, columns=["structure_json"])
        for js in table.column("structure_json").to_pylist():
            if js is None:
                continue
            try:
                structures.append(Structure.from_str(js, fmt="json"))
            except Exception:  # a broken stored structure is skipped and counted
                n_bad += 1
            if limit and len(structures) >= limit:
                break
    done, rejects = encode_many(structures)
    return [rec.to_string() for _, rec in done], n_bad + len(rejects)


def corpus_scopes(folder: Path) -> list[str]:
    """``scope`` column of every Parquet file under ``folder`` (files without one are skipped)."""
    out: list[str] = []
    for f in sorted(folder.rglob("*.parquet")):
        if "scope" in pq.read_schema(f).names:
            out.extend(s for s in pq.read_table(f, columns=["scope"]).column("scope").to_pylist() if s)
    return out


def build_pretrain_corpus(
    tables: Mapping[Task, pd.DataFrame],
    out: str | os.PathLike[str],
    *,
    crabnet_data: Path | None = None,
    corpora_dir: Path | None = None,
    pool_files: Iterable[Path] = (),
    seed: int = 0,
    row_group_size: int = 4096,
) -> dict:
    """Assemble, de-duplicate, leak-filter, shuffle and write the corpus as ``out`` (Parquet, column ``scope``).

    Returns a summary dict (rows per source, dropped for leakage, total) for metrics files.
    """
    sources: dict[str, list[str]] = {}
    summary: dict = {"sources": {}}
    sources["label_formulas"] = sorted({s for df in tables.values() for s in df["scope"]})
    if crabnet_data is not None and (crabnet_data / "benchmark_data").is_dir():
        scopes, bad = formulas_to_scopes(oqmd_formulas(crabnet_data))
        sources["oqmd_formulas"] = scopes
        summary["sources"]["oqmd_formulas_unparsable"] = bad
    if corpora_dir is not None and corpora_dir.is_dir():
        sources["corpora"] = corpus_scopes(corpora_dir)
    pool_files = list(pool_files)
    if pool_files:
        scopes, bad = pool_scopes(pool_files)
        sources["pools"] = scopes
        summary["sources"]["pools_rejected"] = bad
    keys = all_fold_test_keys(tables)
    all_scopes: list[str] = []
    seen: set[str] = set()
    for name, scopes in sources.items():
        uniq = [s for s in dict.fromkeys(scopes) if s not in seen]
        mask, bad = drop_keys_from_scopes(uniq, keys)
        kept = [s for s, m in zip(uniq, mask, strict=True) if m]
        seen.update(uniq)
        all_scopes.extend(kept)
        summary["sources"][name] = {
            "unique": len(uniq),
            "kept": len(kept),
            "dropped_test_compositions": len(uniq) - len(kept) - bad,
            "unparsable": bad,
        }
        log.info("%s: %d unique, %d kept", name, len(uniq), len(kept))
    if not all_scopes:
        raise ValueError("the pre-training corpus is empty")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(all_scopes))
    table = pa.table({"scope": pa.array([all_scopes[i] for i in order], pa.string())})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(table, tmp, row_group_size=row_group_size, compression="zstd")
    os.replace(tmp, out)
    summary["rows"] = len(all_scopes)
    summary["n_test_keys_removed"] = len(keys)
    summary["structural_fraction"] = float(np.mean([not s.startswith("?") for s in all_scopes]))
    return summary
