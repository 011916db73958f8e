"""Agreement of SCOPE with the AFLOW labels of the 288 prototypes pymatgen ships.

A prototype agrees when SCOPE's space group equals the AFLOW label's and, after canonicalising the AFLOW
label's letters with the same canonicaliser, every element has the same multiset of Wyckoff positions.
Also records where moyopy and spglib give different SCOPE strings. Writes
``bench/results/scope_aflow_agreement.json`` and prints a summary with every exception.

Usage: ``python bench/scope_aflow_agreement.py [--symprec 0.01]``
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import time
from collections import Counter
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "scope_aflow_agreement.json"
_WYCKOFF = re.compile(r"(\d*)([a-zA-Z])")


def load_prototypes() -> list[dict]:
    """The AFLOW prototype library shipped by pymatgen (structure + tags)."""
    from monty.serialization import loadfn

    spec = find_spec("pymatgen")
    assert spec is not None and spec.submodule_search_locations
    path = (
        Path(next(iter(spec.submodule_search_locations)))
        / "analysis"
        / "prototypes"
        / "aflow_prototypes.json.gz"
    )
    return [{"structure": e["snl"].structure, "tags": e["tags"]} for e in loadfn(str(path))]


def aflow_orbits(label: str, structure) -> tuple[int, list[tuple[str, str]]]:
    """Space group and ``(element, letter)`` per orbit of an AFLOW label (elements in alphabetical order).

    A label with a single Wyckoff group for a structure with several elements (the sigma phase, whose
    structure uses different elements only to tell its positions apart) gives element ``"*"`` to every orbit.
    """
    parts = label.split("_")
    number = int(parts[2])
    elements = sorted({site.specie.symbol for site in structure})
    if len(parts) - 3 == 1 and len(elements) > 1:
        elements = ["*"]
    elif len(elements) != len(parts) - 3:
        raise ValueError(f"label {label} has {len(parts) - 3} Wyckoff groups for {len(elements)} elements")
    orbits = []
    for el, text in zip(elements, parts[3:], strict=True):
        for count, letter in _WYCKOFF.findall(text):
            orbits += [(el, letter)] * (int(count) if count else 1)
    return number, orbits


def per_element(orbits) -> dict[str, list[str]]:
    out: dict[str, Counter[str]] = {}
    for o in orbits:
        out.setdefault(o.element, Counter())[o.wyckoff] += 1
    return {el: sorted(c.elements()) for el, c in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--symprec", type=float, default=0.01)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from cloud_core.scope import ScopeError, canonical_orbits, encode

    prototypes = load_prototypes()
    rows = []
    t0 = time.perf_counter()
    for i, entry in enumerate(prototypes):
        label = entry["tags"]["aflow"]
        structure = entry["structure"]
        row: dict = {"index": i, "aflow": label, "formula": structure.composition.reduced_formula}
        number, raw = aflow_orbits(label, structure)
        blind = raw[0][0] == "*"
        if blind:
            row["note"] = "AFLOW label names no elements: compared element-blind Wyckoff multisets"
            raw = [("H", letter) for _el, letter in raw]
        try:
            expected = canonical_orbits(number, raw)
        except KeyError as exc:
            expected = None
            row["aflow_label_problem"] = str(exc)
        try:
            rec = encode(structure, symprec=args.symprec)
            rec_spglib = encode(structure, symprec=args.symprec, backend="spglib")
        except ScopeError as exc:
            row.update(agree=False, error=f"{exc.reason}: {exc.message}")
            rows.append(row)
            continue
        row.update(
            scope=rec.to_string(),
            spacegroup=rec.spacegroup,
            aflow_spacegroup=number,
            symprec_used=rec.symprec,
            spglib_same=rec == rec_spglib,
        )
        if rec != rec_spglib:
            row["scope_spglib"] = rec_spglib.to_string()
        same_sg = rec.spacegroup == number
        ours = rec.orbits
        if blind and same_sg:
            ours = canonical_orbits(number, [("H", o.letter) for o in rec.orbits])
        same_wyckoff = expected is not None and per_element(ours) == per_element(expected)
        row.update(same_spacegroup=same_sg, same_wyckoff=same_wyckoff, agree=same_sg and same_wyckoff)
        if not row["agree"]:
            row["aflow_canonical"] = (
                " ".join(f"{o.element} {o.wyckoff}" for o in expected) if expected is not None else None
            )
            if same_sg:
                row["why"] = "same space group, different Wyckoff multiset"
            else:
                # does a looser / tighter tolerance recover AFLOW's group?
                found = {}
                for tol in (1e-4, 1e-3, 0.05, 0.1, 0.2):
                    try:
                        found[str(tol)] = encode(structure, symprec=tol).spacegroup
                    except ScopeError as exc:
                        found[str(tol)] = str(exc.reason)
                row["spacegroup_by_symprec"] = found
                higher = [t for t, sg in found.items() if sg == number]
                row["why"] = (
                    f"at symprec {args.symprec} the structure has space group {rec.spacegroup}; AFLOW's {number} "
                    + (
                        f"is found at symprec {', '.join(higher)}"
                        if higher
                        else "is not found at 1e-4 ... 0.2"
                    )
                )
        rows.append(row)
    elapsed = time.perf_counter() - t0

    # for information: the same agreement if every prototype were encoded at another first tolerance
    other_symprecs = {}
    for tol in (0.001, 0.1):
        ok = 0
        for entry in prototypes:
            number, raw = aflow_orbits(entry["tags"]["aflow"], entry["structure"])
            try:
                rec = encode(entry["structure"], symprec=tol)
            except ScopeError:
                continue
            if rec.spacegroup != number:
                continue
            if raw[0][0] == "*":
                ours = canonical_orbits(number, [("H", o.letter) for o in rec.orbits])
                ref = canonical_orbits(number, [("H", letter) for _el, letter in raw])
            else:
                ours, ref = rec.orbits, canonical_orbits(number, raw)
            ok += per_element(ours) == per_element(ref)
        other_symprecs[str(tol)] = {"agree": ok, "agreement": ok / len(rows)}

    n = len(rows)
    agree = sum(r["agree"] for r in rows)
    same_sg = sum(bool(r.get("same_spacegroup")) for r in rows)
    spglib_same = sum(bool(r.get("spglib_same")) for r in rows)
    exceptions = [r for r in rows if not r["agree"]]
    summary = {
        "n_prototypes": n,
        "symprec": args.symprec,
        "agree": agree,
        "agreement": agree / n,
        "same_spacegroup": same_sg,
        "same_spacegroup_fraction": same_sg / n,
        "moyopy_spglib_same_scope": spglib_same,
        "agreement_at_other_symprecs": other_symprecs,
        "exceptions": exceptions,
        "moyopy_spglib_differences": [r for r in rows if r.get("spglib_same") is False],
        "seconds": round(elapsed, 2),
        "versions": {p: version(p) for p in ("pymatgen", "moyopy", "spglib")},
        "python": platform.python_version(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=1) + "\n")
    tmp.replace(args.out)

    print(f"AFLOW prototypes: {n}   symprec {args.symprec}")
    print(f"same space group:                  {same_sg:4d}  ({same_sg / n:.2%})")
    print(f"same group + per-element Wyckoff:  {agree:4d}  ({agree / n:.2%})")
    print(f"moyopy and spglib same SCOPE:      {spglib_same:4d}  ({spglib_same / n:.2%})")
    for tol, res in other_symprecs.items():
        print(f"  (for information, at symprec {tol}: {res['agree']} agree, {res['agreement']:.2%})")
    for r in exceptions:
        print(f"  exception #{r['index']} {r['aflow']} ({r['formula']}): {r.get('why') or r.get('error')}")
        if "scope" in r:
            print(f"      SCOPE: {r['scope']}\n      AFLOW: {r.get('aflow_canonical')}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
