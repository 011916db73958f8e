"""Composition-level label sets from the data that the ``crabnet`` 2.0.8 wheel ships, as compact Parquet.

The builder reads the wheel's CSV files (never its code), reduces every formula to an exact integer reduced
formula, writes one Parquet file per task under ``data/labels/`` with the columns

``formula`` (pymatgen reduced formula), ``scope`` (the symmetry-unknown SCOPE string ``? | - | Fe 2 O 3``),
``target`` (float64, unit in :data:`TASKS`) and ``fold`` (int8: ``k`` in 0..4 = in the test set of fold ``k``;
``-1`` = never in a test set, training only),

plus ``manifest.json`` (row counts, units, sha256) and ``PROVENANCE.md``. Rerun it with::

    python -m screening.corpora.labels --source /tmp/crabnet/unz/crabnet/data --out data/labels

Fetch the source first (crabnet declares Python < 3.11, so download its wheel and unzip it; do not install it)::

    pip download --no-deps --python-version 3.10 --only-binary :all: crabnet==2.0.8 -d /tmp/crabnet
    unzip -q /tmp/crabnet/crabnet-2.0.8-py3-none-any.whl -d /tmp/crabnet/unz

Folds. The four Matbench tasks keep the 5 folds that ship in ``matbench_cv/`` (formula-deduplicated by crabnet;
these are *not* the official Matbench folds). The AFLOW and MP-modulus sets ship one train/val/test split only;
each of their formulas gets the fold in which it is a Matbench test formula (elastic tasks first, so that one
formula is tested in one fold wherever possible), otherwise a fold from a hash of the formula. Leakage control
(dropping, per fold, every formula that is in any task's test set) lives in :mod:`screening.evaluation.folds`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

N_FOLDS = 5
LABELS_SCHEMA = pa.schema(
    [
        pa.field("formula", pa.string(), nullable=False),
        pa.field("scope", pa.string(), nullable=False),
        pa.field("target", pa.float64(), nullable=False),
        pa.field("fold", pa.int8(), nullable=False),
    ]
)
CRABNET_VERSION = "2.0.8"
DEFAULT_SOURCE = "/tmp/crabnet/unz/crabnet/data"
CRABNET_LICENSE = "MIT (Copyright (c) 2021 Sterling G. Baird), from the wheel's dist-info/LICENSE"


class Task(StrEnum):
    """The label sets (one Parquet file each, ``<value>.parquet``)."""

    E_FORM = "mp_e_form"
    BAND_GAP = "mp_gap"
    LOG10_K_VRH = "log10_k_vrh"
    LOG10_G_VRH = "log10_g_vrh"
    AFLOW_DEBYE = "aflow_debye_temperature"
    AFLOW_K_VRH = "aflow_bulk_modulus_vrh"
    AFLOW_G_VRH = "aflow_shear_modulus_vrh"
    MP_K = "mp_bulk_modulus"
    AFLOW_KAPPA = "log10_kappa_300K"
    AFLOW_THERMAL_EXPANSION = "thermal_expansion_300K"


@dataclass(frozen=True)
class TaskSpec:
    """Where a task comes from and what its target means."""

    source: str  # folder under the crabnet data dir
    kind: str  # "matbench_cv" (5 shipped folds) or "split" (train/val/test csv)
    unit: str
    description: str
    original: str  # the data set's original provider and license


_MATBENCH = "Matbench v0.1 (Dunn et al., npj Comput. Mater. 2020), from the Materials Project; CC BY 4.0"
_AFLOW = "AFLOW AEL-AGL (Toher et al.), via crabnet's benchmark_data; AFLOW data terms (open, cite)"
_MP = "Materials Project elasticity (de Jong et al., Sci. Data 2015), via crabnet; CC BY 4.0"

TASKS: dict[Task, TaskSpec] = {
    Task.E_FORM: TaskSpec(
        "matbench_cv/mp_e_form", "matbench_cv", "eV/atom", "DFT formation energy", _MATBENCH
    ),
    Task.BAND_GAP: TaskSpec("matbench_cv/mp_gap", "matbench_cv", "eV", "PBE band gap", _MATBENCH),
    Task.LOG10_K_VRH: TaskSpec(
        "matbench_cv/elasticity_log10(K_VRH)",
        "matbench_cv",
        "log10(GPa)",
        "log10 VRH bulk modulus",
        _MATBENCH,
    ),
    Task.LOG10_G_VRH: TaskSpec(
        "matbench_cv/elasticity_log10(G_VRH)",
        "matbench_cv",
        "log10(GPa)",
        "log10 VRH shear modulus",
        _MATBENCH,
    ),
    Task.AFLOW_DEBYE: TaskSpec(
        "benchmark_data/aflow__ael_debye_temperature", "split", "K", "AEL (elastic) Debye temperature", _AFLOW
    ),
    Task.AFLOW_K_VRH: TaskSpec(
        "benchmark_data/aflow__ael_bulk_modulus_vrh", "split", "GPa", "AEL VRH bulk modulus", _AFLOW
    ),
    Task.AFLOW_G_VRH: TaskSpec(
        "benchmark_data/aflow__ael_shear_modulus_vrh", "split", "GPa", "AEL VRH shear modulus", _AFLOW
    ),
    Task.MP_K: TaskSpec("benchmark_data/mp_bulk_modulus", "split", "GPa", "VRH bulk modulus", _MP),
    Task.AFLOW_KAPPA: TaskSpec(
        "benchmark_data/aflow__agl_thermal_conductivity_300K",
        "split",
        "log10(W/(m K))",
        "log10 AGL lattice thermal conductivity at 300 K",
        _AFLOW,
    ),
    Task.AFLOW_THERMAL_EXPANSION: TaskSpec(
        "benchmark_data/aflow__agl_thermal_expansion_300K",
        "split",
        "1e-6/K",
        "AGL volumetric thermal expansion coefficient at 300 K",
        _AFLOW,
    ),
}

#: Tasks whose label is the MINIMUM over a formula's entries (its ground state), not the mean over polymorphs:
#: a formula's formation energy is that of its most stable polymorph (elements at ~0 eV/atom), which is what a
#: convex hull of known phases is built from (``screening.hull`` reads this same table).
MIN_OVER_POLYMORPHS: frozenset[Task] = frozenset({Task.E_FORM})

#: Source value -> label value for tasks stored in other units than their source (thermal conductivity as
#: log10; thermal expansion in 1e-6/K). Applied after rows with non-positive values are dropped.
_TRANSFORMS = {
    Task.AFLOW_KAPPA: np.log10,
    Task.AFLOW_THERMAL_EXPANSION: lambda v: v * 1e6,
}

# order in which a "split" task's formula inherits a Matbench test fold
_FOLD_DONORS = (Task.LOG10_K_VRH, Task.LOG10_G_VRH, Task.E_FORM, Task.BAND_GAP)


class LabelsError(RuntimeError):
    """The label sets are missing, incomplete or malformed."""


# ---------------------------------------------------------------------------------------------- formulas


@cache
def _electronegativity_key(symbol: str) -> tuple[int, float, int]:
    from pymatgen.core import Element

    el = Element(symbol)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = el.X
    if x is None or not math.isfinite(x):
        return (1, 0.0, el.Z)
    return (0, float(x), el.Z)


def integer_stoichiometry(formula: str) -> tuple[tuple[str, int], ...]:
    """Exact reduced integer stoichiometry of ``formula``, in SCOPE element order.

    Element order is (Pauling electronegativity, Z) ascending, elements without one last by Z.

    Raises
    ------
    ValueError
        If the formula does not parse, is empty, or has amounts that are not integers (within 1e-6).
    """
    from pymatgen.core import Composition

    try:
        comp = Composition(formula)
    except Exception as exc:  # pymatgen raises several types for bad formulas
        raise ValueError(f"cannot parse formula {formula!r}: {exc}") from exc
    items = [(el.symbol, amt) for el, amt in comp.items() if amt > 0]
    if not items:
        raise ValueError(f"empty formula {formula!r}")
    counts: dict[str, int] = {}
    for sym, amt in items:
        n = round(amt)
        if abs(amt - n) > 1e-6 or n <= 0:
            raise ValueError(f"non-integer amount {amt} of {sym} in {formula!r}")
        counts[sym] = counts.get(sym, 0) + n
    g = math.gcd(*counts.values())
    return tuple(sorted(((s, n // g) for s, n in counts.items()), key=lambda t: _electronegativity_key(t[0])))


@cache
def reduced_formula(formula: str) -> str:
    """pymatgen's reduced formula (``Fe2O3``) of an integer formula; raises ``ValueError`` otherwise."""
    from pymatgen.core import Composition

    integer_stoichiometry(formula)
    return Composition(formula).reduced_formula


def _scope_unknown_local(formula: str) -> str:
    """SCOPE string with unknown symmetry, written by the shared grammar (``? | - | Fe 2 O 3``)."""
    toks = ["?", "|", "-", "|"]
    for sym, n in integer_stoichiometry(formula):
        toks.append(sym)
        toks.extend(str(n))
    return " ".join(toks)


@cache
def _encode_formula():
    """``cloud_core.scope.encode_formula`` if importable, else ``None`` (looked up once)."""
    try:
        from cloud_core.scope import encode_formula  # type: ignore[attr-defined]
    except ImportError:
        return None
    return encode_formula


def scope_for_formula(formula: str) -> str:
    """The symmetry-unknown SCOPE string of ``formula``.

    Uses ``cloud_core.scope.encode_formula`` when that package provides it, else the local writer of the same
    grammar. Either way the formula must be an exact integer formula (``ValueError`` otherwise).
    """
    encode = _encode_formula()
    if encode is None:
        return _scope_unknown_local(formula)
    integer_stoichiometry(formula)
    return encode(formula).to_string()


def _require_valid_scopes(scopes: list[str], where: str) -> None:
    """Validated on write: the builder fails on an invalid string (needs :mod:`cloud_core.scope`, when present)."""
    try:
        from cloud_core.scope.validate import require_valid_scopes
    except ImportError:
        return
    require_valid_scopes(scopes, where)


def scope_backend() -> str:
    """Which writer :func:`scope_for_formula` uses (recorded in the manifest)."""
    if _encode_formula() is None:
        return "screening.corpora.labels (local writer of the SCOPE grammar)"
    return "cloud_core.scope.encode_formula"


def hash_fold(formula: str, n_folds: int = N_FOLDS) -> int:
    """A fold in ``0..n_folds-1`` from the sha256 of the formula (stable across runs and machines)."""
    return int.from_bytes(hashlib.sha256(formula.encode()).digest()[:8], "big") % n_folds


# ---------------------------------------------------------------------------------------------- reading


def find_crabnet_data(source: str | os.PathLike[str] | None = None) -> Path:
    """Locate the crabnet ``data`` folder (with ``matbench_cv/`` and ``benchmark_data/``).

    Looks at ``source``, then ``$CLOUD_CRABNET_DATA``, then ``/tmp/crabnet/unz/crabnet/data``.
    """
    candidates = [source, os.environ.get("CLOUD_CRABNET_DATA"), DEFAULT_SOURCE]
    for c in candidates:
        if c and (Path(c) / "matbench_cv").is_dir() and (Path(c) / "benchmark_data").is_dir():
            return Path(c)
    raise LabelsError(
        "crabnet's data folder not found (tried --source, $CLOUD_CRABNET_DATA, /tmp/crabnet/unz/crabnet/data). "
        f"Fetch it with: pip download --no-deps --python-version 3.10 --only-binary :all: "
        f"crabnet=={CRABNET_VERSION} -d /tmp/crabnet && unzip -q /tmp/crabnet/crabnet-{CRABNET_VERSION}-"
        "py3-none-any.whl -d /tmp/crabnet/unz"
    )


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise LabelsError(f"missing source file {path}")
    df = pd.read_csv(path)
    if list(df.columns[:2]) != ["formula", "target"]:
        raise LabelsError(f"{path}: expected columns formula,target, got {list(df.columns)}")
    return df[["formula", "target"]]


@dataclass
class _Counts:
    read: int = 0
    non_integer: int = 0
    unparsable: int = 0
    non_finite: int = 0
    non_positive: int = 0
    duplicates_merged: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _reduce(df: pd.DataFrame, counts: _Counts) -> pd.DataFrame:
    """Add column ``formula`` reduced; drop rows that cannot be exact integer formulas or finite targets."""
    keep, red = [], []
    for f in df["formula"].astype(str):
        try:
            red.append(reduced_formula(f))
            keep.append(True)
        except ValueError as exc:
            if "non-integer" in str(exc):
                counts.non_integer += 1
            else:
                counts.unparsable += 1
            red.append("")
            keep.append(False)
    out = df.assign(formula=red)[keep]
    finite = np.isfinite(out["target"].to_numpy(dtype=float))
    counts.non_finite += int((~finite).sum())
    return out[finite]


def _build_matbench(src: Path, counts: _Counts, *, aggregate: str = "mean") -> pd.DataFrame:
    """Crabnet's 5 shipped folds of one Matbench task.

    ``aggregate="min"``: every formula's label is the minimum over all of its entries in ``matbench/<task>.csv``
    (test formulas included), i.e. its ground-state polymorph; ``"mean"``: a test formula keeps its test-file
    value and a training-only formula gets the mean over its entries.
    """
    tests = []
    for k in range(N_FOLDS):
        df = _read_csv(src / f"test{k}.csv")
        counts.read += len(df)
        tests.append(_reduce(df, counts).assign(fold=k))
    test = pd.concat(tests, ignore_index=True)
    dup = test["formula"].duplicated(keep=False)
    if dup.any():  # not seen in crabnet 2.0.8: each formula is in at most one test file
        counts.duplicates_merged += int(dup.sum())
        test = test.groupby("formula", as_index=False).agg(target=("target", "mean"), fold=("fold", "min"))
    trains = []
    for k in range(N_FOLDS):
        for part in ("train", "val"):
            df = _read_csv(src / f"{part}{k}.csv")
            counts.read += len(df)
            trains.append(_reduce(df, counts))
    train = pd.concat(trains, ignore_index=True)
    only_formulas = set(train["formula"]) - set(test["formula"])
    # A training-only formula (its polymorphs fall in several folds, so crabnet dropped it from every test
    # file) carries a different per-fold value in each training file; its label is the mean over all of its
    # Matbench entries (polymorphs) in the full data set instead.
    full = _read_csv(src.parent.parent / "matbench" / f"{src.name}.csv")
    counts.read += len(full)
    full = _reduce(full, _Counts())
    per_formula = full.groupby("formula")["target"].agg(aggregate)
    missing = only_formulas - set(per_formula.index)
    if missing:
        raise LabelsError(f"{src}: {len(missing)} training formulas missing from matbench/")
    only = pd.DataFrame({"formula": sorted(only_formulas)})
    only = only.assign(target=per_formula.loc[only["formula"]].to_numpy(), fold=-1)
    if aggregate != "mean":
        missing = set(test["formula"]) - set(per_formula.index)
        if missing:
            raise LabelsError(f"{src}: {len(missing)} test formulas missing from matbench/")
        test = test.assign(target=per_formula.loc[test["formula"]].to_numpy())
    return pd.concat([test, only], ignore_index=True)


def _build_split(src: Path, counts: _Counts, donors: dict[str, int]) -> pd.DataFrame:
    parts = []
    for part in ("train", "val", "test"):
        df = _read_csv(src / f"{part}.csv")
        counts.read += len(df)
        parts.append(_reduce(df, counts))
    df = pd.concat(parts, ignore_index=True)
    n0 = len(df)
    df = df.groupby("formula", as_index=False)["target"].mean()
    counts.duplicates_merged += n0 - len(df)
    folds = [donors.get(f, hash_fold(f)) for f in df["formula"]]
    return df.assign(fold=folds)


def build_task_frames(source: str | os.PathLike[str] | None = None) -> tuple[dict[Task, pd.DataFrame], dict]:
    """Read every task from the crabnet data folder.

    Returns
    -------
    frames
        Task -> DataFrame with columns formula, scope, target, fold (sorted by formula).
    counts
        Task -> dict of rows read and rows dropped per reason.
    """
    root = find_crabnet_data(source)
    frames: dict[Task, pd.DataFrame] = {}
    counts: dict[str, dict[str, int]] = {}
    for task in _FOLD_DONORS:
        c = _Counts()
        log.info("reading %s", task)
        agg = "min" if task in MIN_OVER_POLYMORPHS else "mean"
        frames[task] = _build_matbench(root / TASKS[task].source, c, aggregate=agg)
        counts[task.value] = c.as_dict()
    donors: dict[str, int] = {}
    for task in reversed(_FOLD_DONORS):  # earlier donors overwrite later ones
        t = frames[task]
        t = t[t["fold"] >= 0]
        donors.update(zip(t["formula"], t["fold"].astype(int), strict=True))
    for task, spec in TASKS.items():
        if spec.kind != "split":
            continue
        c = _Counts()
        log.info("reading %s", task)
        df = _build_split(root / spec.source, c, donors)
        if spec.unit in ("K", "GPa") or task in _TRANSFORMS:  # moduli, temperatures, kappa, alpha: > 0
            pos = df["target"] > 0
            c.non_positive += int((~pos).sum())
            df = df[pos]
        if task in _TRANSFORMS:
            df = df.assign(target=_TRANSFORMS[task](df["target"].to_numpy(dtype=float)))
        frames[task] = df
        counts[task.value] = c.as_dict()
    for task, df in frames.items():
        df = df.sort_values("formula", ignore_index=True)
        df["scope"] = [scope_for_formula(f) for f in df["formula"]]
        _require_valid_scopes(df["scope"].tolist(), f"label table {task.value}")
        df["fold"] = df["fold"].astype("int8")
        frames[task] = df[["formula", "scope", "target", "fold"]]
    return {t: frames[t] for t in TASKS}, counts


# ---------------------------------------------------------------------------------------------- writing


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_atomic_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_labels(frames: dict[Task, pd.DataFrame], counts: dict, out: str | os.PathLike[str]) -> dict:
    """Write one Parquet per task, ``manifest.json`` and ``PROVENANCE.md`` (each file atomically)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict = {
        "source": f"crabnet=={CRABNET_VERSION} wheel, crabnet/data/",
        "schema": {f.name: str(f.type) for f in LABELS_SCHEMA},
        "scope_writer": scope_backend(),
        "n_folds": N_FOLDS,
        "tasks": {},
    }
    for task, df in frames.items():
        path = out / f"{task.value}.parquet"
        tmp = path.with_name(path.name + ".tmp")
        table = pa.Table.from_pandas(df, schema=LABELS_SCHEMA, preserve_index=False)
        pq.write_table(table, tmp, compression="zstd", compression_level=9)
        os.replace(tmp, path)
        spec = TASKS[task]
        fold_counts = df["fold"].value_counts().sort_index()
        manifest["tasks"][task.value] = {
            "file": path.name,
            "sha256": _sha256(path),
            "bytes": path.stat().st_size,
            "rows": len(df),
            "rows_per_fold": {str(int(k)): int(v) for k, v in fold_counts.items()},
            "unit": spec.unit,
            "description": spec.description,
            "source": f"crabnet/data/{spec.source}",
            "split_kind": spec.kind,
            "original": spec.original,
            "target_stats": {
                "mean": float(df["target"].mean()),
                "std": float(df["target"].std()),
                "min": float(df["target"].min()),
                "max": float(df["target"].max()),
            },
            "counts": counts.get(task.value, {}),
        }
    _write_atomic_bytes(out / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
    _write_atomic_bytes(out / "PROVENANCE.md", provenance_markdown(manifest).encode())
    return manifest


def provenance_markdown(manifest: dict) -> str:
    """PROVENANCE.md text from a manifest (written by the builder, never by hand)."""
    lines = [
        "# Label sets: provenance",
        "",
        "Written by `python -m screening.corpora.labels` (do not edit by hand).",
        "",
        f"Source: the `crabnet` {CRABNET_VERSION} wheel's `crabnet/data/` CSVs (formula, target), fetched with",
        f"`pip download --no-deps --python-version 3.10 --only-binary :all: crabnet=={CRABNET_VERSION}`.",
        f"Packaging license: {CRABNET_LICENSE}. The underlying data keep their providers' terms (column",
        "'original' below); cite the original papers.",
        "",
        "Columns: `formula` (pymatgen reduced formula), `scope` (symmetry-unknown SCOPE string),",
        "`target` (float64, unit below), `fold` (k = in the test set of fold k; -1 = training only).",
        f"SCOPE writer: {manifest['scope_writer']}.",
        "",
        "Matbench tasks keep crabnet's 5 formula-deduplicated folds (`matbench_cv/`, not the official Matbench",
        "folds). Formation energy (`mp_e_form`): every formula's label is the MINIMUM over its entries in",
        "`matbench/mp_e_form.csv` (its ground-state polymorph; elements at ~0 eV/atom): the same table the",
        "reference hull (`screening.hull`) is built from. Other Matbench tasks: a test formula keeps its test-file",
        "value; a training-only formula (fold -1: its polymorphs fall in several folds, so crabnet dropped it from",
        "every test file) gets the mean over its entries in `matbench/<task>.csv`. Thermal conductivity is stored",
        "as log10 (W/(m K)), thermal expansion in 1e-6/K. AFLOW and MP-modulus formulas inherit the fold where they are a Matbench test formula (log K,",
        "log G, e_form, gap, in that order), else a fold from the formula's sha256. Rows whose formula is not an",
        "exact integer formula are dropped (exact stoichiometry only); duplicate formulas are averaged.",
        "Leakage control is applied when tables are read for training (`screening.evaluation.folds`).",
        "",
        "| file | rows | unit | source | dropped (non-integer / unparsable / non-finite / <= 0) | merged dups"
        " | bytes | original |",
        "|---|---:|---|---|---|---:|---:|---|",
    ]
    for t in manifest["tasks"].values():
        c = t["counts"]
        lines.append(
            f"| {t['file']} | {t['rows']:,} | {t['unit']} | `{t['source']}` | {c.get('non_integer', 0)} / "
            f"{c.get('unparsable', 0)} / {c.get('non_finite', 0)} / {c.get('non_positive', 0)} | "
            f"{c.get('duplicates_merged', 0)} | {t['bytes']:,} | {t['original']} |"
        )
    lines += ["", "Rows per fold (k = test rows of fold k, -1 = training only):", ""]
    for name, t in manifest["tasks"].items():
        per = ", ".join(f"{k}: {v:,}" for k, v in t["rows_per_fold"].items())
        lines.append(f"- `{name}`: {per}")
    lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- loading


def default_labels_dir() -> Path:
    """``<data_dir>/labels`` from the settings (``CLOUD_DATA_DIR``), i.e. ``data/labels`` in the repo."""
    from screening.settings import get_settings

    return Path(get_settings().data_dir) / "labels"


def load_labels(task: Task | str, root: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Read one task's label table (columns formula, scope, target, fold).

    Raises
    ------
    LabelsError
        If the task is unknown, the file is missing or its schema is wrong.
    """
    try:
        task = Task(task)
    except ValueError as exc:
        raise LabelsError(f"unknown task {task!r}; known: {[t.value for t in Task]}") from exc
    path = Path(root) if root is not None else default_labels_dir()
    path = path / f"{task.value}.parquet"
    if not path.is_file():
        raise LabelsError(f"label file {path} is missing; build it with `python -m screening.corpora.labels`")
    table = pq.read_table(path)
    if not table.schema.equals(LABELS_SCHEMA, check_metadata=False):
        raise LabelsError(f"{path}: schema {table.schema} differs from {LABELS_SCHEMA}")
    return table.to_pandas()


def load_all(root: str | os.PathLike[str] | None = None, tasks: Iterable[Task | str] | None = None):
    """All (or the named) tasks' tables, as ``{Task: DataFrame}``."""
    return {Task(t): load_labels(t, root) for t in (tasks if tasks is not None else Task)}


def main(argv: list[str] | None = None) -> int:
    """Command line: build the label sets."""
    p = argparse.ArgumentParser(prog="python -m screening.corpora.labels", description=__doc__.split("\n")[0])
    p.add_argument("--source", default=None, help="crabnet data folder (default: search, see docs)")
    p.add_argument("--out", default=None, help="output folder (default: <data_dir>/labels)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        frames, counts = build_task_frames(args.source)
    except LabelsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else default_labels_dir()
    manifest = write_labels(frames, counts, out)
    for name, t in manifest["tasks"].items():
        print(f"{name:28s} {t['rows']:>8,} rows  {t['bytes']:>10,} bytes  {t['unit']}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
