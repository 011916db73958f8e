"""The pre-training corpus: SCOPE strings that teach real crystal grammar.

Rows (column ``scope``, plus ``kind``), drawn per row with the fractions of :class:`PretrainConfig`:

``skeleton``
    A real space-group x Wyckoff-set combination from pyxtal's ``spg_num_wps_mp.csv`` (12,593 combinations
    counted over 88,678 Materials Project structures), sampled with probability proportional to its count, its
    orbits partitioned over 1-6 elements and decorated with a charge-balanced ionic composition: ions drawn from
    the species occurrence counts of the ICSD that pymatgen ships (``pymatgen/core/icsd_bv.yaml``, tempered by
    ``ion_alpha``), sum of charges zero, every anion more electronegative than every cation, anions more likely
    on the sublattices with more atoms. Unary skeletons get one element.
``skeleton_metal``
    The same skeletons decorated as intermetallics (metals and metalloids, weighted by their ICSD occurrence
    as neutral atoms; no charge balance applies).
``prototype``
    The 288 AFLOW prototypes' own orbit sets (encoded by :func:`cloud_core.scope.encode`) with the
    prototype's element grouping kept and re-decorated like ``skeleton``.
``real``
    SCOPE strings of the real structures in the offline corpora (``data/corpora/*.parquet``), minus the
    held-out fifth (chosen by a hash of the string) that is written separately for evaluation.
``unknown``
    Symmetry-unknown strings ``? | - | <stoichiometry>`` of compositions generated as above.

Every string is built as a :class:`cloud_core.scope.ScopeRecord` whose orbits come from
:func:`cloud_core.scope.canonical_orbits` (canonical Wyckoff letters over the group's relabelings, canonical
order), so it follows the grammar exactly and parses back with ``ScopeRecord.from_string``.

Shards are independent: shard ``i`` is drawn from its own ``random.Random`` seeded by ``(seed, i)``, written to a temporary name and renamed,
and a rerun skips the shards already complete (resume after a crash), so the same settings always give the same
files.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import itertools
import json
import logging
import math
import os
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

KINDS = ("skeleton", "skeleton_metal", "prototype", "real", "unknown")
SHARD_SCHEMA = pa.schema([pa.field("scope", pa.string(), nullable=False), pa.field("kind", pa.string())])
HELDOUT_SCHEMA = pa.schema(
    [
        pa.field("scope", pa.string(), nullable=False),
        pa.field("kind", pa.string()),
        pa.field("candidate_id", pa.string()),
        pa.field("source", pa.string()),
    ]
)
MANIFEST = "manifest.json"
#: Probability of 1..6 elements for a skeleton (truncated to the number of orbits); roughly the Materials
#: Project's mix (ternaries most common).
N_ELEMENT_WEIGHTS = (0.02, 0.25, 0.45, 0.20, 0.06, 0.02)
#: Probability of 1, 2, 3 anion sublattices (truncated to n_elements - 1).
N_ANION_WEIGHTS = (0.8, 0.17, 0.03)
#: Decoration attempts per skeleton before another skeleton is drawn.
TRIES_PER_SKELETON = 24


@dataclass(frozen=True)
class PretrainConfig:
    """What the corpus holds. The defaults give the bundled corpus."""

    size: int = 200_000
    seed: int = 0
    shard_size: int = 100_000
    row_group_size: int = 8192
    fractions: dict[str, float] = field(
        default_factory=lambda: {
            "skeleton": 0.55,
            "skeleton_metal": 0.10,
            "prototype": 0.12,
            "real": 0.03,
            "unknown": 0.20,
        }
    )
    #: tempering exponent on ICSD occurrence counts (1: as in the ICSD, 0: uniform)
    ion_alpha: float = 0.6
    #: skip skeletons whose string would be longer than this many tokens
    max_tokens: int = 128
    #: fraction of the real structures held out for evaluation
    heldout_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.size < 1 or self.shard_size < 1 or self.row_group_size < 1:
            raise ValueError("size, shard_size and row_group_size must be >= 1")
        unknown = set(self.fractions) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown kinds {sorted(unknown)}; known: {KINDS}")
        if any(v < 0 for v in self.fractions.values()) or sum(self.fractions.values()) <= 0:
            raise ValueError(f"fractions must be >= 0 with a positive sum, got {self.fractions}")
        if not 0 <= self.heldout_fraction < 1:
            raise ValueError("heldout_fraction must be in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------- data tables
@dataclass(frozen=True)
class Skeleton:
    """A space group and a multiset of Wyckoff letters; ``groups`` fixes the element partition (prototypes)."""

    spacegroup: int
    letters: tuple[str, ...]
    count: int = 1
    groups: tuple[int, ...] | None = None


def _pyxtal_csv() -> Path:
    spec = importlib.util.find_spec("pyxtal")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("pyxtal is not installed; it ships database/spg_num_wps_mp.csv")
    return Path(next(iter(spec.submodule_search_locations))) / "database" / "spg_num_wps_mp.csv"


@lru_cache(maxsize=2)
def load_skeletons(path: str | None = None) -> tuple[Skeleton, ...]:
    """The space-group x Wyckoff combinations of pyxtal's MP table, as canonical-letter skeletons.

    pyxtal numbers a group's Wyckoff positions from the general position (index 0) down to ``a``; the letter of
    index ``i`` in a group with ``n`` positions is therefore ``LETTERS[n - 1 - i]``. Each row's multiplicities
    are checked against its atom count.
    """
    from cloud_core.scope.tables import LETTERS, space_group

    out = []
    with open(path or _pyxtal_csv(), newline="") as fh:
        for row in csv.DictReader(fh):
            sg = int(row["spg"])
            mult = space_group(sg).multiplicity
            n = len(mult)
            letters = tuple(LETTERS[n - 1 - int(i)] for i in row["wps"].split("-"))
            if sum(mult[x] for x in letters) != int(row["n_atoms"]):
                raise ValueError(f"spg_num_wps_mp.csv row {row} does not add up to its atom count")
            out.append(Skeleton(sg, letters, int(row["count"])))
    return tuple(out)


@dataclass(frozen=True)
class Species:
    symbol: str
    charge: int
    weight: float
    x: float


@dataclass
class IonTables:
    """Ions and metals to decorate with, and their sampling weights."""

    cations: list[Species]
    anions: list[Species]
    by_charge: dict[int, list[Species]]
    metals: list[Species]
    elements: list[Species]
    cation_charges: list[int] = field(default_factory=list)
    anion_charges: list[int] = field(default_factory=list)
    charge_weight: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cation_charges = sorted({s.charge for s in self.cations})
        self.anion_charges = sorted({s.charge for s in self.anions})
        self.charge_weight = {q: sum(s.weight for s in ions) for q, ions in self.by_charge.items()}

    def cum(self, items: list[Species]) -> list[float]:
        """Cumulative weights of one of this table's lists (cached)."""
        key = id(items)
        cache = self.__dict__.setdefault("_cum", {})
        if key not in cache:
            cache[key] = list(itertools.accumulate(s.weight for s in items))
        return cache[key]


def _icsd_occurrence() -> dict[str, int]:
    import yaml

    spec = importlib.util.find_spec("pymatgen")
    assert spec is not None and spec.submodule_search_locations
    root = Path(next(iter(spec.submodule_search_locations)))
    for rel in ("core/icsd_bv.yaml", "analysis/icsd_bv.yaml"):
        if (root / rel).is_file():
            with open(root / rel) as fh:
                return yaml.safe_load(fh)["occurrence"]
    raise FileNotFoundError("pymatgen's icsd_bv.yaml (ICSD species occurrences) was not found")


@lru_cache(maxsize=4)
def ion_tables(alpha: float = 0.6) -> IonTables:
    """Species from the ICSD occurrence table (elements SCOPE orders by electronegativity), weights count**alpha."""
    import re

    from pymatgen.core import Element

    from cloud_core.scope.tables import MAX_SUPPORTED_Z, element_by_symbol

    occ = _icsd_occurrence()
    pat = re.compile(r"^([A-Z][a-z]?)(\d*)([+-])$")
    ions: list[Species] = []
    neutral: dict[str, int] = {}
    for name, count in sorted(occ.items()):
        m = pat.match(name)
        if not m:
            continue
        sym, mag, sign = m.group(1), m.group(2), m.group(3)
        try:
            info = element_by_symbol(sym)
        except KeyError:
            continue
        if info.z > MAX_SUPPORTED_Z or math.isnan(info.electronegativity):
            continue
        q = int(mag or 1) * (1 if sign == "+" else -1)
        if mag == "0":
            neutral[sym] = int(count)
            continue
        ions.append(Species(sym, q, float(count) ** alpha, float(info.order_key[0])))
    by_charge: dict[int, list[Species]] = {}
    for s in ions:
        by_charge.setdefault(s.charge, []).append(s)
    metals = []
    elements = []
    for sym, count in sorted(neutral.items()):
        el = Element(sym)
        info = element_by_symbol(sym)
        sp = Species(sym, 0, float(count) ** alpha, float(info.order_key[0]))
        elements.append(sp)
        if el.is_metal or el.is_metalloid:
            metals.append(sp)
    return IonTables(
        cations=[s for s in ions if s.charge > 0],
        anions=[s for s in ions if s.charge < 0],
        by_charge=by_charge,
        metals=metals,
        elements=elements,
    )


# --------------------------------------------------------------------------------------------- decoration
def _cum(items: list[Species]) -> list[float]:
    return list(itertools.accumulate(s.weight for s in items))


def _draw(rng: random.Random, items: list[Species], tables: IonTables) -> Species:
    return rng.choices(items, cum_weights=tables.cum(items))[0]


def _partition(rng: random.Random, k: int) -> list[int]:
    """Random surjection of k orbits onto m element groups, m drawn from N_ELEMENT_WEIGHTS (m <= k)."""
    w = N_ELEMENT_WEIGHTS[: min(k, len(N_ELEMENT_WEIGHTS))]
    m = rng.choices(range(1, len(w) + 1), weights=w)[0]
    groups = list(range(m)) + [rng.randrange(m) for _ in range(k - m)]
    rng.shuffle(groups)
    return groups


def decorate_ionic(counts: list[int], rng: random.Random, tables: IonTables) -> list[Species] | None:
    """One charge-balanced ion per group of ``counts`` atoms, or None when this attempt fails."""
    m = len(counts)
    if m == 1:
        return [_draw(rng, tables.elements, tables)]
    w = N_ANION_WEIGHTS[: m - 1]
    n_anions = rng.choices(range(1, len(w) + 1), weights=w)[0]
    # anions are more likely on the sublattices with more atoms
    remaining = list(range(m))
    anion_groups: set[int] = set()
    for _ in range(n_anions):
        g = rng.choices(remaining, weights=[counts[i] for i in remaining])[0]
        anion_groups.add(g)
        remaining.remove(g)
    order = list(range(m))
    rng.shuffle(order)
    chosen: dict[int, Species] = {}
    used: set[str] = set()
    for g in order[:-2]:
        sp = _draw(rng, tables.anions if g in anion_groups else tables.cations, tables)
        if sp.symbol in used:
            return None
        chosen[g] = sp
        used.add(sp.symbol)
    # the last two groups are solved together: every (charge a, charge b) pair of the right signs that balances
    # the formula, weighted by the ions available at those charges
    a, b = order[-2], order[-1]
    residual = -sum(counts[g] * chosen[g].charge for g in chosen)
    qa_options = tables.anion_charges if a in anion_groups else tables.cation_charges
    qb_options = tables.anion_charges if b in anion_groups else tables.cation_charges
    pairs = [
        (qa, qb) for qa in qa_options for qb in qb_options if counts[a] * qa + counts[b] * qb == residual
    ]
    if not pairs:
        return None
    qa, qb = rng.choices(
        pairs, weights=[tables.charge_weight[qa] * tables.charge_weight[qb] for qa, qb in pairs]
    )[0]
    for g, q in ((a, qa), (b, qb)):
        options = [s for s in tables.by_charge[q] if s.symbol not in used]
        if not options:
            return None
        chosen[g] = rng.choices(options, cum_weights=_cum(options))[0]
        used.add(chosen[g].symbol)
    ions = [chosen[g] for g in range(m)]
    if max(s.x for s in ions if s.charge > 0) >= min(s.x for s in ions if s.charge < 0):
        return None
    return ions


def decorate_metal(m: int, rng: random.Random, tables: IonTables) -> list[Species] | None:
    picks = [_draw(rng, tables.metals, tables) for _ in range(m)]
    return picks if len({s.symbol for s in picks}) == m else None


def skeleton_record(sk: Skeleton, elements: list[str]):
    """The canonical :class:`~cloud_core.scope.ScopeRecord` of skeleton ``sk`` with ``elements[i]`` on orbit ``i``."""
    from cloud_core.scope import ScopeRecord, canonical_orbits
    from cloud_core.scope.formula import reduced_stoichiometry
    from cloud_core.scope.tables import space_group

    info = space_group(sk.spacegroup)
    counts: Counter[str] = Counter()
    for el, letter in zip(elements, sk.letters, strict=True):
        counts[el] += info.multiplicity[letter]
    orbits = canonical_orbits(sk.spacegroup, zip(elements, sk.letters, strict=True))
    n_sites = sum(counts.values()) // info.centering_order
    return ScopeRecord(sk.spacegroup, orbits, reduced_stoichiometry(counts), n_sites)


def skeleton_scope(sk: Skeleton, elements: list[str]) -> str:
    """The SCOPE string of skeleton ``sk`` with ``elements[i]`` on orbit ``i``."""
    return skeleton_record(sk, elements).to_string()


def unknown_scope(elements: list[str], sk: Skeleton) -> str:
    from cloud_core.scope import ScopeRecord
    from cloud_core.scope.formula import reduced_stoichiometry
    from cloud_core.scope.tables import space_group

    info = space_group(sk.spacegroup)
    counts: Counter[str] = Counter()
    for el, letter in zip(elements, sk.letters, strict=True):
        counts[el] += info.multiplicity[letter]
    return ScopeRecord(None, (), reduced_stoichiometry(counts), None).to_string()


def n_tokens(sk: Skeleton) -> int:
    """Upper bound of the token count of a decorated skeleton (stoichiometry digits bounded by the atom count)."""
    from cloud_core.scope.tables import space_group

    total = sum(space_group(sk.spacegroup).multiplicity[x] for x in sk.letters)
    k = len(sk.letters)
    return 4 + 2 * k + 1 + min(k, 6) * (1 + len(str(total)))


# --------------------------------------------------------------------------------------------- real structures
@lru_cache(maxsize=2)
def prototype_skeletons() -> tuple[Skeleton, ...]:
    """The AFLOW prototypes' orbit sets with their element grouping (encoded by SCOPE)."""
    from pymatgen.core import Lattice, Structure

    from cloud_core.scope import encode
    from screening.sources.prototype_pool import load_prototypes

    # encode with distinct placeholder elements so SCOPE keeps the sublattices apart; the letters found are
    # re-canonicalised for every decoration
    placeholders = ["Na", "Cl", "O", "Fe", "Ca"]
    out = []
    for p in load_prototypes():
        s = Structure(Lattice(p.matrix), [placeholders[g] for g in p.site_group], p.frac_coords)
        try:
            rec = encode(s)
        except Exception as exc:  # a prototype SCOPE cannot encode is left out, and logged
            log.warning("prototype %s not encodable: %s", p.label, exc)
            continue
        groups = tuple(placeholders.index(o.element) for o in rec.orbits)
        out.append(Skeleton(rec.spacegroup, tuple(o.letter for o in rec.orbits), 1, groups))
    return tuple(out)


def real_scopes(corpora_dir: str | Path) -> list[tuple[str, str, str]]:
    """``(scope, candidate id, source)`` of every structure in ``corpora_dir/*.parquet`` that SCOPE encodes,
    one per distinct string (first seen wins)."""
    from cloud_core.scope import encode_many
    from screening.sources.candidate import candidates_from_table

    seen: dict[str, tuple[str, str, str]] = {}
    for path in sorted(Path(corpora_dir).glob("*.parquet")):
        cands = [c for c in candidates_from_table(pq.read_table(path)) if c.structure is not None]
        ok, _rejects = encode_many([c.structure for c in cands], ids=[c.id for c in cands])
        src = {c.id: c.source for c in cands}
        for cid, rec in ok:
            s = rec.to_string()
            seen.setdefault(s, (s, cid, src[cid]))
    return list(seen.values())


def is_heldout(scope: str, fraction: float) -> bool:
    """Deterministic split by a hash of the string (identical strings always fall on the same side)."""
    h = int(hashlib.sha256(scope.encode()).hexdigest()[:12], 16)
    return (h % 10_000) < fraction * 10_000


# --------------------------------------------------------------------------------------------- generation
class CorpusGenerator:
    """Draws corpus rows; one instance per shard (its own RNG)."""

    def __init__(
        self,
        cfg: PretrainConfig,
        rng: random.Random,
        real: list[str],
        heldout: set[str],
    ) -> None:
        self.cfg = cfg
        self.rng = rng
        self.tables = ion_tables(cfg.ion_alpha)
        skeletons = [s for s in load_skeletons() if n_tokens(s) <= cfg.max_tokens]
        self.skeletons = skeletons
        self.cum = list(itertools.accumulate(s.count for s in skeletons))
        self.protos = list(prototype_skeletons())
        self.real = real
        self.heldout = heldout
        kinds = [k for k in KINDS if cfg.fractions.get(k, 0) > 0 and (k != "real" or real)]
        self.kinds = kinds
        self.kind_cum = list(itertools.accumulate(cfg.fractions[k] for k in kinds))
        self.failures: Counter[str] = Counter()

    def _skeleton(self) -> Skeleton:
        return self.rng.choices(self.skeletons, cum_weights=self.cum)[0]

    def decorated(self, kind: str) -> tuple[Skeleton, list[str]]:
        """A skeleton of ``kind`` (``skeleton``, ``skeleton_metal`` or ``prototype``) and one element per orbit."""
        return self._decorated(metal=kind == "skeleton_metal", proto=kind == "prototype")

    def _decorated(self, metal: bool = False, proto: bool = False) -> tuple[Skeleton, list[str]]:
        from cloud_core.scope.tables import space_group

        while True:
            if proto:
                sk = self.protos[self.rng.randrange(len(self.protos))]
            else:
                sk = self._skeleton()
            mult = space_group(sk.spacegroup).multiplicity
            for _ in range(TRIES_PER_SKELETON):
                groups = list(sk.groups) if sk.groups is not None else _partition(self.rng, len(sk.letters))
                m = max(groups) + 1
                counts = [0] * m
                for g, letter in zip(groups, sk.letters, strict=True):
                    counts[g] += mult[letter]
                ions = (
                    decorate_metal(m, self.rng, self.tables)
                    if metal
                    else decorate_ionic(counts, self.rng, self.tables)
                )
                if ions is not None:
                    return sk, [ions[g].symbol for g in groups]
            self.failures["undecorated_skeleton"] += 1

    def row(self) -> tuple[str, str]:
        kind = self.rng.choices(self.kinds, cum_weights=self.kind_cum)[0]
        if kind == "real":
            return self.real[self.rng.randrange(len(self.real))], kind
        while True:
            sk, elements = self._decorated(metal=kind == "skeleton_metal", proto=kind == "prototype")
            if kind == "unknown":
                return unknown_scope(elements, sk), kind
            s = skeleton_scope(sk, elements)
            if s in self.heldout:  # never train on a held-out real structure
                self.failures["collides_with_heldout"] += 1
                continue
            return s, kind


def scope_fingerprint(n: int = 400) -> str:
    """A hash of how :mod:`cloud_core.scope` canonicalises a fixed probe set of skeletons.

    Stored with the corpus settings, so that a change of the canonical form (new relabelings, another element
    order) makes a rerun rebuild every shard instead of keeping strings that are no longer canonical.
    """
    probe = ("Li", "Mg", "Al", "Si", "P", "S", "Cl", "O")
    h = hashlib.sha256()
    for i, sk in enumerate(load_skeletons()[:: max(1, len(load_skeletons()) // n)]):
        elements = [probe[(i + j) % len(probe)] for j in range(len(sk.letters))]
        h.update(skeleton_scope(sk, elements).encode())
    return h.hexdigest()[:16]


def _build_shard(
    cfg: PretrainConfig, i: int, rows: int, train_real: list[str], heldout: set[str], path: Path
) -> dict[str, Any]:
    """Draw shard ``i`` (its own RNG, so shards can be built in any order or in parallel) and write it."""
    gen = CorpusGenerator(cfg, random.Random(f"cloud-pretrain-{cfg.seed}-{i}"), train_real, heldout)
    scopes, kinds = [], []
    for _ in range(rows):
        s, k = gen.row()
        scopes.append(s)
        kinds.append(k)
    from cloud_core.scope.validate import require_valid_scopes

    require_valid_scopes(scopes, f"pretrain corpus shard {i}")  # validated on write: the builder fails
    _atomic_write(pa.table({"scope": scopes, "kind": kinds}, schema=SHARD_SCHEMA), path, cfg.row_group_size)
    return {
        "file": path.name,
        "rows": rows,
        "kinds": dict(sorted(Counter(kinds).items())),
        "distinct": len(set(scopes)),
        "failures": dict(gen.failures),
    }


def _shard_name(i: int) -> str:
    return f"pretrain-{i:05d}.parquet"


def build_pretrain_corpus(
    out_dir: str | Path,
    cfg: PretrainConfig | None = None,
    *,
    corpora_dir: str | Path | None = None,
    heldout_path: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Write the corpus as Parquet shards under ``out_dir`` (resumable) and return its manifest.

    Parameters
    ----------
    out_dir
        Folder for ``pretrain-NNNNN.parquet`` shards and ``manifest.json`` (nothing else goes there, so the
        folder can be handed to ``cloud pretrain`` as is).
    cfg
        Corpus settings.
    corpora_dir
        Folder of structure corpora (``cloud build-corpora``) whose SCOPE strings are the ``real`` rows; ``None``
        leaves real structures out.
    heldout_path
        Where to write the held-out real structures' strings (default ``<out_dir>_heldout/heldout_real.parquet``).
    progress
        Called with (rows done, rows total) after each shard.
    workers
        Processes building shards in parallel (the files are the same whatever the number).
    """
    cfg = cfg or PretrainConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    real_rows = real_scopes(corpora_dir) if corpora_dir is not None else []
    heldout_rows = [r for r in real_rows if is_heldout(r[0], cfg.heldout_fraction)]
    heldout = {r[0] for r in heldout_rows}
    train_real = sorted(r[0] for r in real_rows if r[0] not in heldout)
    if heldout_rows:
        hp = (
            Path(heldout_path)
            if heldout_path
            else out.parent / f"{out.name}_heldout" / "heldout_real.parquet"
        )
        hp.parent.mkdir(parents=True, exist_ok=True)
        from cloud_core.scope.validate import require_valid_scopes

        require_valid_scopes([r[0] for r in heldout_rows], "pretrain held-out set")
        table = pa.table(
            {
                "scope": [r[0] for r in heldout_rows],
                "kind": ["real"] * len(heldout_rows),
                "candidate_id": [r[1] for r in heldout_rows],
                "source": [r[2] for r in heldout_rows],
            },
            schema=HELDOUT_SCHEMA,
        )
        _atomic_write(table, hp, cfg.row_group_size)
    manifest_path = out / MANIFEST
    settings = {
        **cfg.to_dict(),
        "real_train": len(train_real),
        "real_heldout": len(heldout_rows),
        "scope_fingerprint": scope_fingerprint(),
    }
    manifest: dict[str, Any] = {"settings": settings, "shards": {}}
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text())
        if old.get("settings") == settings:
            manifest = old
        else:
            log.warning("settings or SCOPE's canonical form changed: rebuilding every shard in %s", out)
            for p in out.glob("pretrain-*.parquet"):
                p.unlink()
    n_shards = math.ceil(cfg.size / cfg.shard_size)
    for stale in out.glob("pretrain-*.parquet"):
        if int(stale.stem.split("-")[1]) >= n_shards:
            stale.unlink()
    manifest["shards"] = {k: v for k, v in manifest["shards"].items() if int(k) < n_shards}
    done = 0
    pending: list[tuple[int, int]] = []
    for i in range(n_shards):
        rows = min(cfg.shard_size, cfg.size - i * cfg.shard_size)
        path = out / _shard_name(i)
        entry = manifest["shards"].get(str(i))
        if (
            entry
            and path.is_file()
            and entry["rows"] == rows
            and pq.ParquetFile(path).metadata.num_rows == rows
        ):
            done += rows
        else:
            pending.append((i, rows))

    def record(i: int, entry: dict[str, Any]) -> None:
        nonlocal done
        manifest["shards"][str(i)] = entry
        _atomic_json(manifest, manifest_path)
        done += entry["rows"]
        if progress is not None:
            progress(done, cfg.size)

    if workers > 1 and len(pending) > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=min(workers, len(pending))) as pool:
            futures = {
                pool.submit(_build_shard, cfg, i, rows, train_real, heldout, out / _shard_name(i)): i
                for i, rows in pending
            }
            for fut in as_completed(futures):
                record(futures[fut], fut.result())
    else:
        for i, rows in pending:
            record(i, _build_shard(cfg, i, rows, train_real, heldout, out / _shard_name(i)))
    totals: Counter[str] = Counter()
    for e in manifest["shards"].values():
        totals.update(e["kinds"])
    manifest["totals"] = {"rows": sum(totals.values()), "kinds": dict(sorted(totals.items()))}
    _atomic_json(manifest, manifest_path)
    return manifest


def _atomic_write(table: pa.Table, path: Path, row_group_size: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd", compression_level=9, row_group_size=row_group_size)
    os.replace(tmp, path)


def _atomic_json(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def iter_scopes(paths: Iterable[str | Path]) -> Iterable[str]:
    """All strings of the given shard files, in order (for checks and small evaluations)."""
    for p in paths:
        for batch in pq.ParquetFile(p).iter_batches(columns=["scope"]):
            yield from batch.column(0).to_pylist()


def write_pretrain_provenance(
    out_dir: str | Path, manifest: dict[str, Any], heldout: str | Path | None
) -> Path:
    """Render ``out_dir/PROVENANCE.md`` from the corpus manifest (counts come from the manifest, not by hand)."""
    from screening.corpora.provenance import package_versions

    out = Path(out_dir)
    st = manifest["settings"]
    lines = [
        "# Pre-training corpus (SCOPE strings)",
        "",
        "Written by `cloud build-pretrain-corpus`; do not edit by hand. Columns: `scope` (a SCOPE string that "
        "parses with `ScopeRecord.from_string`), `kind` (how it was made; see `screening/corpora/pretrain.py`).",
        "",
        "Sources: pyxtal's `database/spg_num_wps_mp.csv` (space group x Wyckoff combinations counted over 88,678 "
        "Materials Project structures; pyxtal, MIT; Materials Project data CC BY 4.0), pymatgen's ICSD species "
        "occurrence table (`pymatgen/core/icsd_bv.yaml`; pymatgen, MIT), pymatgen's AFLOW prototypes (cite Mehl "
        "et al. 2017) and the real structures of `data/corpora` (see its PROVENANCE.md).",
        "",
        "| file | rows | distinct | " + " | ".join(KINDS) + " |",
        "|---|---:|---:|" + "---:|" * len(KINDS),
    ]
    for _, e in sorted(manifest["shards"].items(), key=lambda kv: int(kv[0])):
        kinds = " | ".join(f"{e['kinds'].get(k, 0):,}" for k in KINDS)
        lines.append(f"| `{e['file']}` | {e['rows']:,} | {e['distinct']:,} | {kinds} |")
    tot = manifest["totals"]
    lines.append(
        f"| total | {tot['rows']:,} | | " + " | ".join(f"{tot['kinds'].get(k, 0):,}" for k in KINDS) + " |"
    )
    lines += ["", "Settings:", ""]
    for k in sorted(st):
        lines.append(f"- {k}: {json.dumps(st[k], sort_keys=True)}")
    if heldout is not None:
        lines += [
            "",
            f"Held-out real structures for masked-token evaluation: `{heldout}` ({st['real_heldout']} strings; "
            "none of them appears in the shards).",
        ]
    versions = package_versions("pyxtal", "pymatgen", "moyopy", "spglib")
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()), ""]
    path = out / "PROVENANCE.md"
    path.write_text("\n".join(lines))
    return path
