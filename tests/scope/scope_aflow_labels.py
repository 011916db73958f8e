"""Test helper: read the AFLOW prototype library that pymatgen ships and parse its AFLOW labels.

Kept independent of the encoder: the labels' letters come from AFLOW, the relabelings straight from pymatgen's
JSON table.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from functools import cache
from importlib.util import find_spec
from pathlib import Path

_WYCKOFF = re.compile(r"(\d*)([a-zA-Z])")


def _prototypes_dir() -> Path:
    spec = find_spec("pymatgen")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "analysis" / "prototypes"


@cache
def aflow_library() -> list[dict]:
    """The 288 entries: ``{"structure": Structure, "tags": {...}}``."""
    from monty.serialization import loadfn

    entries = loadfn(str(_prototypes_dir() / "aflow_prototypes.json.gz"))
    return [{"structure": e["snl"].structure, "tags": e["tags"]} for e in entries]


@cache
def raw_relabelings() -> dict[str, list[dict[str, str]]]:
    with gzip.open(_prototypes_dir() / "wyckoff-position-relabelings.json.gz", "rt") as fh:
        data = json.load(fh)
    return {sg: [{chr(int(k)): v for k, v in m.items()} for m in maps] for sg, maps in data.items()}


def parse_aflow_label(label: str, elements_alphabetical: list[str]) -> tuple[int, dict[str, Counter[str]]]:
    """Space group and per-element Counter of Wyckoff letters of an AFLOW label such as ``AB3C_cP5_221_a_c_b``."""
    parts = label.split("_")
    number = int(parts[2])
    wyckoff_parts = parts[3:]
    assert len(wyckoff_parts) == len(elements_alphabetical), (label, elements_alphabetical)
    letters: dict[str, Counter[str]] = {}
    for el, text in zip(elements_alphabetical, wyckoff_parts, strict=True):
        c: Counter[str] = Counter()
        for count, letter in _WYCKOFF.findall(text):
            c[letter] += int(count) if count else 1
        letters[el] = c
    return number, letters


def aflow_entry(label: str) -> dict:
    """The library entry with this AFLOW label (the first if several share it)."""
    for entry in aflow_library():
        if entry["tags"]["aflow"] == label:
            return entry
    raise KeyError(label)


def elements_alphabetical(structure) -> list[str]:
    return sorted({site.specie.symbol for site in structure})


def letters_equivalent(number: int, a: dict[str, Counter[str]], b: dict[str, Counter[str]]) -> bool:
    """True when some relabeling of pymatgen's table maps the per-element letters ``a`` onto ``b``."""
    if set(a) != set(b):
        return False
    for mapping in raw_relabelings()[str(number)]:
        mapped = {el: Counter({mapping.get(k, k): n for k, n in c.items()}) for el, c in a.items()}
        if mapped == b:
            return True
    return False
