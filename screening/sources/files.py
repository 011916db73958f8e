"""Candidates from files: a folder (or list) of CIF / POSCAR / extxyz files, or Parquet / JSON Lines of pymatgen dicts.

Every structure read becomes a :class:`~screening.sources.candidate.Candidate`; every item that cannot be read
becomes a :class:`~cloud_core.rejects.Reject` with ``stage="read"`` and a :class:`FileRejectReason`, and reading
goes on. Ids are the file's path relative to the root folder, with ``#<n>`` for the n-th structure (from 0) of a
multi-structure file (CIF with several data blocks, multi-frame extxyz) and ``:<line>`` for JSON Lines (unless the
record carries its own ``id`` / ``candidate_id`` / ``material_id``).

Recognised files (case-insensitive):

- CIF: ``*.cif``, ``*.mcif``
- VASP: ``POSCAR*``, ``CONTCAR*``, ``*.vasp``, ``*.poscar``
- extended XYZ: ``*.extxyz``, ``*.xyz`` (through ASE)
- pymatgen JSON: ``*.json`` (one ``Structure.as_dict()``, or a list of them)
- JSON Lines: ``*.jsonl`` / ``*.ndjson``, one pymatgen dict per line (or ``{"id": ..., "structure": {...}}``)
- Parquet: ``*.parquet``, either the candidate schema (``structure_json``) or a column ``structure`` holding
  pymatgen dicts / their JSON, with an optional id column.

Other files in a folder are skipped (counted in :attr:`FileSource.skipped`); naming a single unrecognised file
explicitly gives a reject ``unsupported_format``.
"""

from __future__ import annotations

import glob
import json
import warnings
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

from cloud_core.rejects import Reject
from screening.sources.candidate import Candidate

SOURCE = "files"
STAGE = "read"
ID_KEYS = ("candidate_id", "id", "material_id")
STRUCTURE_KEYS = ("structure", "structure_json")


class FileRejectReason(StrEnum):
    """Why an item could not be read."""

    PARSE_ERROR = "parse_error"
    EMPTY = "empty"
    NO_STRUCTURE = "no_structure"
    BAD_JSON = "bad_json"
    UNSUPPORTED_FORMAT = "unsupported_format"
    IO_ERROR = "io_error"


def file_format(path: Path) -> str | None:
    """The reader for ``path`` (``"cif"``, ``"poscar"``, ``"extxyz"``, ``"json"``, ``"jsonl"``, ``"parquet"``)."""
    name = path.name.lower()
    suffix = path.suffix.lower()
    if suffix in (".cif", ".mcif"):
        return "cif"
    if suffix in (".vasp", ".poscar") or name.startswith(("poscar", "contcar")):
        return "poscar"
    if suffix in (".extxyz", ".xyz"):
        return "extxyz"
    if suffix == ".json":
        return "json"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".parquet":
        return "parquet"
    return None


def resolve_paths(spec: str | Path) -> list[Path]:
    """The paths a campaign's ``--path`` names: a folder, a file, or a glob (``**`` recurses).

    Raises
    ------
    FileNotFoundError
        One line naming ``spec``: nothing exists there, the glob matches nothing, or the folder holds no file of
        a recognised type.
    """
    text = str(spec)
    if glob.has_magic(text):
        paths = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not paths:
            raise FileNotFoundError(f"--path {text!r} matches no file")
        return paths
    path = Path(text)
    if not path.exists():
        raise FileNotFoundError(f"--path {text}: no such file or folder")
    if path.is_dir() and not any(p.is_file() and file_format(p) for p in path.rglob("*")):
        raise FileNotFoundError(f"--path {text}: the folder holds no structure file (CIF, POSCAR, ...)")
    return [path]


def _message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300]


class FileSource:
    """Read candidates from files, in batches.

    Parameters
    ----------
    paths
        A folder (searched recursively), a file, or a list of them.
    batch_size
        Candidates per yielded batch (rejects travel with the batch they were found in).
    source
        The ``source`` written on each candidate.
    """

    def __init__(
        self, paths: str | Path | Iterable[str | Path], *, batch_size: int = 1000, source: str = SOURCE
    ):
        if isinstance(paths, str | Path):
            paths = [paths]
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise ValueError("FileSource needs at least one path")
        missing = [str(p) for p in self.paths if not p.exists()]
        if missing:
            raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.source = source
        self.skipped: list[Path] = []

    def files(self) -> list[tuple[Path, str]]:
        """``(file, id prefix)`` of every file to read, sorted for a stable order."""
        out: list[tuple[Path, str]] = []
        self.skipped = []
        for root in self.paths:
            if root.is_dir():
                for f in sorted(p for p in root.rglob("*") if p.is_file()):
                    if file_format(f) is None:
                        self.skipped.append(f)
                    else:
                        out.append((f, f.relative_to(root).as_posix()))
            else:
                out.append((root, root.name))
        return out

    def batches(self) -> Iterator[tuple[list[Candidate], list[Reject]]]:
        """Yield ``(candidates, rejects)`` with up to ``batch_size`` candidates each."""
        cands: list[Candidate] = []
        rejects: list[Reject] = []
        for path, prefix in self.files():
            for item in self._read(path, prefix):
                if isinstance(item, Reject):
                    rejects.append(item)
                else:
                    cands.append(item)
                if len(cands) >= self.batch_size:
                    yield cands, rejects
                    cands, rejects = [], []
        if cands or rejects:
            yield cands, rejects

    def __iter__(self) -> Iterator[tuple[list[Candidate], list[Reject]]]:
        return self.batches()

    def read_all(self) -> tuple[list[Candidate], list[Reject]]:
        """All candidates and rejects at once."""
        cands: list[Candidate] = []
        rejects: list[Reject] = []
        for c, r in self.batches():
            cands += c
            rejects += r
        return cands, rejects

    # --- readers: each yields Candidate or Reject, never raises for a bad item
    def _candidate(self, cid: str, structure: Any, meta: dict[str, Any] | None = None) -> Candidate | Reject:
        if structure is None or len(structure) == 0:
            return Reject(cid, STAGE, FileRejectReason.EMPTY, "the structure has no sites")
        meta = dict(meta or {})
        return Candidate(cid, self.source, structure, structure.composition.reduced_formula, meta)

    def _read(self, path: Path, prefix: str) -> Iterator[Candidate | Reject]:
        fmt = file_format(path)
        if fmt is None:
            yield Reject(
                prefix, STAGE, FileRejectReason.UNSUPPORTED_FORMAT, f"unrecognised file type: {path.name}"
            )
            return
        try:
            if path.stat().st_size == 0:
                yield Reject(prefix, STAGE, FileRejectReason.EMPTY, f"{path.name} is empty")
                return
        except OSError as exc:
            yield Reject(prefix, STAGE, FileRejectReason.IO_ERROR, _message(exc))
            return
        reader = getattr(self, f"_read_{fmt}")
        try:
            yield from reader(path, prefix)
        except OSError as exc:
            yield Reject(prefix, STAGE, FileRejectReason.IO_ERROR, _message(exc))

    def _read_cif(self, path: Path, prefix: str) -> Iterator[Candidate | Reject]:
        """CIF structures as the file gives them: atoms on one position and partial occupancies are ``scope``
        rejects (``overlapping_atoms`` / ``disordered``), the same reasons a POSCAR of the same crystal gets."""
        from cloud_core.scope import ScopeError
        from cloud_core.scope.inputs import check_occupancies, read_cif_structures

        try:
            structures = read_cif_structures(path)
        except Exception as exc:
            yield Reject(prefix, STAGE, FileRejectReason.PARSE_ERROR, _message(exc))
            return
        if not structures:
            yield Reject(prefix, STAGE, FileRejectReason.NO_STRUCTURE, "no structure in CIF")
            return
        multi = len(structures) > 1
        for i, s in enumerate(structures):
            cid = f"{prefix}#{i}" if multi else prefix
            try:
                check_occupancies(s)
            except ScopeError as exc:
                yield Reject(cid, "scope", str(exc.reason), exc.message)
                continue
            yield self._candidate(cid, s)

    def _read_poscar(self, path: Path, prefix: str) -> Iterator[Candidate | Reject]:
        from pymatgen.io.vasp import Poscar

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                structure = Poscar.from_file(path, check_for_potcar=False).structure
        except Exception as exc:
            yield Reject(prefix, STAGE, FileRejectReason.PARSE_ERROR, _message(exc))
            return
        yield self._candidate(prefix, structure)

    def _read_extxyz(self, path: Path, prefix: str) -> Iterator[Candidate | Reject]:
        from ase.io import read
        from pymatgen.io.ase import AseAtomsAdaptor

        try:
            frames = read(path, index=":", format="extxyz")
        except Exception as exc:
            yield Reject(prefix, STAGE, FileRejectReason.PARSE_ERROR, _message(exc))
            return
        if not frames:
            yield Reject(prefix, STAGE, FileRejectReason.NO_STRUCTURE, "no frame in extxyz file")
            return
        multi = len(frames) > 1
        for i, atoms in enumerate(frames):
            cid = f"{prefix}#{i}" if multi else prefix
            if not atoms.pbc.all() or atoms.cell.rank < 3:
                yield Reject(cid, STAGE, FileRejectReason.NO_STRUCTURE, "frame is not a periodic 3D crystal")
                continue
            try:
                structure = AseAtomsAdaptor.get_structure(atoms)
            except Exception as exc:
                yield Reject(cid, STAGE, FileRejectReason.PARSE_ERROR, _message(exc))
                continue
            yield self._candidate(cid, structure)

    def _from_record(self, cid: str, record: Any) -> Candidate | Reject:
        """A pymatgen dict, or a dict with an id key and a ``structure`` key (dict or JSON)."""
        from pymatgen.core import Structure

        if not isinstance(record, dict):
            return Reject(
                cid,
                STAGE,
                FileRejectReason.NO_STRUCTURE,
                f"expected a JSON object, got {type(record).__name__}",
            )
        meta: dict[str, Any] = {}
        for key in ID_KEYS:
            if record.get(key):
                cid = str(record[key])
                break
        payload: Any = record
        for key in STRUCTURE_KEYS:
            if key in record:
                payload = record[key]
                break
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except json.JSONDecodeError as exc:
                return Reject(cid, STAGE, FileRejectReason.BAD_JSON, _message(exc))
        if not isinstance(payload, dict) or "lattice" not in payload or "sites" not in payload:
            return Reject(
                cid, STAGE, FileRejectReason.NO_STRUCTURE, "no pymatgen structure dict (lattice + sites)"
            )
        try:
            structure = Structure.from_dict(payload)
        except Exception as exc:
            return Reject(cid, STAGE, FileRejectReason.PARSE_ERROR, _message(exc))
        return self._candidate(cid, structure, meta)

    def _read_json(self, path: Path, prefix: str) -> Iterator[Candidate | Reject]:
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield Reject(prefix, STAGE, FileRejectReason.BAD_JSON, _message(exc))
            return
        if isinstance(data, list):
            for i, rec in enumerate(data):
                yield self._from_record(f"{prefix}#{i}", rec)
        else:
            yield self._from_record(prefix, data)

    def _read_jsonl(self, path: Path, prefix: str) -> Iterator[Candidate | Reject]:
        with path.open("rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                line = raw.strip()
                if not line:
                    continue
                cid = f"{prefix}:{lineno}"
                try:
                    rec = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    yield Reject(cid, STAGE, FileRejectReason.BAD_JSON, _message(exc))
                    continue
                yield self._from_record(cid, rec)

    def _read_parquet(self, path: Path, prefix: str) -> Iterator[Candidate | Reject]:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:
            yield Reject(prefix, STAGE, FileRejectReason.PARSE_ERROR, _message(exc))
            return
        names = pf.schema_arrow.names
        col = next((k for k in STRUCTURE_KEYS if k in names), None)
        if col is None:
            yield Reject(
                prefix, STAGE, FileRejectReason.NO_STRUCTURE, f"no column {' or '.join(STRUCTURE_KEYS)}"
            )
            return
        id_col = next((k for k in ID_KEYS if k in names), None)
        extra = [c for c in ("formula", "meta_json") if c in names]
        row = 0
        for batch in pf.iter_batches(columns=[col] + ([id_col] if id_col else []) + extra, batch_size=4096):
            data = batch.to_pydict()
            for i, payload in enumerate(data[col]):
                cid = str(data[id_col][i]) if id_col and data[id_col][i] else f"{prefix}#{row}"
                row += 1
                if payload is None:
                    formula = data["formula"][i] if "formula" in data else None
                    if formula:  # composition-only candidate (the candidate schema allows it)
                        yield Candidate(cid, self.source, None, formula)
                    else:
                        yield Reject(
                            cid, STAGE, FileRejectReason.NO_STRUCTURE, "neither structure nor formula"
                        )
                    continue
                item = self._from_record(cid, {"id": cid, "structure": payload})
                if isinstance(item, Candidate) and "meta_json" in data and data["meta_json"][i]:
                    try:
                        meta = json.loads(data["meta_json"][i])
                    except json.JSONDecodeError:
                        meta = {}
                    item = Candidate(item.id, item.source, item.structure, item.formula, meta)
                yield item


def read_files(
    paths: str | Path | Iterable[str | Path], *, batch_size: int = 1000
) -> Iterator[tuple[list[Candidate], list[Reject]]]:
    """Shorthand for ``FileSource(paths, batch_size=batch_size).batches()``."""
    return FileSource(paths, batch_size=batch_size).batches()
