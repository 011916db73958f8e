"""Rejects as an Arrow table (``candidate_id, stage, reason, message``), the form they travel in between stages."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from cloud_core.rejects import Reject

REJECT_COLUMNS = pa.schema(
    [
        pa.field("candidate_id", pa.string(), nullable=False),
        pa.field("stage", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("message", pa.string()),
    ]
)


def rejects_to_table(rejects: Iterable[Reject]) -> pa.Table:
    rows = [
        {"candidate_id": r.id, "stage": r.stage, "reason": str(r.reason), "message": r.message}
        for r in rejects
    ]
    return pa.Table.from_pylist(rows, schema=REJECT_COLUMNS)
