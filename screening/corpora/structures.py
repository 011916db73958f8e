"""Offline structure corpora: compact Parquet files assembled from data that installed packages ship.

Sources (each one Parquet file, :data:`~screening.sources.candidate.CANDIDATE_SCHEMA` plus label columns):

=========================  ============================================================================
``aflow_prototypes``       pymatgen's 288 AFLOW prototypes (``pymatgen/analysis/prototypes``)
``pymatgen_structures``    pymatgen's test structures (``pymatgen/util/structures/*.json``)
``robocrys_minerals``      robocrys' mineral database (``robocrys/condense/mineral_db.json.gz``), read from
                           the installed package or from a wheel (``pip download --no-deps robocrys``)
``pyxtal_structures``      pyxtal's example CIFs and POSCARs (``pyxtal/database/cifs``)
``ase_dcdft``              ASE's DCDFT (Delta test) elemental crystals with WIEN2k bulk modulus
                           (``ase/collections/dcdft.json``): labels ``bulk_modulus_gpa``, ``bulk_modulus_deriv``,
                           ``volume_per_atom``
=========================  ============================================================================

Packages are located with :func:`importlib.util.find_spec` and never imported for their data (robocrys'
``__init__`` needs matminer, which this project does not install). A source whose package is absent is skipped
and reported. Items that cannot be read become rejects, counted per reason in the provenance.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import logging
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cloud_core.rejects import Reject
from screening.corpora.pool_file import candidates_to_compact_table
from screening.corpora.provenance import package_versions, write_provenance_md, write_sidecar
from screening.sources.candidate import Candidate

log = logging.getLogger(__name__)

STAGE = "read"


class SourceUnavailable(RuntimeError):
    """The package that ships a source's data is not installed (the source is skipped)."""


def package_dir(name: str) -> Path:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SourceUnavailable(f"package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


Item = Candidate | Reject
#: label columns: name -> (arrow type, meta key that holds the value)
LabelColumns = dict[str, tuple[pa.DataType, str]]


@dataclass(frozen=True)
class CorpusSource:
    """One corpus: its reader and what PROVENANCE says about it."""

    name: str
    description: str
    license: str
    package: str
    read: Callable[..., Iterator[Item]]
    labels: LabelColumns | None = None


def _structure_from_dict(d: dict[str, Any]):
    from pymatgen.core import Structure

    return Structure.from_dict(d)


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300]


def read_aflow_prototypes(**_: Any) -> Iterator[Item]:
    path = package_dir("pymatgen") / "analysis" / "prototypes" / "aflow_prototypes.json.gz"
    with gzip.open(path, "rt") as fh:
        entries = json.load(fh)
    for i, e in enumerate(entries):
        tags = e.get("tags", {})
        cid = f"aflow:{i:03d}:{tags.get('aflow', '')}"
        try:
            s = _structure_from_dict(e["snl"])
        except Exception as exc:
            yield Reject(cid, STAGE, "parse_error", _message(exc))
            continue
        meta = {k: tags[k] for k in ("aflow", "mineral", "pearson", "strukturbericht") if tags.get(k)}
        yield Candidate(cid, "aflow_prototypes", s, s.composition.reduced_formula, meta)


def read_pymatgen_structures(**_: Any) -> Iterator[Item]:
    folder = package_dir("pymatgen") / "util" / "structures"
    for path in sorted(folder.glob("*.json")):
        cid = f"pymatgen:{path.stem}"
        try:
            s = _structure_from_dict(json.loads(path.read_text()))
        except Exception as exc:
            yield Reject(cid, STAGE, "parse_error", _message(exc))
            continue
        yield Candidate(cid, "pymatgen_structures", s, s.composition.reduced_formula, {"name": path.stem})


def _robocrys_db(wheel: str | Path | None) -> dict[str, Any]:
    member = "robocrys/condense/mineral_db.json.gz"
    if wheel is not None:
        with zipfile.ZipFile(wheel) as z:
            return json.loads(gzip.decompress(z.read(member)))
    path = package_dir("robocrys") / "condense" / "mineral_db.json.gz"
    with gzip.open(path, "rt") as fh:
        return json.load(fh)


def read_robocrys_minerals(*, robocrys_wheel: str | Path | None = None, **_: Any) -> Iterator[Item]:
    db = _robocrys_db(robocrys_wheel)
    cols = db["columns"]
    for idx, row in zip(db["index"], db["data"], strict=True):
        rec = dict(zip(cols, row, strict=True))
        mineral = str(rec.get("mineral") or "")
        cid = f"robocrys:{idx}:{mineral}"
        try:
            s = _structure_from_dict(rec["structure"])
        except Exception as exc:
            yield Reject(cid, STAGE, "parse_error", _message(exc))
            continue
        meta = {k: rec[k] for k in ("mineral", "pearson", "strukturbericht") if rec.get(k)}
        yield Candidate(cid, "robocrys_minerals", s, s.composition.reduced_formula, meta)


def read_pyxtal_structures(**_: Any) -> Iterator[Item]:
    from screening.sources.files import FileSource

    folder = package_dir("pyxtal") / "database" / "cifs"
    source = FileSource(folder, source="pyxtal_structures")
    for cands, rejects in source.batches():
        for c in cands:
            yield Candidate(f"pyxtal:{c.id}", c.source, c.structure, c.formula, {"file": c.id.split("#")[0]})
        for r in rejects:
            yield Reject(f"pyxtal:{r.id}", r.stage, r.reason, r.message)


def read_ase_dcdft(**_: Any) -> Iterator[Item]:
    from ase.db import connect
    from pymatgen.io.ase import AseAtomsAdaptor

    path = package_dir("ase") / "collections" / "dcdft.json"
    db = connect(str(path), type="json")
    for row in db.select():
        kv = row.key_value_pairs
        name = kv.get("name", str(row.id))
        cid = f"dcdft:{name}"
        try:
            s = AseAtomsAdaptor.get_structure(row.toatoms())
        except Exception as exc:
            yield Reject(cid, STAGE, "parse_error", _message(exc))
            continue
        meta = {
            "name": name,
            "bulk_modulus_gpa": kv.get("wien2k_B"),
            "bulk_modulus_deriv": kv.get("wien2k_Bp"),
            "volume_per_atom": kv.get("wien2k_volume"),
        }
        yield Candidate(cid, "ase_dcdft", s, s.composition.reduced_formula, meta)


SOURCES: dict[str, CorpusSource] = {
    s.name: s
    for s in (
        CorpusSource(
            "aflow_prototypes",
            "AFLOW Library of Crystallographic Prototypes (288 entries) as shipped by pymatgen "
            "(pymatgen/analysis/prototypes/aflow_prototypes.json.gz)",
            "pymatgen MIT; AFLOW prototypes: cite Mehl et al., Comput. Mater. Sci. 136, S1 (2017)",
            "pymatgen",
            read_aflow_prototypes,
        ),
        CorpusSource(
            "pymatgen_structures",
            "pymatgen's bundled test structures (pymatgen/util/structures/*.json)",
            "MIT (pymatgen)",
            "pymatgen",
            read_pymatgen_structures,
        ),
        CorpusSource(
            "robocrys_minerals",
            "robocrys mineral database (robocrys/condense/mineral_db.json.gz; AFLOW prototypes with mineral names)",
            "robocrys: BSD-style LBNL license (MIT classifier); cite Ganose & Jain, MRS Commun. 9, 874 (2019)",
            "robocrys",
            read_robocrys_minerals,
        ),
        CorpusSource(
            "pyxtal_structures",
            "pyxtal's example structures (pyxtal/database/cifs: CIFs and POSCARs; JARVIS, CSD refcodes, "
            "minerals, test cases)",
            "MIT (pyxtal); JVASP entries from JARVIS-DFT (NIST, public domain); CSD-derived CIFs as redistributed "
            "by pyxtal",
            "pyxtal",
            read_pyxtal_structures,
        ),
        CorpusSource(
            "ase_dcdft",
            "ASE's DCDFT collection: 71 elemental crystals with WIEN2k equation-of-state data (Delta test)",
            "LGPL-2.1 (ASE); data: Lejaeghere et al., Science 351, aad3000 (2016)",
            "ase",
            read_ase_dcdft,
            labels={
                "bulk_modulus_gpa": (pa.float64(), "bulk_modulus_gpa"),
                "bulk_modulus_deriv": (pa.float64(), "bulk_modulus_deriv"),
                "volume_per_atom": (pa.float64(), "volume_per_atom"),
            },
        ),
    )
}

PROVENANCE_INTRO = (
    "Offline structure corpora assembled by `cloud build-corpora` from data that installed Python packages ship "
    "(no network). Each file has the candidate schema (candidate_id, source, formula, structure_json as compact "
    "pymatgen JSON, meta_json) plus label columns where the source has labels. Items that could not be read are "
    "counted under `rejects`. Not included: mp-time-split's 11-structure MP sample (the package does not install "
    "here: its sdist fails to build and it has no wheel for this Python)."
)


def build_corpus(
    source: CorpusSource,
    out_dir: str | Path,
    *,
    limit: int | None = None,
    robocrys_wheel: str | Path | None = None,
) -> dict[str, Any]:
    """Build one corpus file and its provenance sidecar; return the sidecar entry."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cands: list[Candidate] = []
    rejects: list[Reject] = []
    for item in source.read(robocrys_wheel=robocrys_wheel):
        if isinstance(item, Reject):
            rejects.append(item)
        else:
            cands.append(item)
        if limit is not None and len(cands) >= limit:
            break
    table = candidates_to_compact_table(cands)
    for col, (typ, key) in (source.labels or {}).items():
        table = table.append_column(pa.field(col, typ), pa.array([c.meta.get(key) for c in cands], type=typ))
    path = out_dir / f"{source.name}.parquet"
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd", compression_level=19)
    tmp.replace(path)
    versions = package_versions(source.package)
    entry = {
        "source": source.description,
        "license": source.license,
        "rows": table.num_rows,
        "rejects": dict(Counter(str(r.reason) for r in rejects)),
        "reject_ids": [r.id for r in rejects][:50],
        "label_columns": sorted(source.labels or {}),
        "package": f"{source.package} {versions[source.package]}",
        "limit": limit,
        "command": f"cloud build-corpora --sources {source.name}" + (f" --limit {limit}" if limit else ""),
    }
    if source.name == "robocrys_minerals" and robocrys_wheel is not None:
        entry["command"] += f" --robocrys-wheel {Path(robocrys_wheel).name}"
    write_sidecar(path, entry)
    return entry


def build_structure_corpora(
    out_dir: str | Path,
    *,
    sources: list[str] | None = None,
    limit: int | None = None,
    robocrys_wheel: str | Path | None = None,
    progress: Callable[[str, dict[str, Any] | str], None] | None = None,
) -> dict[str, dict[str, Any] | str]:
    """Build every (or the named) corpus under ``out_dir`` and rewrite its PROVENANCE.md.

    Returns ``{source name: sidecar entry}``, or a string saying why a source was skipped.
    """
    names = sources or list(SOURCES)
    unknown = sorted(set(names) - set(SOURCES))
    if unknown:
        raise ValueError(f"unknown corpus source(s) {unknown}; known: {sorted(SOURCES)}")
    report: dict[str, dict[str, Any] | str] = {}
    with warnings.catch_warnings():
        # pymatgen warns for every noble-gas formula (no Pauling electronegativity); harmless here
        warnings.filterwarnings("ignore", message="No Pauling electronegativity")
        for name in names:
            report[name] = _build_or_skip(name, out_dir, limit, robocrys_wheel)
            if progress is not None:
                progress(name, report[name])
    write_provenance_md(out_dir, "Structure corpora", PROVENANCE_INTRO)
    return report


def _build_or_skip(
    name: str, out_dir: str | Path, limit: int | None, robocrys_wheel: str | Path | None
) -> dict[str, Any] | str:
    try:
        return build_corpus(SOURCES[name], out_dir, limit=limit, robocrys_wheel=robocrys_wheel)
    except SourceUnavailable as exc:
        log.warning("corpus %s skipped: %s", name, exc)
        return f"skipped: {exc}"
