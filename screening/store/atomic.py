"""Atomic writes: a file or a whole directory is written under a temporary name and renamed into place.

A reader (or a resumed campaign) therefore sees a committed chunk with all of its tables, or nothing. Temporary
names never match the globs of the DuckDB views (see :mod:`screening.store.layout`).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_parquet(table: pa.Table, path: Path, *, fsync: bool = True) -> None:
    """Write ``table`` to ``path`` (zstd), flushed to disk; not atomic by itself (see :func:`atomic_parquet`)."""
    pq.write_table(table, path, compression="zstd")
    if fsync:
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())


def atomic_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` atomically (temporary sibling ``.<name>.tmp-<nonce>``, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        write_parquet(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def staging_dir(parent: Path, prefix: str) -> Path:
    """Create and return a fresh staging directory ``parent/<prefix>-<pid>-<nonce>``."""
    parent.mkdir(parents=True, exist_ok=True)
    path = parent / f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    return path


def staging_dirs(parent: Path, prefix: str) -> list[Path]:
    """The staging directories :func:`staging_dir` made for exactly ``prefix`` under ``parent``.

    Matches ``<prefix>-<pid>-<12 hex>`` only, so prefix ``rel`` never matches ``rel-kill3-<pid>-<nonce>``
    (another campaign's plan being written).
    """
    if not parent.is_dir():
        return []
    pattern = re.compile(re.escape(prefix) + r"-[0-9]+-[0-9a-f]{12}")
    return sorted(p for p in parent.iterdir() if p.is_dir() and pattern.fullmatch(p.name))


def commit_dir(staging: Path, final: Path) -> bool:
    """Rename the fully written ``staging`` directory to ``final``.

    Returns
    -------
    bool
        ``True`` if this call committed it; ``False`` if ``final`` already existed (another run committed the
        same content first), in which case ``staging`` is removed. Either way ``final`` is complete afterwards.
    """
    for f in staging.iterdir():
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    try:
        os.rename(staging, final)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) or final.exists():
            shutil.rmtree(staging, ignore_errors=True)
            return False
        raise
    _fsync_dir(final.parent)
    return True
