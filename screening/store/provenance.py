"""Provenance: which software produced a row, stamped as constant columns on every table."""

from __future__ import annotations

import functools
import json
from datetime import datetime, timezone
from importlib import metadata

import pyarrow as pa

from screening.store.schemas import PROVENANCE_FIELDS

_LIBRARIES = ("cloud-screening", "torch", "pymatgen", "spglib", "moyopy", "numpy", "pyarrow", "duckdb")


@functools.cache
def library_versions() -> str:
    """JSON object ``{library: version}`` of the libraries that shape results (missing ones omitted)."""
    out: dict[str, str] = {}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return json.dumps(out, sort_keys=True)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC, to the microsecond."""
    return datetime.now(timezone.utc)


def stamp(table: pa.Table, *, model_id: str | None, symprec: float | None, created_at: datetime) -> pa.Table:
    """Return ``table`` with the provenance columns (constant over its rows) appended or replaced."""
    n = table.num_rows
    values = {
        "model_id": model_id,
        "symprec": symprec,
        "versions": library_versions(),
        "created_at": created_at,
    }
    for f in PROVENANCE_FIELDS:
        col = pa.array([values[f.name]] * n, type=f.type)
        if f.name in table.column_names:
            table = table.set_column(table.column_names.index(f.name), f, col)
        else:
            table = table.append_column(f, col)
    return table
