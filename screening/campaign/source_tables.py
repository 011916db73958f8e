"""Read a campaign's source as Arrow tables with :data:`~screening.sources.candidate.CANDIDATE_SCHEMA`."""

from __future__ import annotations

import glob
import importlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from screening.campaign.spec import SourceSpec
from screening.sources.candidate import (
    BASE_CANDIDATE_SCHEMA,
    CANDIDATE_SCHEMA,
    candidates_to_table,
    with_scope_columns,
)

#: The bundled pool, relative to ``settings.data_dir``.
BUNDLED_POOL = Path("pools") / "prototype_pool_v1.parquet"


def default_pool_path() -> Path:
    """The bundled candidate pool shipped with the project."""
    from screening.settings import get_settings

    return Path(get_settings().data_dir) / BUNDLED_POOL


def describe_source(source: SourceSpec) -> str:
    """A short human-readable description (stored on the campaign row)."""
    if source.kind == "pool":
        return f"pool:{source.path or default_pool_path()}[{source.offset}:{'' if source.limit is None else source.offset + source.limit}]"
    if source.kind == "files":
        return f"files:{source.path}"
    if source.kind == "mp":
        return f"mp:{source.query}"
    return f"{source.kind}:size={source.size},seed={source.seed}"


def _read_pool(source: SourceSpec, batch_rows: int) -> Iterator[pa.Table]:
    path = Path(source.path) if source.path else default_pool_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"candidate pool {path} not found"
            + (" (the bundled pool ships with the project under data/pools/)" if not source.path else "")
        )
    pf = pq.ParquetFile(path)
    missing = [n for n in BASE_CANDIDATE_SCHEMA.names if n not in pf.schema_arrow.names]
    if missing:
        raise ValueError(f"{path} is not a candidate pool: it lacks the columns {missing}")
    columns = [n for n in CANDIDATE_SCHEMA.names if n in pf.schema_arrow.names]  # stored SCOPE: optional
    skip, left = source.offset, source.limit
    for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
        table = with_scope_columns(pa.Table.from_batches([batch]))
        if skip:
            if skip >= table.num_rows:
                skip -= table.num_rows
                continue
            table, skip = table.slice(skip), 0
        if left is not None:
            table = table.slice(0, left)
            left -= table.num_rows
        if table.num_rows:
            yield table
        if left is not None and left <= 0:
            return


def _generated(source: SourceSpec) -> Iterator[list]:
    """Candidates from the generator sources (their modules are imported only when used)."""
    if source.kind == "files":
        mod = importlib.import_module("screening.sources.files")
        paths = sorted(glob.glob(source.path)) if any(c in source.path for c in "*?[") else [source.path]
        yield from mod.file_candidates(paths)
    elif source.kind == "mp":
        mod = importlib.import_module("screening.sources.materials_project")
        yield from mod.mp_candidates(**source.query)
    elif source.kind == "prototypes":
        mod = importlib.import_module("screening.sources.prototype_pool")
        yield from mod.prototype_pool(source.size, source.seed)
    elif source.kind == "pyxtal":
        mod = importlib.import_module("screening.sources.pyxtal_pool")
        yield from mod.pyxtal_pool(source.size, source.seed)
    else:  # pragma: no cover - pydantic restricts kind
        raise ValueError(f"unknown source kind {source.kind!r}")


def iter_source_tables(source: SourceSpec, batch_rows: int = 10_000) -> Iterator[pa.Table]:
    """Yield the source's candidates as tables (``limit`` applied)."""
    if source.kind == "pool":
        yield from _read_pool(source, batch_rows)
        return
    left = source.limit
    for batch in _generated(source):
        if left is not None:
            batch = batch[:left]
            left -= len(batch)
        if batch:
            yield candidates_to_table(batch)
        if left is not None and left <= 0:
            return
