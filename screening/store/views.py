"""The DuckDB file of a store: views over the Parquet globs, and nothing else.

The file is built once, under a temporary name, and renamed into place; no process ever holds it open for
writing afterwards, so any number of readers can open it read-only while campaigns write Parquet parts.
It is rebuilt (atomically again) only when the layout version changed.

The views name paths relative to the store's root, held in the session variable ``cloud_store_root``
(``read_parquet(getvariable('cloud_store_root') || '/parts/*/chunk-*/predictions.parquet')``), and every
connection opened here sets that variable to the store's current root: a copied or moved store answers with its
own rows, whatever the working directory. Alternatives measured or tried (``bench/store_query_bench.py``):

- an in-memory database whose views are created at connect time: each ``CREATE VIEW`` binds its query (a glob
  and a schema read of every part), so a connect costs seconds on a store of thousands of chunks, against
  milliseconds for opening this file;
- relative paths resolved through DuckDB's ``file_search_path``: as fast, but DuckDB checks a relative path
  against ``allowed_directories`` before resolving it, so the sandbox of
  :mod:`screening.store.readonly_query` refused the views' own files; and a path not found there is looked up
  in the working directory.

Opened by hand (``duckdb -readonly cloud.duckdb``) without the variable, the views read from the working
directory: ``cd`` into the store first, or run ``SET VARIABLE cloud_store_root = '<store>'``.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb

from screening.store.atomic import atomic_parquet
from screening.store.layout import CHUNK_TABLES, LAYOUT_VERSION, SEED, StoreLayout
from screening.store.schemas import CAMPAIGNS, TABLE_SCHEMAS

#: Views a store's DuckDB file defines.
VIEWS: tuple[str, ...] = (
    "campaigns",
    "candidates",
    "predictions",
    "debye_curves",
    "rejects",
    "chunks",
    "store_info",
)


def _sql_str(value: str) -> str:
    """Quote a string literal for DDL (view definitions cannot take bound parameters); paths only."""
    return "'" + value.replace("'", "''") + "'"


#: The session variable that holds the store's root for the views (set by :func:`set_store_root`).
ROOT_VARIABLE = "cloud_store_root"


def _parquet(glob: str) -> str:
    """``read_parquet`` of ``glob``, a path relative to the store's root."""
    path = f"coalesce(getvariable('{ROOT_VARIABLE}'), '.') || '/' || {_sql_str(glob)}"
    return f"read_parquet({path}, union_by_name = true, filename = false)"


def view_ddl(layout: StoreLayout) -> list[str]:
    """The ``CREATE VIEW`` statements of a store (paths relative to its root: see :func:`set_store_root`)."""
    ddl = [
        f"CREATE OR REPLACE VIEW {t} AS SELECT * FROM {_parquet(layout.table_glob(t))}" for t in CHUNK_TABLES
    ]
    ddl.append(
        f"""CREATE OR REPLACE VIEW campaigns AS
        WITH c AS (SELECT * FROM {_parquet(layout.campaigns_glob())}),
             done AS (SELECT campaign_id, count(*) AS n_chunks_done, sum(n_candidates) AS n_candidates_done,
                             sum(n_ok) AS n_ok, sum(n_rejected) AS n_rejected, max(created_at) AS last_write
                      FROM chunks GROUP BY campaign_id)
        SELECT c.*, coalesce(done.n_chunks_done, 0) AS n_chunks_done,
               coalesce(done.n_candidates_done, 0) AS n_candidates_done,
               coalesce(done.n_ok, 0) AS n_ok, coalesce(done.n_rejected, 0) AS n_rejected, done.last_write,
               CASE WHEN coalesce(done.n_chunks_done, 0) = c.n_chunks THEN 'complete' ELSE 'partial' END AS status
        FROM c LEFT JOIN done USING (campaign_id)"""
    )
    ddl.append(
        f"CREATE OR REPLACE VIEW store_info AS SELECT getvariable('{ROOT_VARIABLE}') AS root, "
        f"{LAYOUT_VERSION} AS layout_version"
    )
    return ddl


def set_store_root(con: duckdb.DuckDBPyConnection, layout: StoreLayout) -> duckdb.DuckDBPyConnection:
    """Point the views of ``con`` (a session of its own) at the store rooted at ``layout.root``."""
    con.execute(f"SET VARIABLE {ROOT_VARIABLE} = $root", {"root": str(layout.root)})
    return con


def write_seeds(layout: StoreLayout) -> None:
    """Write the zero-row seed files that give every view its base schema even before any campaign ran."""
    seed_chunk = layout.parts_dir / SEED / "chunk-seed"
    for table, schema in TABLE_SCHEMAS.items():
        path = seed_chunk / f"{table}.parquet"
        if not path.exists():
            atomic_parquet(schema.empty_table(), path)
    path = layout.campaigns_dir / SEED / "campaign.parquet"
    if not path.exists():
        atomic_parquet(CAMPAIGNS.empty_table(), path)


def _layout_version(con: duckdb.DuckDBPyConnection) -> int | None:
    try:
        rows = con.execute("SELECT layout_version FROM store_info").fetchall()
    except duckdb.Error:
        return None
    return rows[0][0] if rows else None


def _db_is_current(layout: StoreLayout) -> bool:
    if not layout.db_path.exists():
        return False
    try:
        with duckdb.connect(str(layout.db_path), read_only=True) as con:
            return _layout_version(con) == LAYOUT_VERSION
    except duckdb.Error:
        return False


def ensure_views(layout: StoreLayout) -> Path:
    """Create the store's directories, seeds and DuckDB view file if missing or stale; return the file's path."""
    layout.root.mkdir(parents=True, exist_ok=True)
    write_seeds(layout)
    if _db_is_current(layout):
        return layout.db_path
    tmp = layout.root / f".{layout.db_path.name}.tmp-{uuid.uuid4().hex[:12]}"
    try:
        with duckdb.connect(str(tmp)) as con:
            set_store_root(con, layout)  # creating a view binds it: its globs must resolve now
            for stmt in view_ddl(layout):
                con.execute(stmt)
            con.execute("CHECKPOINT")
        os.replace(tmp, layout.db_path)
    finally:
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
    return layout.db_path


def connect_readonly(layout: StoreLayout) -> duckdb.DuckDBPyConnection:
    """Open the store's DuckDB file read-only (never blocks, and never blocks a writer), its views resolving
    against the store wherever it now is.

    A file of an older layout (absolute paths) is rebuilt first, atomically, as :func:`ensure_views` does; where
    the store is not writable the old file is used as it is.

    Raises
    ------
    FileNotFoundError
        When the store has no DuckDB file yet (no campaign ever ran there).
    """
    if not layout.db_path.exists():
        raise FileNotFoundError(
            f"no results store at {layout.root} (missing {layout.db_path.name}); run a campaign first "
            "(`cloud main` or `cloud screen`) or point --results at an existing store"
        )
    con = set_store_root(duckdb.connect(str(layout.db_path), read_only=True), layout)
    if _layout_version(con) == LAYOUT_VERSION:
        return con
    con.close()
    try:
        ensure_views(layout)
    except OSError:
        pass
    return set_store_root(duckdb.connect(str(layout.db_path), read_only=True), layout)
