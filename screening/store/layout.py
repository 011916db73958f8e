"""Where a results store keeps its files, and which names the DuckDB views read.

::

    <root>/
      cloud.duckdb                               views only (created once, atomically; opened read-only)
      parts/_seed/chunk-seed/<table>.parquet     zero-row files that fix each table's base schema
      parts/<campaign>/chunk-<chunk>/<table>.parquet   one committed chunk: all its tables together
      parts/<campaign>/tmp-<chunk>-<nonce>/      a chunk being written (never matches ``chunk-*``)
      campaigns/_seed/campaign.parquet           zero-row campaigns file
      campaigns/<campaign>/campaign.parquet      the campaign's row (parameters, hash, provenance)
      campaigns/<campaign>/manifest.parquet      candidate -> chunk, written once
      campaigns/<campaign>/inputs/<chunk>.parquet  the candidates of each chunk (CANDIDATE_SCHEMA)
      campaigns/<campaign>/work/<chunk>/         intermediate files of chunks in flight
      campaigns/.staging/<campaign>-<pid>-<nonce>/  a plan being written (renamed to campaigns/<campaign>)
      locks/<campaign>.lock                      held (flock) by the one process running the campaign

A campaign's plan (inputs + manifest + campaign row) and each chunk's results are committed by renaming a
fully written directory into place, so a reader (or a resumed run) sees either all of it or none of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: The tables every committed chunk holds, in the order they are written.
CHUNK_TABLES: tuple[str, ...] = ("candidates", "predictions", "debye_curves", "rejects", "chunks")

#: Version of the on-disk layout; a DuckDB file built for another version is rebuilt. 2: the views read paths
#: relative to the store (see :mod:`screening.store.views`), so a store can be copied or moved.
LAYOUT_VERSION = 2

SEED = "_seed"
DB_NAME = "cloud.duckdb"

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_id(value: str, what: str = "campaign id") -> str:
    """Return ``value`` if it is a safe id (letters, digits, ``._-``; starts with a letter or digit).

    Raises
    ------
    ValueError
        With a message naming the rule.
    """
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ValueError(
            f"invalid {what} {value!r}: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


@dataclass(frozen=True)
class StoreLayout:
    """Paths of one results store rooted at ``root``."""

    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def parts_dir(self) -> Path:
        return self.root / "parts"

    @property
    def campaigns_dir(self) -> Path:
        return self.root / "campaigns"

    @property
    def locks_dir(self) -> Path:
        return self.root / "locks"

    def campaign_dir(self, campaign_id: str) -> Path:
        return self.campaigns_dir / check_id(campaign_id)

    def campaign_parts_dir(self, campaign_id: str) -> Path:
        return self.parts_dir / check_id(campaign_id)

    def chunk_dir(self, campaign_id: str, chunk_id: str) -> Path:
        return self.campaign_parts_dir(campaign_id) / f"chunk-{check_id(chunk_id, 'chunk id')}"

    def input_path(self, campaign_id: str, chunk_id: str) -> Path:
        return self.campaign_dir(campaign_id) / "inputs" / f"{check_id(chunk_id, 'chunk id')}.parquet"

    def work_dir(self, campaign_id: str, chunk_id: str) -> Path:
        return self.campaign_dir(campaign_id) / "work" / check_id(chunk_id, "chunk id")

    def manifest_path(self, campaign_id: str) -> Path:
        return self.campaign_dir(campaign_id) / "manifest.parquet"

    def campaign_row_path(self, campaign_id: str) -> Path:
        return self.campaign_dir(campaign_id) / "campaign.parquet"

    def lock_path(self, campaign_id: str) -> Path:
        return self.locks_dir / f"{check_id(campaign_id)}.lock"

    # --- globs the views read: relative to the root, so the DuckDB file moves with the store (each connection
    # tells the views where the root is now, see :mod:`screening.store.views`)
    @staticmethod
    def table_glob(table: str) -> str:
        return f"parts/*/chunk-*/{table}.parquet"

    @staticmethod
    def campaigns_glob() -> str:
        return "campaigns/*/campaign.parquet"
