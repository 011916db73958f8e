"""The results store: Parquet parts committed per chunk, DuckDB views over them for SQL.

Writers (campaign runs, on any worker) only write Parquet under temporary names and rename whole directories
into place; readers query the DuckDB view file opened read-only. See :mod:`screening.store.layout`.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from screening.store.atomic import commit_dir, staging_dir, staging_dirs, write_parquet
from screening.store.layout import CHUNK_TABLES, StoreLayout, check_id
from screening.store.schemas import CAMPAIGNS, MANIFEST, TABLE_SCHEMAS, conform
from screening.store.views import connect_readonly, ensure_views

#: Fault injection for crash tests: seconds to pause after each file of a commit (widens the window in which
#: a test kills a writer mid-commit). Unset in normal use.
CRASH_TEST_PAUSE_ENV = "CLOUD_STORE_CRASH_TEST_PAUSE_S"


def _crash_test_pause() -> None:
    pause = os.environ.get(CRASH_TEST_PAUSE_ENV)
    if pause:
        time.sleep(float(pause))


class ResultsStore:
    """A results store rooted at a directory (created on first use).

    Parameters
    ----------
    root
        The store's directory, e.g. ``results/``.
    """

    def __init__(self, root: str | Path) -> None:
        self.layout = StoreLayout(Path(root).expanduser().resolve())

    @property
    def root(self) -> Path:
        return self.layout.root

    @property
    def db_path(self) -> Path:
        return self.layout.db_path

    def ensure(self) -> Path:
        """Create directories, seed files and the DuckDB view file if needed; return the DuckDB path."""
        return ensure_views(self.layout)

    # ------------------------------------------------------------------ plan (written once per campaign)
    def has_plan(self, campaign_id: str) -> bool:
        """Whether the campaign's plan (inputs, manifest, campaign row) is committed."""
        return self.layout.campaign_row_path(campaign_id).exists()

    def commit_plan(
        self,
        campaign_id: str,
        inputs: Mapping[str, pa.Table],
        manifest: pa.Table,
        campaign_row: pa.Table,
    ) -> bool:
        """Commit a campaign's plan in one rename: chunk inputs, the manifest, and the campaign row.

        Returns ``False`` (and changes nothing) if a plan was already committed for ``campaign_id``.
        """
        check_id(campaign_id)
        stage = staging_dir(self.layout.campaigns_dir / ".staging", campaign_id)
        try:
            (stage / "inputs").mkdir()
            for chunk_id, table in inputs.items():
                write_parquet(table, stage / "inputs" / f"{check_id(chunk_id, 'chunk id')}.parquet")
                _crash_test_pause()
            write_parquet(conform(manifest, MANIFEST), stage / "manifest.parquet")
            write_parquet(conform(campaign_row, CAMPAIGNS), stage / "campaign.parquet")
            return commit_dir(stage, self.layout.campaign_dir(campaign_id))
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)

    def read_manifest(self, campaign_id: str) -> pa.Table:
        return pq.read_table(self.layout.manifest_path(campaign_id))

    def read_campaign(self, campaign_id: str) -> dict[str, Any]:
        """The campaign's row as a dict (raises ``FileNotFoundError`` for an unknown campaign)."""
        path = self.layout.campaign_row_path(campaign_id)
        if not path.exists():
            raise FileNotFoundError(f"no campaign {campaign_id!r} in the store at {self.root}")
        return pq.read_table(path).to_pylist()[0]

    def read_input(self, campaign_id: str, chunk_id: str) -> pa.Table:
        return pq.read_table(self.layout.input_path(campaign_id, chunk_id))

    def campaign_ids(self) -> list[str]:
        """Campaigns with a committed plan, oldest first."""
        rows = []
        if self.layout.campaigns_dir.exists():
            for p in self.layout.campaigns_dir.glob("*/campaign.parquet"):
                if p.parent.name.startswith(("_", ".")):
                    continue
                rows.append((p.stat().st_mtime, p.parent.name))
        return [cid for _, cid in sorted(rows)]

    # ------------------------------------------------------------------ chunks
    def committed_chunks(self, campaign_id: str) -> set[str]:
        """Chunk ids of the campaign whose results are committed."""
        d = self.layout.campaign_parts_dir(campaign_id)
        if not d.exists():
            return set()
        return {p.name[len("chunk-") :] for p in d.iterdir() if p.is_dir() and p.name.startswith("chunk-")}

    def commit_chunk(self, campaign_id: str, chunk_id: str, tables: Mapping[str, pa.Table]) -> bool:
        """Write all tables of one chunk and commit them together (one directory rename).

        Parameters
        ----------
        tables
            One Arrow table per name in :data:`~screening.store.layout.CHUNK_TABLES`; each is conformed to its
            schema (predictions may carry extra float columns, one per target).

        Returns
        -------
        bool
            ``True`` if committed by this call, ``False`` if the chunk was already committed (nothing changes).
        """
        missing = [t for t in CHUNK_TABLES if t not in tables]
        if missing:
            raise ValueError(f"chunk {chunk_id!r} lacks the tables {missing}")
        final = self.layout.chunk_dir(campaign_id, chunk_id)
        if final.exists():
            return False
        stage = staging_dir(self.layout.campaign_parts_dir(campaign_id), f"tmp-{chunk_id}")
        try:
            for name in CHUNK_TABLES:
                write_parquet(conform(tables[name], TABLE_SCHEMAS[name]), stage / f"{name}.parquet")
                _crash_test_pause()
            return commit_dir(stage, final)
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)

    def clean_stale(self, campaign_id: str) -> int:
        """Remove leftovers of a killed run: staging directories and work files of uncommitted chunks.

        Call only while holding the campaign's lock. Returns how many entries were removed.
        """
        removed = 0
        parts = self.layout.campaign_parts_dir(campaign_id)
        if parts.exists():
            for p in parts.iterdir():
                if p.name.startswith("tmp-"):
                    shutil.rmtree(p, ignore_errors=True)
                    removed += 1
        work = self.layout.campaign_dir(campaign_id) / "work"
        if work.exists():  # intermediate files: a chunk not committed restarts from its input
            for p in work.iterdir():
                shutil.rmtree(p, ignore_errors=True)
                removed += 1
        # plans being written of this campaign only: "rel" must not match "rel-kill3-<pid>-<nonce>"
        for p in staging_dirs(self.layout.campaigns_dir / ".staging", campaign_id):
            shutil.rmtree(p, ignore_errors=True)
            removed += 1
        return removed

    # ------------------------------------------------------------------ reading
    def connect(self) -> duckdb.DuckDBPyConnection:
        """A read-only DuckDB connection to the store's views."""
        return connect_readonly(self.layout)

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pa.Table:
        """Run ``sql`` (with bound ``params``) on a read-only connection; return an Arrow table."""
        with self.connect() as con:
            return con.sql(sql, params=params).to_arrow_table()
