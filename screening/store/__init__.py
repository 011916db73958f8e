"""Results store: per-chunk Parquet parts committed atomically, DuckDB views over them (read-only for readers)."""

from __future__ import annotations

from screening.store.layout import CHUNK_TABLES, StoreLayout, check_id
from screening.store.lock import CampaignLockedError, campaign_lock
from screening.store.store import ResultsStore
from screening.store.views import VIEWS

__all__ = [
    "CHUNK_TABLES",
    "VIEWS",
    "CampaignLockedError",
    "ResultsStore",
    "StoreLayout",
    "campaign_lock",
    "check_id",
]
