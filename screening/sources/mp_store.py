"""On-disk state of a Materials Project download: Parquet shards and a JSON manifest (the cursor).

Layout of a download folder::

    DIR/manifest.json              query, endpoint, db_version, cursor (next _skip), one entry per page
    DIR/shards/page-000001.parquet one shard per fetched page (Candidate columns + scalar columns)
    DIR/labels.parquet             training labels (``fetch_summary(write_label_file=True)``, ``--labels``)

Every file is written to a temporary name in the same folder and renamed into place, so a reader (or a
resumed download) never sees half a file. A shard is written before the manifest names it; a shard the
manifest does not name (the process died between the two renames) is an orphan and is removed on resume,
and its page is fetched again. The API key is never part of any of these files.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cloud_core.rejects import Reject
from screening.sources.candidate import BASE_CANDIDATE_SCHEMA

log = logging.getLogger("screening.sources.mp")

MANIFEST_NAME = "manifest.json"
SHARD_DIR = "shards"
MANIFEST_FORMAT = 1
SOURCE = "mp"
STAGE = "mp_fetch"

#: Scalar columns next to the Candidate columns in every shard.
SCALAR_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("nsites", pa.int32()),
    ("energy_above_hull", pa.float64()),
    ("band_gap", pa.float64()),
    ("formation_energy_per_atom", pa.float64()),
    ("density", pa.float64()),
    ("k_vrh", pa.float64()),
    ("g_vrh", pa.float64()),
)
SHARD_SCHEMA = pa.schema(
    list(BASE_CANDIDATE_SCHEMA)
    + [pa.field(n, t) for n, t in SCALAR_FIELDS]
    + [pa.field("db_version", pa.string(), nullable=False)]
)


class MPRejectReason(StrEnum):
    """Why a summary document did not become a candidate."""

    MISSING_ID = "missing_id"
    BAD_STRUCTURE = "bad_structure"


@dataclass
class PageRecord:
    """One fetched page as the manifest records it."""

    page: int
    skip: int
    n_docs: int
    n_rows: int
    file: str
    duplicates: int = 0
    rejects: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Manifest:
    """The cursor of a download: what was asked, of which database release, and how far it got."""

    query: dict[str, Any]
    fingerprint: str
    endpoint: str
    db_version: str
    page_size: int
    next_skip: int = 0
    next_page: int = 1
    total_doc: int | None = None
    complete: bool = False
    pages: list[PageRecord] = field(default_factory=list)
    format: int = MANIFEST_FORMAT
    started: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    @property
    def n_rows(self) -> int:
        return sum(p.n_rows for p in self.pages)

    @property
    def n_duplicates(self) -> int:
        return sum(p.duplicates for p in self.pages)

    @property
    def n_rejects(self) -> int:
        return sum(len(p.rejects) for p in self.pages)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        d = dict(d)
        if d.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"unsupported manifest format {d.get('format')!r} (expected {MANIFEST_FORMAT})")
        d["pages"] = [PageRecord(**p) for p in d.get("pages", [])]
        return cls(**d)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def docs_to_table(
    docs: Iterable[dict[str, Any]], db_version: str, seen: set[str] | None = None
) -> tuple[pa.Table, list[Reject], int]:
    """Turn summary documents (plain dicts) into a shard table.

    Parameters
    ----------
    docs
        Documents as the summary endpoint returns them (``structure`` as a pymatgen dict).
    db_version
        The database release they came from (a provenance column).
    seen
        Ids already stored; documents with these ids are dropped (and counted). Updated in place.

    Returns
    -------
    table, rejects, n_duplicates
        The shard (:data:`SHARD_SCHEMA`), documents that could not be used, and how many were duplicates.
    """
    from pymatgen.core import Structure

    seen = set() if seen is None else seen
    cols: dict[str, list[Any]] = {f.name: [] for f in SHARD_SCHEMA}
    rejects: list[Reject] = []
    dups = 0
    for i, doc in enumerate(docs):
        mid = doc.get("material_id") if isinstance(doc, dict) else None
        if not mid or not isinstance(mid, str):
            rejects.append(
                Reject(f"#{i}", STAGE, MPRejectReason.MISSING_ID, "document without a material_id")
            )
            continue
        if mid in seen:
            dups += 1
            continue
        try:
            structure = Structure.from_dict(doc["structure"])
        except Exception as exc:  # any malformed structure dict is a reject, never a crash
            rejects.append(
                Reject(mid, STAGE, MPRejectReason.BAD_STRUCTURE, f"{type(exc).__name__}: {exc}"[:300])
            )
            continue
        seen.add(mid)
        k = (doc.get("bulk_modulus") or {}).get("vrh")
        g = (doc.get("shear_modulus") or {}).get("vrh")
        scalars = {
            "nsites": doc.get("nsites") if doc.get("nsites") is not None else len(structure),
            "energy_above_hull": doc.get("energy_above_hull"),
            "band_gap": doc.get("band_gap"),
            "formation_energy_per_atom": doc.get("formation_energy_per_atom"),
            "density": doc.get("density"),
            "k_vrh": k,
            "g_vrh": g,
        }
        meta = {"formula_pretty": doc.get("formula_pretty"), **scalars, "db_version": db_version}
        cols["candidate_id"].append(mid)
        cols["source"].append(SOURCE)
        cols["formula"].append(doc.get("formula_pretty") or structure.composition.reduced_formula)
        cols["structure_json"].append(json.dumps(doc["structure"]))
        cols["meta_json"].append(json.dumps({k2: v for k2, v in meta.items() if v is not None}))
        for name, value in scalars.items():
            cols[name].append(value)
        cols["db_version"].append(db_version)
    return pa.table(cols, schema=SHARD_SCHEMA), rejects, dups


class MPShardStore:
    """The shards and manifest of one download folder.

    Parameters
    ----------
    out_dir
        The download folder (created if missing).
    """

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = Path(out_dir)
        self.shard_dir = self.out_dir / SHARD_DIR
        self.manifest_path = self.out_dir / MANIFEST_NAME

    def ensure(self) -> None:
        self.shard_dir.mkdir(parents=True, exist_ok=True)

    # -- manifest
    def load(self) -> Manifest | None:
        """The manifest, or ``None`` if this folder holds no download yet."""
        if not self.manifest_path.is_file():
            return None
        try:
            return Manifest.from_dict(json.loads(self.manifest_path.read_text()))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(
                f"{self.manifest_path} is not a readable download manifest ({exc}); "
                "remove the folder or start over with restart=True / --restart"
            ) from exc

    def save(self, manifest: Manifest) -> None:
        """Write the manifest atomically."""
        self.ensure()
        manifest.updated = time.time()
        _atomic_write_bytes(self.manifest_path, json.dumps(manifest.to_dict(), indent=1).encode())

    # -- shards
    @staticmethod
    def shard_name(page: int) -> str:
        return f"page-{page:06d}.parquet"

    def write_shard(self, page: int, table: pa.Table) -> str:
        """Write one page's shard atomically; returns its path relative to the download folder."""
        self.ensure()
        name = self.shard_name(page)
        path = self.shard_dir / name
        tmp = path.with_name(f".{name}.tmp-{os.getpid()}")
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return f"{SHARD_DIR}/{name}"

    def shard_paths(self, manifest: Manifest) -> list[Path]:
        """The shards the manifest names, in page order."""
        return [self.out_dir / p.file for p in manifest.pages]

    def remove_orphans(self, manifest: Manifest) -> list[str]:
        """Delete shards and temporary files that the manifest does not name; returns their names."""
        if not self.shard_dir.is_dir():
            return []
        keep = {Path(p.file).name for p in manifest.pages}
        removed = []
        for path in sorted(self.shard_dir.iterdir()):
            if path.name not in keep:
                path.unlink()
                removed.append(path.name)
        for path in self.out_dir.glob(f".{MANIFEST_NAME}.tmp-*"):
            path.unlink()
            removed.append(path.name)
        return removed

    def reset(self) -> None:
        """Forget the download: remove the manifest, all shards and derived files."""
        if self.shard_dir.is_dir():
            shutil.rmtree(self.shard_dir)
        for name in (MANIFEST_NAME, "labels.parquet"):
            (self.out_dir / name).unlink(missing_ok=True)

    def seen_ids(self, manifest: Manifest) -> set[str]:
        """Material ids already stored in the manifest's shards."""
        seen: set[str] = set()
        for path in self.shard_paths(manifest):
            seen.update(pq.read_table(path, columns=["candidate_id"]).column(0).to_pylist())
        return seen

    def read_table(self, manifest: Manifest | None = None) -> pa.Table:
        """All stored rows (the manifest's shards, in page order) as one table."""
        manifest = manifest or self.load()
        if manifest is None:
            raise FileNotFoundError(
                f"{self.out_dir} holds no Materials Project download (no {MANIFEST_NAME})"
            )
        tables = [pq.read_table(p, schema=SHARD_SCHEMA) for p in self.shard_paths(manifest)]
        return pa.concat_tables(tables) if tables else SHARD_SCHEMA.empty_table()

    def iter_tables(self, manifest: Manifest | None = None) -> Iterator[pa.Table]:
        """The shards one at a time (bounded memory)."""
        manifest = manifest or self.load()
        if manifest is None:
            raise FileNotFoundError(
                f"{self.out_dir} holds no Materials Project download (no {MANIFEST_NAME})"
            )
        for p in self.shard_paths(manifest):
            yield pq.read_table(p, schema=SHARD_SCHEMA)
