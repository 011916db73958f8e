"""Arrow schemas of the store's tables (the base columns; predictions add one float column per target).

Every row of every table carries ``campaign_id`` and the provenance columns :data:`PROVENANCE_FIELDS`.
"""

from __future__ import annotations

import pyarrow as pa

PROVENANCE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("model_id", pa.string()),
    pa.field("symprec", pa.float64()),
    pa.field("versions", pa.string()),  # JSON: library versions that produced the row
    pa.field("created_at", pa.timestamp("us", tz="UTC")),
)

_KEY = (
    pa.field("campaign_id", pa.string(), nullable=False),
    pa.field("chunk_id", pa.string(), nullable=False),
)

#: What the encode step knows of a candidate (the encode step's output schema, and part of ``candidates``).
ENCODED_FIELDS = (
    pa.field("candidate_id", pa.string(), nullable=False),
    pa.field("source", pa.string()),
    pa.field("formula", pa.string()),
    pa.field("scope", pa.string()),
    pa.field("spacegroup", pa.int32()),
    pa.field("n_sites", pa.int32()),
    pa.field("scope_backend", pa.string()),
)

CANDIDATES = pa.schema(
    [
        *_KEY,
        *ENCODED_FIELDS,
        pa.field("status", pa.string()),  # "ok" or "rejected"
        *PROVENANCE_FIELDS,
    ]
)

PREDICTIONS = pa.schema([*_KEY, pa.field("candidate_id", pa.string(), nullable=False), *PROVENANCE_FIELDS])

DEBYE_CURVES = pa.schema(
    [
        *_KEY,
        pa.field("candidate_id", pa.string(), nullable=False),
        pa.field("T_K", pa.float64()),
        pa.field("theta_K", pa.float64()),
        pa.field("n_atoms", pa.int32()),
        pa.field("cv_J_per_molatom_K", pa.float64()),
        pa.field("u_J_per_molatom", pa.float64()),
        pa.field("s_J_per_molatom_K", pa.float64()),
        pa.field("f_J_per_molatom", pa.float64()),
        *PROVENANCE_FIELDS,
    ]
)

REJECTS = pa.schema(
    [
        *_KEY,
        pa.field("candidate_id", pa.string(), nullable=False),
        pa.field("stage", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("message", pa.string()),
        *PROVENANCE_FIELDS,
    ]
)

CHUNKS = pa.schema(
    [
        *_KEY,
        pa.field("chunk_index", pa.int32()),
        pa.field("n_candidates", pa.int64()),
        pa.field("n_ok", pa.int64()),
        pa.field("n_rejected", pa.int64()),
        pa.field("seconds", pa.float64()),
        *PROVENANCE_FIELDS,
    ]
)

CAMPAIGNS = pa.schema(
    [
        pa.field("campaign_id", pa.string(), nullable=False),
        pa.field("created_at", pa.timestamp("us", tz="UTC")),
        pa.field("params_hash", pa.string()),
        pa.field("params_json", pa.string()),
        pa.field("source", pa.string()),
        pa.field("n_candidates", pa.int64()),
        pa.field("n_chunks", pa.int64()),
        pa.field("chunk_size", pa.int64()),
        pa.field("model_id", pa.string()),
        pa.field("checkpoint", pa.string()),
        pa.field("symprec", pa.float64()),
        pa.field("temperatures_K", pa.list_(pa.float64())),
        pa.field("versions", pa.string()),
    ]
)

MANIFEST = pa.schema(
    [
        pa.field("candidate_id", pa.string(), nullable=False),
        pa.field("chunk_id", pa.string(), nullable=False),
        pa.field("chunk_index", pa.int32(), nullable=False),
    ]
)

TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "candidates": CANDIDATES,
    "predictions": PREDICTIONS,
    "debye_curves": DEBYE_CURVES,
    "rejects": REJECTS,
    "chunks": CHUNKS,
}


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Order and cast ``table``'s base columns to ``schema`` (missing nullable ones become nulls); extra
    columns (e.g. targets) follow, numbers as float64.

    Raises
    ------
    ValueError
        When a base column of ``schema`` is missing.
    """
    missing = [f.name for f in schema if f.name not in table.column_names and not f.nullable]
    if missing:
        raise ValueError(f"table lacks the columns {missing} of its schema")
    base = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    extra_names = [n for n in table.column_names if n not in schema.names]
    extra = []
    for n in extra_names:
        col = table.column(n)
        extra.append(
            col.cast(pa.float64()) if pa.types.is_floating(col.type) or pa.types.is_integer(col.type) else col
        )
    fields = [pa.field(f.name, f.type) for f in schema] + [
        pa.field(n, c.type) for n, c in zip(extra_names, extra, strict=True)
    ]
    return pa.Table.from_arrays(base + extra, schema=pa.schema(fields))
