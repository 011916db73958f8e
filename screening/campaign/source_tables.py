"""Read a campaign's source as Arrow tables with :data:`~screening.sources.candidate.CANDIDATE_SCHEMA`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cloud_core.rejects import Reject
from screening.campaign.spec import SourceSpec
from screening.sources.candidate import (
    BASE_CANDIDATE_SCHEMA,
    CANDIDATE_SCHEMA,
    candidates_to_table,
    with_scope_columns,
)

#: Key of ``meta_json`` that carries why a source could not read an item (see :func:`_read_rejects_table`).
READ_REJECT_KEY = "read_reject"
FILES_SOURCE = "files"

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
        from screening.sources.materials_project import download_fingerprint

        fp = download_fingerprint(source.path)
        return f"mp:{source.path} (db_version {fp['db_version']}, {fp['rows']} materials)"
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


def _read_rejects_table(rejects: list[Reject]) -> pa.Table:
    """Items a source could not read, as candidate rows without a structure: the encode step turns each into
    a reject with the source's reason (stage ``read``), so every item of the source is accounted for."""
    metas = [json.dumps({READ_REJECT_KEY: {"reason": str(r.reason), "message": r.message}}) for r in rejects]
    n = len(rejects)
    columns: list[list] = [[r.id for r in rejects], [FILES_SOURCE] * n, [None] * n, [None] * n, metas]
    columns += [[None] * n for _ in CANDIDATE_SCHEMA.names[len(columns) :]]  # no stored SCOPE string
    return pa.table(columns, schema=CANDIDATE_SCHEMA)


def _generated(source: SourceSpec, batch_rows: int) -> Iterator[pa.Table]:
    """Candidates of the file, Materials Project and generator sources (modules imported only when used)."""
    if source.kind == "files":
        from screening.sources.files import FileSource, resolve_paths

        for cands, rejects in FileSource(resolve_paths(source.path), batch_size=batch_rows).batches():
            if cands:
                yield candidates_to_table(cands)
            if rejects:
                yield _read_rejects_table(rejects)
    elif source.kind == "mp":
        from screening.sources.materials_project import iter_candidate_tables

        yield from iter_candidate_tables(source.path)
    elif source.kind == "prototypes":
        from screening.sources.prototype_pool import prototype_pool

        for batch in prototype_pool(source.size, source.seed):
            yield candidates_to_table(batch)
    elif source.kind == "pyxtal":
        from screening.sources.pyxtal_pool import pyxtal_pool

        for batch in pyxtal_pool(source.size, source.seed):
            yield candidates_to_table(batch)
    else:  # pragma: no cover - pydantic restricts kind
        raise ValueError(f"unknown source kind {source.kind!r}")


def iter_source_tables(source: SourceSpec, batch_rows: int = 10_000) -> Iterator[pa.Table]:
    """Yield the source's candidates as tables (``limit`` applied)."""
    if source.kind == "pool":
        yield from _read_pool(source, batch_rows)
        return
    left = source.limit
    for table in _generated(source, batch_rows):
        missing = [f for f in CANDIDATE_SCHEMA if f.name not in table.column_names]
        for field in missing:  # sources that store no SCOPE string (files, mp shards): null columns
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
        table = table.select(CANDIDATE_SCHEMA.names)
        if left is not None:
            table = table.slice(0, left)
            left -= table.num_rows
        if table.num_rows:
            yield table
        if left is not None and left <= 0:
            return
