"""Streaming SCOPE strings out of Parquet shards larger than memory, in a resumable shuffled order.

The unit of reading is one Parquet row group (memory stays at one row group, whatever the corpus size).
Each epoch visits every row group of every shard once, in an order drawn from ``(seed, epoch)``, and
shuffles the rows inside a row group with ``(seed, epoch, row group)``. A :class:`Cursor` (epoch, position
in that order, row inside the row group) therefore names the next row exactly; saving it with a training
state and seeking to it on resume replays the same batches as an uninterrupted run.

Every reader here passes its strings through the SCOPE validator (:mod:`cloud_core.scope.validate`): an invalid
row is dropped and the number dropped (with the reasons) is logged as a warning, never trained on. A row group's
valid rows are found once per process; the cursor counts valid rows, so resuming is exact.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger("cloud.data")


class DataError(ValueError):
    """Training data that cannot be used (no files, missing column, empty)."""


@dataclass(frozen=True)
class Cursor:
    """Position of the next unread row: epoch, index into the epoch's row-group order, row in that group."""

    epoch: int = 0
    chunk: int = 0
    row: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def valid_scope_mask(column: pa.Array | pa.ChunkedArray | list, where: str) -> np.ndarray:
    """Boolean mask of the valid SCOPE strings of a column; logs how many are dropped, and why, as a warning."""
    from cloud_core.scope.validate import check_scopes

    check = check_scopes(column)
    if check.n_invalid:
        first = next(iter(check.errors.values()))
        log.warning(
            "dropped %d invalid SCOPE strings of %d in %s (%s; first: %s)",
            check.n_invalid,
            len(check.valid),
            where,
            ", ".join(f"{k} {v}" for k, v in check.reason_counts().items()),
            first.message[:200],
        )
    return check.valid


def resolve_parquet_paths(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand directories (their ``*.parquet``, recursively) and glob patterns; sorted and de-duplicated."""
    out: set[Path] = set()
    for p in paths:
        s = str(p)
        if any(c in s for c in "*?["):
            out.update(Path(m) for m in glob.glob(s, recursive=True) if m.endswith(".parquet"))
        elif Path(s).is_dir():
            out.update(Path(s).rglob("*.parquet"))
        elif Path(s).is_file():
            out.add(Path(s))
        else:
            raise DataError(f"no such file or directory: {s}")
    if not out:
        raise DataError(f"no Parquet files found in {[str(p) for p in paths]}")
    return sorted(out)


class ScopeShardStream:
    """An endless, resumable, shuffled stream of SCOPE strings from Parquet shards.

    Parameters
    ----------
    paths
        Parquet files, directories or glob patterns.
    column
        The column holding SCOPE strings.
    seed
        Shuffling seed.
    """

    def __init__(self, paths: Sequence[str | os.PathLike[str]], column: str = "scope", seed: int = 0) -> None:
        self.files = resolve_parquet_paths(paths)
        self.column = column
        self.seed = int(seed)
        chunks: list[tuple[int, int, int]] = []
        for fi, f in enumerate(self.files):
            try:
                meta = pq.ParquetFile(f)
            except Exception as exc:  # pyarrow raises several types for broken files
                raise DataError(f"{f} is not a readable Parquet file ({exc})") from exc
            if column not in meta.schema_arrow.names:
                raise DataError(f"{f} has no column {column!r} (columns: {meta.schema_arrow.names})")
            for g in range(meta.num_row_groups):
                n = meta.metadata.row_group(g).num_rows
                if n:
                    chunks.append((fi, g, n))
        if not chunks:
            raise DataError(f"the Parquet files {[str(f) for f in self.files]} hold no rows")
        self.chunks = chunks
        self.n_rows = sum(c[2] for c in chunks)
        self._valid: dict[int, np.ndarray] = {}

    def epoch_order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.chunks))

    def read_chunk(self, epoch: int, k: int) -> list[str]:
        """Valid rows of row group ``k`` (index into :attr:`chunks`), shuffled for ``epoch``."""
        fi, g, _ = self.chunks[k]
        col = pq.ParquetFile(self.files[fi]).read_row_group(g, columns=[self.column]).column(0)
        rows = col.to_pylist()
        if k not in self._valid:
            self._valid[k] = valid_scope_mask(rows, f"{self.files[fi]} row group {g}")
        valid = self._valid[k]
        rows = [r for r, ok in zip(rows, valid, strict=True) if ok]
        perm = np.random.default_rng([self.seed, epoch, k]).permutation(len(rows))
        return [rows[i] for i in perm]

    def batches(self, batch_size: int, cursor: Cursor | None = None) -> Iterator[tuple[list[str], Cursor]]:
        """Yield ``(batch of SCOPE strings, cursor after it)`` forever, starting at ``cursor``.

        Batches cross row-group and epoch boundaries, so every batch has exactly ``batch_size`` rows.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        cur = cursor or Cursor()
        epoch, pos, row = cur.epoch, cur.chunk, cur.row
        order = self.epoch_order(epoch)
        rows = self.read_chunk(epoch, int(order[pos]))
        batch: list[str] = []
        empty = 0  # consecutive row groups without a valid row
        while True:
            take = min(batch_size - len(batch), len(rows) - row)
            batch.extend(rows[row : row + take])
            row += take
            empty = empty + 1 if not rows else 0
            if empty > len(self.chunks):
                raise DataError(f"no valid SCOPE string in {[str(f) for f in self.files]}")
            if row == len(rows):
                pos, row = pos + 1, 0
                if pos == len(order):
                    epoch, pos = epoch + 1, 0
                    order = self.epoch_order(epoch)
                rows = self.read_chunk(epoch, int(order[pos]))
            if len(batch) == batch_size:
                yield batch, Cursor(epoch, pos, row)
                batch = []


def read_scopes(
    paths: Sequence[str | os.PathLike[str]], column: str = "scope", limit: int | None = None
) -> list[str]:
    """All valid SCOPE strings of some Parquet files, in file order (for evaluation sets that fit in memory).

    Invalid strings (nulls included) are dropped, and counted in a warning.
    """
    out: list[str] = []
    for f in resolve_parquet_paths(paths):
        col = pq.read_table(f, columns=[column]).column(0)
        valid = valid_scope_mask(col, str(f))
        out.extend(s for s, ok in zip(col.to_pylist(), valid, strict=True) if ok)
        if limit is not None and len(out) >= limit:
            return out[:limit]
    return out
