"""``cloud query``: one read-only SELECT on the results store, streamed out as a table, CSV or JSON.

The guarantees (one SELECT, the store's files only, settings locked, bounded memory) live in
:mod:`screening.store.readonly_query`; this module parses the options and writes the record batches.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterable
from typing import Any, BinaryIO

import pyarrow as pa

_VIEWS = "campaigns, candidates, predictions, debye_curves, rejects, chunks, store_info"
_CSV_SPECIAL = r'[",\r\n]'


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "query",
        help=f"run one read-only SELECT on the results (views: {_VIEWS})",
        description="Run one read-only SELECT statement on the results store. Only the store's own files can be "
        "read; nothing can be written and no setting changed; memory is bounded and rows are streamed.",
    )
    p.add_argument(
        "sql", help="one SELECT statement; use $name placeholders with --param name=value for values"
    )
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a bound parameter")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--max-rows", type=int, default=50, help="table format: rows shown (default: 50)")
    p.add_argument(
        "--memory-limit", default=None, metavar="SIZE", help="DuckDB memory limit, e.g. 2GB (default: 512MB)"
    )
    p.add_argument("--results", metavar="DIR", help="results store directory (default: settings.results_dir)")
    p.set_defaults(handler=_cmd_query)


def parse_params(items: Iterable[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs as bound parameters (an int or float when the value reads as one, else text).

    Raises
    ------
    ValueError
        For an item without ``=`` or without a name.
    """
    params: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--param takes NAME=VALUE, got {item!r}")
        for conv in (int, float):
            try:
                params[name] = conv(value)
                break
            except ValueError:
                continue
        else:
            params[name] = value
    return params


# ------------------------------------------------------------------------------------------- writers
def _text_columns(schema: pa.Schema) -> list[int]:
    """Indices of columns that Arrow's CSV writer cannot write (lists, structs, maps): written as JSON text."""
    out = []
    for i, field in enumerate(schema):
        try:
            pa.array([], field.type).cast(pa.string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            out.append(i)
    return out


def _as_json_text(batch: pa.RecordBatch, columns: list[int]) -> pa.RecordBatch:
    arrays = list(batch.columns)
    for i in columns:
        arrays[i] = pa.array([None if v is None else json.dumps(v, default=str) for v in arrays[i].to_pylist()],
                             pa.string())  # fmt: skip
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _quoting(batch: pa.RecordBatch) -> str:
    """``"none"`` when no text cell holds a quote, comma or line break (plain CSV), else ``"needed"``."""
    import pyarrow.compute as pc

    for col in batch.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            if pc.any(pc.match_substring_regex(col, _CSV_SPECIAL)).as_py():
                return "needed"
        elif not (
            pa.types.is_integer(col.type)
            or pa.types.is_floating(col.type)
            or pa.types.is_boolean(col.type)
            or pa.types.is_temporal(col.type)
            or pa.types.is_decimal(col.type)
            or pa.types.is_null(col.type)
        ):
            return "needed"  # fmt: skip
    return "none"


def write_csv(reader: pa.RecordBatchReader, out: BinaryIO) -> int:
    """Stream ``reader`` to ``out`` as CSV, batch by batch; return the row count.

    Cells are quoted only in batches that need it (a text cell with a quote, comma or line break); lists and
    structs are written as JSON text.
    """
    import pyarrow.csv as pcsv

    text = _text_columns(reader.schema)
    names = reader.schema.names
    header = "needed" if any(re.search(_CSV_SPECIAL, name) for name in names) else "none"
    n = 0
    for batch in reader:
        if text:
            batch = _as_json_text(batch, text)
        options = pcsv.WriteOptions(
            include_header=n == 0, quoting_style=_quoting(batch), quoting_header=header
        )
        pcsv.write_csv(batch, out, options)
        n += batch.num_rows
    if n == 0:  # the header alone
        schema = pa.schema(
            [pa.field(f.name, pa.string()) if i in text else f for i, f in enumerate(reader.schema)]
        )
        pcsv.write_csv(schema.empty_table(), out, pcsv.WriteOptions(quoting_header=header))
    return n


def write_json(reader: pa.RecordBatchReader, out: BinaryIO) -> int:
    """Stream ``reader`` to ``out`` as one JSON array, one object per line; return the row count."""
    n = 0
    out.write(b"[")
    for batch in reader:
        for row in batch.to_pylist():
            out.write((",\n" if n else "\n").encode() + json.dumps(row, default=str).encode())
            n += 1
    out.write(b"\n]\n" if n else b"]\n")
    return n


def write_table(reader: pa.RecordBatchReader, max_rows: int) -> str:
    """The first ``max_rows`` rows as a plain-text table (reading no further than one row more)."""
    from flows.cli.campaign import format_table

    rows: list[dict[str, Any]] = []
    for batch in reader:
        rows.extend(batch.slice(0, max_rows + 1 - len(rows)).to_pylist())
        if len(rows) > max_rows:
            break
    text = format_table(rows[:max_rows], reader.schema.names)
    if len(rows) > max_rows:
        text += f"\n... more rows not shown (first {max_rows}; use --max-rows N or --format csv)"
    return text


# ------------------------------------------------------------------------------------------- handler
def _error(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _cmd_query(args: argparse.Namespace) -> int:
    import duckdb

    from screening.settings import get_settings
    from screening.store import ResultsStore
    from screening.store.readonly_query import (
        DEFAULT_MEMORY_LIMIT,
        InvalidLimit,
        QueryRefused,
        error_line,
        run_select,
    )

    if args.max_rows < 1:
        return _error(f"--max-rows must be >= 1, got {args.max_rows}", 2)
    try:
        params = parse_params(args.param)
    except ValueError as exc:
        return _error(str(exc), 2)
    store = ResultsStore(args.results or get_settings().results_dir)
    out = sys.stdout.buffer
    try:
        with run_select(
            store.layout, args.sql, params, memory_limit=args.memory_limit or DEFAULT_MEMORY_LIMIT
        ) as r:
            if args.format == "table":
                print(write_table(r, args.max_rows))
            else:
                sys.stdout.flush()
                (write_csv if args.format == "csv" else write_json)(r, out)
                out.flush()
    except FileNotFoundError as exc:
        return _error(str(exc), 1)
    except QueryRefused as exc:
        return _error(str(exc), 2)
    except InvalidLimit as exc:
        return _error(f"--memory-limit: {exc}", 2)
    except BrokenPipeError:  # `cloud query ... | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (duckdb.Error, pa.ArrowException, OSError) as exc:  # errors of the SQL, also while rows stream
        return _error(error_line(exc), 2)
    return 0
