"""Read-only SQL on a results store for people (``cloud query``): one SELECT, the store's files only, streamed.

What holds, and what makes it hold:

- **Nothing is written or changed.** The SQL must be exactly one statement of type ``SELECT``, as DuckDB's own
  parser says (``extract_statements``) before anything runs; the checked statement object is the one run.
  ``COPY``, ``EXPORT``, ``ATTACH``, ``SET``/``RESET``, ``PRAGMA``, ``INSTALL``/``LOAD``, ``CALL``, DDL, ``EXPLAIN``
  and several statements at once are refused. This check is what stops writes: ``allowed_directories`` below
  admits writes (``COPY ... TO``) as well as reads.
- **No file outside the store is read.** ``allowed_directories`` is the store's ``parts/`` and ``campaigns/``
  folders, then ``enable_external_access = false``: no other file, glob, URL or extension, and no scan of
  Python objects. Extensions are neither installed nor autoloaded.
- **Settings stay put.** ``lock_configuration = true`` after set-up, so neither a ``SET`` (already refused) nor a
  table function that changes a setting (``enable_logging``, ``enable_profiling``, ...) undoes any of it.
- **Memory is bounded.** DuckDB's ``memory_limit`` (default :data:`DEFAULT_MEMORY_LIMIT`) caps its buffers;
  what needs more (large sorts, joins, aggregates) spills to a private temporary directory (``mkdtemp``, mode
  0700, capped at :data:`DEFAULT_TEMP_LIMIT`, removed on close), never the store nor the working directory
  (DuckDB's defaults: ``<db>.tmp`` inside the store for a file, ``.tmp`` in the working directory in memory).
  Results come out as Arrow record batches of :data:`BATCH_ROWS` rows, never as one table.

The session is an in-memory DuckDB of its own that attaches the store's view file read-only: its settings and
lock never reach another connection of the same process, and, as for every reader, it never blocks a writer.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pyarrow as pa

from screening.store.layout import StoreLayout
from screening.store.views import connect_readonly, set_store_root

#: DuckDB's memory limit for a query (its buffer pool; what needs more spills to the temporary directory).
DEFAULT_MEMORY_LIMIT = "512MB"

#: The most a query may spill to its temporary directory.
DEFAULT_TEMP_LIMIT = "8GB"

#: Rows per record batch handed to the caller.
BATCH_ROWS = 65_536

_ALLOWED = duckdb.StatementType.SELECT


class QueryRefused(ValueError):
    """The SQL is not one read-only SELECT statement (message: one line, says what was given)."""


class InvalidLimit(ValueError):
    """A memory or temporary-space limit DuckDB does not read as a size."""


def error_line(exc: BaseException) -> str:
    """A DuckDB error as one line: its message and any hint, without the ``LINE 1: ... ^^^`` excerpt."""
    kept = []
    for line in str(exc).splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("LINE ") or set(line) <= {"^", " "}:
            break
        kept.append(line)
    return " ".join(kept) or type(exc).__name__


def select_statement(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.Statement:
    """The one ``SELECT`` statement in ``sql``, parsed by ``con`` (nothing runs).

    Raises
    ------
    QueryRefused
        For empty SQL, several statements, or a statement of another type.
    duckdb.ParserException
        For SQL that does not parse.
    """
    statements = con.extract_statements(sql)
    if not statements:
        raise QueryRefused("empty SQL: give one SELECT statement")
    if len(statements) > 1:
        kinds = ", ".join(s.type.name for s in statements)
        raise QueryRefused(f"give exactly one SELECT statement, got {len(statements)} ({kinds})")
    statement = statements[0]
    if statement.type != _ALLOWED:
        raise QueryRefused(f"only a SELECT statement runs here (read-only), got {statement.type.name}")
    return statement


@contextmanager
def sandboxed_connection(
    layout: StoreLayout,
    *,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    temp_limit: str = DEFAULT_TEMP_LIMIT,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A locked, read-only DuckDB session over the store's views (see the module docstring).

    Raises
    ------
    FileNotFoundError
        When the store has no view file (no campaign ran there).
    InvalidLimit
        When ``memory_limit`` or ``temp_limit`` is not a size DuckDB reads (e.g. ``"512MB"``, ``"2GiB"``).
    """
    connect_readonly(layout).close()  # the view file exists and is of the current layout (rebuilt if old)
    tmp = tempfile.mkdtemp(prefix="cloud-query-")
    con = None
    try:
        con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                                 "autoload_known_extensions": False, "temp_directory": tmp})  # fmt: skip
        for option, name, value in (("memory_limit", "memory limit", memory_limit),
                                    ("max_temp_directory_size", "temporary space limit", temp_limit)):  # fmt: skip
            try:
                con.execute(f"SET {option} = $v", {"v": value})
            except duckdb.Error as exc:
                raise InvalidLimit(f"invalid {name} {value!r}: {error_line(exc)}") from None
        con.execute("ATTACH $db AS store (READ_ONLY)", {"db": str(layout.db_path)})
        con.execute("USE store")
        set_store_root(con, layout)
        allowed = [f"{layout.parts_dir}/", f"{layout.campaigns_dir}/"]
        con.execute("SET allowed_directories = $dirs", {"dirs": allowed})
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        yield con
    finally:
        if con is not None:
            con.close()
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def run_select(
    layout: StoreLayout,
    sql: str,
    params: Sequence[Any] | Mapping[str, Any] | None = None,
    *,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[pa.RecordBatchReader]:
    """Run one read-only ``SELECT`` on the store; yield its rows as a stream of Arrow record batches.

    ``params`` are bound (``$name`` with a mapping, ``?`` with a sequence), never pasted into the SQL. Errors of
    the SQL itself surface as :class:`duckdb.Error` (here, or while reading the stream); a refused statement as
    :class:`QueryRefused`.
    """
    with sandboxed_connection(layout, memory_limit=memory_limit) as con:
        statement = select_statement(con, sql)
        relation = con.sql(statement, params=params or None)
        yield relation.to_arrow_reader(batch_rows)
