"""What to ask the Materials Project summary endpoint: filters and fields.

:class:`MPQuery` turns the user's filters (elements, chemical systems, band-gap range, energy above hull,
number of sites) into the query parameters that ``mp_api``'s ``SummaryRester.search`` would send for the same
filters (``elements=O,Fe``, ``band_gap_min=...``, ``nsites_max=...``), so the server sees the real client's
request. A query always carries a filter: ``deprecated=false`` is always sent (deprecated materials are not
candidates), so the request never degenerates into "everything", which mp-api would route to S3.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

#: Summary fields a candidate needs.
CANDIDATE_FIELDS: tuple[str, ...] = (
    "material_id",
    "structure",
    "formula_pretty",
    "nsites",
    "energy_above_hull",
    "band_gap",
    "formation_energy_per_atom",
)
#: Extra summary fields for training labels (bulk/shear moduli with their VRH averages, density).
LABEL_FIELDS: tuple[str, ...] = ("bulk_modulus", "shear_modulus", "density")
#: Everything one page asks for.
SUMMARY_FIELDS: tuple[str, ...] = CANDIDATE_FIELDS + LABEL_FIELDS


def _clean_elements(values: Any, what: str) -> tuple[str, ...]:
    from pymatgen.core import Element

    if values is None:
        return ()
    if isinstance(values, str):
        values = [v for v in values.replace(" ", ",").split(",") if v]
    out = []
    for v in values:
        sym = str(v).strip()
        sym = sym[:1].upper() + sym[1:].lower()
        if not Element.is_valid_symbol(sym):
            raise ValueError(f"{what}: {v!r} is not an element symbol")
        out.append(sym)
    return tuple(dict.fromkeys(out))


def _clean_chemsys(values: Any) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [v for v in values.replace(" ", ",").split(",") if v]
    out = []
    for v in values:
        parts = [p for p in str(v).split("-") if p]
        if not parts:
            raise ValueError(f"chemsys: {v!r} is empty")
        els = _clean_elements(parts, f"chemsys {v!r}")
        out.append("-".join(sorted(els)))
    return tuple(dict.fromkeys(out))


def _check_range(lo: float | None, hi: float | None, what: str, *, nonneg: bool = True) -> None:
    for x in (lo, hi):
        if x is not None and (not math.isfinite(x) or (nonneg and x < 0)):
            raise ValueError(f"{what}: {x!r} must be a finite{' non-negative' if nonneg else ''} number")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"{what}: minimum {lo} is larger than maximum {hi}")


@dataclass(frozen=True)
class MPQuery:
    """Filters of a Materials Project summary download.

    Parameters
    ----------
    elements
        Materials that contain all of these elements (``("O", "Fe")``; a string ``"O,Fe"`` is accepted).
    chemsys
        Materials in exactly one of these chemical systems (``("Fe-O", "Li-Fe-O")``).
    band_gap_min, band_gap_max
        Band-gap range in eV.
    e_above_hull_max
        Largest energy above the convex hull in eV/atom (0 = stable only).
    nsites_min, nsites_max
        Range of the number of sites in the cell.
    has_elasticity
        Only materials with elastic data (for training labels).
    """

    elements: tuple[str, ...] = ()
    chemsys: tuple[str, ...] = ()
    band_gap_min: float | None = None
    band_gap_max: float | None = None
    e_above_hull_max: float | None = None
    nsites_min: int | None = None
    nsites_max: int | None = None
    has_elasticity: bool = False
    fields: tuple[str, ...] = field(default=SUMMARY_FIELDS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "elements", _clean_elements(self.elements, "elements"))
        object.__setattr__(self, "chemsys", _clean_chemsys(self.chemsys))
        _check_range(self.band_gap_min, self.band_gap_max, "band gap")
        _check_range(None, self.e_above_hull_max, "energy above hull")
        _check_range(self.nsites_min, self.nsites_max, "number of sites")
        for name in ("nsites_min", "nsites_max"):
            v = getattr(self, name)
            if v is not None and (int(v) != v or v < 1):
                raise ValueError(f"{name}: {v!r} must be a positive integer")
        missing = [f for f in ("material_id", "structure") if f not in self.fields]
        if missing:
            raise ValueError(f"fields must include {missing}")
        object.__setattr__(self, "fields", tuple(dict.fromkeys(self.fields)))

    def criteria(self) -> dict[str, Any]:
        """The query parameters (the filter part, without paging) in mp-api's spelling."""
        c: dict[str, Any] = {"deprecated": False}
        if self.elements:
            c["elements"] = ",".join(self.elements)
        if self.chemsys:
            c["chemsys"] = ",".join(self.chemsys)
        if self.band_gap_min is not None or self.band_gap_max is not None:
            # summary.search(band_gap=(lo, hi)) always sends both ends
            c["band_gap_min"] = 0.0 if self.band_gap_min is None else float(self.band_gap_min)
            c["band_gap_max"] = 1.0e4 if self.band_gap_max is None else float(self.band_gap_max)
        if self.e_above_hull_max is not None:
            c["energy_above_hull_min"] = 0.0
            c["energy_above_hull_max"] = float(self.e_above_hull_max)
        if self.nsites_min is not None or self.nsites_max is not None:
            c["nsites_min"] = 1 if self.nsites_min is None else int(self.nsites_min)
            c["nsites_max"] = 1_000_000 if self.nsites_max is None else int(self.nsites_max)
        if self.has_elasticity:
            c["has_props"] = "elasticity"
        return c

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (stored in the download's manifest)."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MPQuery:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        for k in ("elements", "chemsys", "fields"):
            if k in d and d[k] is not None:
                d[k] = tuple(d[k])
        return cls(**d)

    def fingerprint(self) -> str:
        """A short stable hash of the criteria and fields (identifies a download)."""
        blob = json.dumps({"criteria": self.criteria(), "fields": list(self.fields)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self) -> str:
        """Human-readable one-liner of the filters."""
        parts = [f"{k}={v}" for k, v in self.criteria().items()]
        return ", ".join(parts)
