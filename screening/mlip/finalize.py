"""Formation energies, calibration and PROVENANCE from the stored shards (rerunnable at any time).

- Elemental references: for each element, the lowest energy per atom among its *tier A* labels of real
  elemental structures (the corpora; relaxed the same way as everything else), else among its prototype
  decorations; the structure that gives it, and any decoration CHGNet puts lower, are named in the provenance.
- ``e_form_raw = E/atom - sum_i x_i mu_i``; ``e_form_mp2020 = e_form_raw + (MP2020 correction per atom)``.
- The MP2020 question is decided by measurement: over formulas both we and the Materials Project have (MP value =
  minimum over its entries; ours = minimum over our tier A polymorphs), the variant with the lower MAE wins and
  ``e_form_eV_per_atom`` is that variant for every row. Offsets (mean ours - MP) and MAEs per chemistry class
  (:func:`~screening.mlip.mp_reference.chemistry_class`) for both variants go into the provenance.
- Bulk moduli of the DCDFT elements against their WIEN2k values.
- A formation energy below :data:`MIN_E_FORM` eV/atom is unphysical: the row moves to the rejects.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from screening.mlip.builder import DEFAULT_OUT, _atomic_text, read_shards, write_table_atomic
from screening.mlip.mp_reference import chemistry_class, mp_min_formation_energy

MIN_E_FORM = -5.0
#: Fewer overlapping formulas than this make the MP2020 decision provisional.
MIN_DECISION_ROWS = 50
DCDFT_FILE = Path(__file__).resolve().parents[2] / "data" / "corpora" / "ase_dcdft.parquet"

LABEL_COLUMNS = [
    "id",
    "formula",
    "scope",
    "tier",
    "source",
    "group",
    "n_sites",
    "energy_per_atom_eV",
    "e_form_eV_per_atom",
    "e_form_raw_eV_per_atom",
    "e_form_mp2020_eV_per_atom",
    "mp2020_correction_eV_per_atom",
    "bulk_modulus_GPa",
    "volume_per_atom",
    "converged",
    "n_steps",
    "n_single_points",
    "seconds",
    "chgnet_version",
    "created_at",
]
REJECT_COLUMNS = [
    "id",
    "formula",
    "scope",
    "tier",
    "source",
    "n_sites",
    "reason",
    "message",
    "seconds",
    "created_at",
]


def _fractions(formula: str) -> dict[str, float]:
    from pymatgen.core import Composition

    c = Composition(formula)
    n = c.num_atoms
    return {el.symbol: float(c[el]) / n for el in c.elements}


#: Sources whose elemental structures are hypothetical decorations: used as references only for elements that
#: no real-structure corpus covers (CHGNet puts some of them below the real phase, e.g. diamond-S below alpha-S).
HYPOTHETICAL_SOURCES = frozenset({"element_prototype"})


def elemental_references(ok: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Element -> its reference: the lowest-energy tier A label among real elemental structures.

    Real = from the structure corpora (DCDFT, AFLOW prototypes as shipped, pymatgen, pyxtal); an element without
    one falls back to its lowest prototype decoration. Each entry also records the lowest energy over *all* its
    structures, so decorations that CHGNet puts below the real phase are visible
    (``"lowest_any_eV"``, ``"lowest_any_id"``).
    """
    refs: dict[str, dict[str, Any]] = {}
    a = ok[(ok["tier"] == "A") & (ok["elements"].str.count(" ") == 0)]
    for el, grp in a.groupby("elements"):
        real = grp[~grp["source"].isin(HYPOTHETICAL_SOURCES)]
        pool = real if len(real) else grp
        best = pool.loc[pool["energy_per_atom_eV"].idxmin()]
        low = grp.loc[grp["energy_per_atom_eV"].idxmin()]
        refs[str(el)] = {
            "energy_per_atom_eV": float(best["energy_per_atom_eV"]),
            "id": str(best["id"]),
            "scope": str(best["scope"]),
            "real_structure": bool(len(real)),
            "lowest_any_eV": float(low["energy_per_atom_eV"]),
            "lowest_any_id": str(low["id"]),
        }
    return refs


def formation_energies(df: pd.DataFrame, refs: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Add ``e_form_raw_eV_per_atom`` and ``e_form_mp2020_eV_per_atom`` (NaN where a reference is missing)."""
    raw = []
    for formula, e in zip(df["formula"], df["energy_per_atom_eV"], strict=True):
        fr = _fractions(formula)
        if all(el in refs for el in fr):
            raw.append(float(e) - sum(x * refs[el]["energy_per_atom_eV"] for el, x in fr.items()))
        else:
            raw.append(math.nan)
    out = df.copy()
    out["e_form_raw_eV_per_atom"] = raw
    out["e_form_mp2020_eV_per_atom"] = out["e_form_raw_eV_per_atom"] + out["mp2020_correction_eV_per_atom"]
    return out


def compare_with_mp(df: pd.DataFrame, column: str, mp: dict[str, float]) -> dict[str, Any]:
    """Per-formula minimum of ``column`` against MP's per-formula minimum, per chemistry class (compounds only)."""
    sub = df[np.isfinite(df[column])]
    if sub.empty:
        return {"all": {"n": 0}}
    mins = sub.groupby("formula")[column].min()
    rows = []
    for formula, ours in mins.items():
        if formula in mp and len(_fractions(formula)) > 1:  # elements are 0 on both sides by construction
            rows.append((chemistry_class(set(_fractions(formula))), float(ours) - mp[formula]))
    out: dict[str, Any] = {}
    for cls in ("all", "intermetallic", "u_oxide_fluoride", "other"):
        d = np.array([x for c, x in rows if cls == "all" or c == cls])
        out[cls] = (
            {
                "n": int(d.size),
                "offset_eV_per_atom": float(d.mean()),
                "mae_eV_per_atom": float(np.abs(d).mean()),
            }
            if d.size
            else {"n": 0}
        )
    return out


def decide_mp2020(cmp_raw: dict[str, Any], cmp_corr: dict[str, Any]) -> dict[str, Any]:
    """Raw or MP2020-corrected: the one with the lower MAE over all overlapping formulas."""
    n_raw, n_corr = cmp_raw["all"]["n"], cmp_corr["all"]["n"]
    if n_raw == 0 or n_corr == 0:
        return {"apply_mp2020": False, "status": "undecided (no overlapping formulas yet): raw used", "n": 0}
    mae_raw, mae_corr = cmp_raw["all"]["mae_eV_per_atom"], cmp_corr["all"]["mae_eV_per_atom"]
    apply = mae_corr < mae_raw
    status = (
        "decided"
        if min(n_raw, n_corr) >= MIN_DECISION_ROWS
        else f"provisional (< {MIN_DECISION_ROWS} formulas)"
    )
    return {
        "apply_mp2020": bool(apply),
        "status": status,
        "rule": "lower MAE against MP per-formula minima over all overlapping formulas (tier A)",
        "mae_raw": mae_raw,
        "mae_mp2020": mae_corr,
        "n": int(min(n_raw, n_corr)),
    }


def bulk_modulus_calibration(ok: pd.DataFrame, dcdft_file: Path = DCDFT_FILE) -> dict[str, Any]:
    """DCDFT elements: our bulk modulus against WIEN2k's (``wien2k_B``)."""
    import pyarrow.parquet as pq

    if not dcdft_file.is_file():
        return {"n": 0}
    ref = pq.read_table(dcdft_file, columns=["candidate_id", "bulk_modulus_gpa"]).to_pandas()
    ref["id"] = "A:ase_dcdft:" + ref["candidate_id"]
    m = ok.merge(ref, on="id")
    m = m[np.isfinite(m["bulk_modulus_GPa"]) & (m["bulk_modulus_gpa"] > 0)]
    if m.empty:
        return {"n": 0}
    d = m["bulk_modulus_GPa"] - m["bulk_modulus_gpa"]
    ratio = m["bulk_modulus_GPa"] / m["bulk_modulus_gpa"]
    return {
        "n": int(len(m)),
        "offset_GPa": float(d.mean()),
        "mae_GPa": float(d.abs().mean()),
        "median_ratio": float(ratio.median()),
        "mae_log10": float(np.abs(np.log10(ratio[ratio > 0])).mean()),
    }


def finalize(out: Path = DEFAULT_OUT, *, mp: dict[str, float] | None = None) -> dict[str, Any]:
    """Write ``labels.parquet``, ``rejects.parquet``, ``provenance.json`` and ``PROVENANCE.md`` from the shards."""
    out = Path(out)
    df = read_shards(out)
    df = df.drop_duplicates("id", keep="last").reset_index(drop=True)
    mp = mp_min_formation_energy() if mp is None else mp
    ok = df[df["status"] == "ok"].copy()
    rej = df[df["status"] != "ok"].copy()
    refs = elemental_references(ok)
    ok = formation_energies(ok, refs)
    bad = ok["e_form_raw_eV_per_atom"] < MIN_E_FORM
    if bad.any():
        moved = ok[bad].copy()
        moved["status"] = "reject"
        moved["reason"] = "unphysical"
        moved["message"] = [
            f"formation energy {x:.2f} eV/atom < {MIN_E_FORM}" for x in moved["e_form_raw_eV_per_atom"]
        ]
        rej = pd.concat([rej, moved[rej.columns]], ignore_index=True)
        ok = ok[~bad]
    a = ok[ok["tier"] == "A"]
    cmp_raw = compare_with_mp(a, "e_form_raw_eV_per_atom", mp)
    cmp_corr = compare_with_mp(a, "e_form_mp2020_eV_per_atom", mp)
    decision = decide_mp2020(cmp_raw, cmp_corr)
    chosen = "e_form_mp2020_eV_per_atom" if decision["apply_mp2020"] else "e_form_raw_eV_per_atom"
    ok["e_form_eV_per_atom"] = ok[chosen]
    b = ok[ok["tier"] == "B"]
    cal_b = {
        "raw": compare_with_mp(b, "e_form_raw_eV_per_atom", mp),
        "mp2020": compare_with_mp(b, "e_form_mp2020_eV_per_atom", mp),
    }
    bulk = bulk_modulus_calibration(ok)

    labels = ok[LABEL_COLUMNS].sort_values(["tier", "id"]).reset_index(drop=True)
    rejects = rej[REJECT_COLUMNS].sort_values(["tier", "id"]).reset_index(drop=True)
    write_table_atomic(pa.Table.from_pandas(labels, preserve_index=False), out / "labels.parquet")
    write_table_atomic(pa.Table.from_pandas(rejects, preserve_index=False), out / "rejects.parquet")

    job = json.loads((out / "job.json").read_text()) if (out / "job.json").is_file() else {}
    cost = {}
    for tier, grp in df.groupby("tier"):
        cost[str(tier)] = {
            "structures": int(len(grp)),
            "cpu_seconds": float(grp["seconds"].sum()),
            "median_seconds": float(grp["seconds"].median()),
            "median_steps": float(grp["n_steps"].median()),
            "max_steps": int(grp["n_steps"].max()),
            "single_points": int(grp["n_single_points"].sum()),
        }
    prov = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "chgnet_version": sorted(set(df["chgnet_version"].dropna())),
        "job": job,
        "counts": {
            "rows": int(len(df)),
            "labels": {str(k): int(v) for k, v in labels["tier"].value_counts().sort_index().items()},
            "labels_missing_reference": int(labels["e_form_raw_eV_per_atom"].isna().sum()),
            "rejects_by_reason": {
                f"{t}:{r}": int(n)
                for (t, r), n in sorted(Counter(zip(rejects["tier"], rejects["reason"], strict=True)).items())
            },
        },
        "elemental_references": refs,
        "mp2020_decision": decision,
        "mp_calibration_tier_A": {"raw": cmp_raw, "mp2020": cmp_corr},
        "mp_calibration_tier_B": cal_b,
        "bulk_modulus_vs_wien2k": bulk,
        "cost": cost,
        "min_e_form_eV_per_atom": MIN_E_FORM,
    }
    _atomic_text(out / "provenance.json", json.dumps(prov, indent=1, sort_keys=True, default=float))
    _atomic_text(out / "PROVENANCE.md", provenance_markdown(prov))
    return prov


def _cal_table(cal: dict[str, Any]) -> list[str]:
    lines = ["| class | variant | n | offset (ours - MP) eV/atom | MAE eV/atom |", "|---|---|---|---|---|"]
    for cls in ("all", "intermetallic", "u_oxide_fluoride", "other"):
        for variant in ("raw", "mp2020"):
            c = cal[variant].get(cls, {"n": 0})
            if c["n"]:
                lines.append(
                    f"| {cls} | {variant} | {c['n']} | {c['offset_eV_per_atom']:+.3f} | {c['mae_eV_per_atom']:.3f} |"
                )
            else:
                lines.append(f"| {cls} | {variant} | 0 | | |")
    return lines


def provenance_markdown(prov: dict[str, Any]) -> str:
    """PROVENANCE.md from the provenance dict (every number comes from the data)."""
    job = prov.get("job", {})
    d = prov["mp2020_decision"]
    lines = [
        "# CHGNet structure-level labels",
        "",
        "Written by `cloud build-mlip-labels` (finalize step; rerun with `cloud build-mlip-labels --finalize-only`).",
        f"Generated {prov['created_at']}. Potential: {', '.join(prov['chgnet_version']) or 'n/a'}.",
        "",
        "Tier A: relaxation of cell + positions under ASE FixSymmetry (FIRE), label = relaxed energy, bulk modulus",
        "from a Birch-Murnaghan fit of E(V) around the relaxed volume. Tier B: volume-only E(V) (isotropic scaling,",
        "fixed fractional coordinates), label = fitted minimum. Every row's `scope` is the SCOPE string of its input",
        "structure; a relaxation whose SCOPE string changed is a reject (`symmetry_changed`).",
        "",
        "## Settings",
        "",
        "```json",
        json.dumps(job.get("settings", {}), indent=1, sort_keys=True),
        "```",
        "",
        f"Work list: {json.dumps(job.get('worklist', {}), sort_keys=True)}",
        "",
        "## Counts",
        "",
        f"- rows: {prov['counts']['rows']}; labels per tier: {prov['counts']['labels']}; labels without an "
        f"elemental reference (no formation energy): {prov['counts']['labels_missing_reference']}",
        f"- rejects by tier:reason: {prov['counts']['rejects_by_reason']}",
        "",
        "## MP2020 corrections: decided by measurement",
        "",
        f"- decision: apply MP2020 = {d['apply_mp2020']} ({d['status']}); rule: {d.get('rule', '-')}",
        f"- `e_form_eV_per_atom` = {'e_form_mp2020_eV_per_atom' if d['apply_mp2020'] else 'e_form_raw_eV_per_atom'}",
        "",
        "Against MP per-formula minimum formation energies (crabnet matbench mp_e_form), tier A:",
        "",
        *_cal_table(prov["mp_calibration_tier_A"]),
        "",
        "Tier B:",
        "",
        *_cal_table(prov["mp_calibration_tier_B"]),
        "",
        "## Bulk modulus against DCDFT (WIEN2k)",
        "",
        f"{json.dumps(prov['bulk_modulus_vs_wien2k'], sort_keys=True)}",
        "",
        "## Cost",
        "",
        f"{json.dumps(prov['cost'], sort_keys=True)}",
        "",
        "## Elemental references",
        "",
        "Lowest real elemental structure (corpora); a prototype decoration only where no corpus has the element.",
        "Where CHGNet puts a hypothetical decoration lower, it is named (a CHGNet artefact, not the reference).",
        "",
        "| element | E/atom eV | id | lower decoration (eV/atom below) |",
        "|---|---|---|---|",
        *[
            f"| {el} | {r['energy_per_atom_eV']:.4f} | {r['id']} | "
            + (
                f"{r['lowest_any_id']} ({r['energy_per_atom_eV'] - r['lowest_any_eV']:.3f})"
                if r.get("lowest_any_id", r["id"]) != r["id"]
                else ""
            )
            + " |"
            for el, r in sorted(prov["elemental_references"].items())
        ],
        "",
    ]
    return "\n".join(lines)
