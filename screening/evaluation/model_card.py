"""The shipped checkpoint's MODEL_CARD.md, generated from metrics files (never typed by hand).

Inputs (all JSON, all written by scripts):

- ``bench/results/eval_baselines.json`` (``bench/eval_baselines.py``): dummy, ridge and gradient boosting per
  task and fold;
- ``bench/results/eval_checkpoint.json`` (``bench/eval_checkpoint.py``): CLOUD per fold, pre-training ablation;
- ``<checkpoint>/metrics.json`` (``bench/eval_checkpoint.py --ship``): the shipped model's training record and
  sample predictions; its ``stability`` record (``bench/eval_checkpoint.py stability``);
- ``<checkpoint>/config.json`` and ``data/labels/manifest.json``.

Run ``python -m screening.evaluation.model_card`` to rewrite ``cloud_core/data/checkpoints/default/MODEL_CARD.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from screening.corpora.labels import TASKS, Task
from screening.evaluation.metrics_file import read_json
from screening.evaluation.published import PUBLISHED_MAE
from screening.evaluation.published import SOURCE as PUBLISHED_SOURCE
from screening.evaluation.stability import METRICS_KEY as STABILITY_KEY
from screening.evaluation.stability import stability_lines
from screening.settings import PROJECT_ROOT

DEFAULT_CHECKPOINT = PROJECT_ROOT / "cloud_core" / "data" / "checkpoints" / "default"
DEFAULT_BASELINES = PROJECT_ROOT / "bench" / "results" / "eval_baselines.json"
DEFAULT_CLOUD = PROJECT_ROOT / "bench" / "results" / "eval_checkpoint.json"
DEFAULT_LABELS_MANIFEST = PROJECT_ROOT / "data" / "labels" / "manifest.json"
DEFAULT_MLIP_PROVENANCE = PROJECT_ROOT / "data" / "mlip_labels" / "provenance.json"
DEFAULT_PHYSICS = PROJECT_ROOT / "bench" / "results" / "physics_checks.json"

#: tasks shown in the main table, in this order
MAIN_TASKS = (
    Task.E_FORM,
    Task.BAND_GAP,
    Task.LOG10_K_VRH,
    Task.LOG10_G_VRH,
    Task.AFLOW_DEBYE,
    Task.AFLOW_KAPPA,
    Task.AFLOW_THERMAL_EXPANSION,
)


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, int):
        return f"{x:,}"
    ax = abs(x)
    if ax >= 100:
        return f"{x:,.0f}" if ax >= 1000 else f"{x:.1f}"
    if ax >= 10:
        return f"{x:.2f}"
    return f"{x:.{digits}f}" if ax >= 0.1 else f"{x:.4f}"


def _pm(summary: dict[str, Any] | None) -> str:
    if not summary or not summary.get("n"):
        return "not evaluated"
    if summary["n"] > 1:
        return f"{_fmt(summary['mean'])} ± {_fmt(summary['std'])} ({summary['n']})"
    return f"{_fmt(summary['mean'])} (1)"


def _load_optional(path: Path) -> dict[str, Any] | None:
    return read_json(path) if path.is_file() else None


def _gbm_note(baselines: dict[str, Any]) -> str:
    gp = baselines.get("gbm_params")
    if not gp:
        return "† Gradient boosting: not in the baselines file (rerun `bench/eval_baselines.py`)."
    return (
        f"† Gradient boosting: {gp.get('library')} on element fractions and fraction-weighted mean, mean "
        "absolute deviation, min, max and range of crabnet's 22 Magpie element properties "
        f"(`cloud_core.composition`); up to {_fmt(gp.get('n_estimators_max'))} trees of "
        f"{gp.get('num_leaves')} leaves, learning rate {gp.get('learning_rate')}, objective "
        f"`{gp.get('objective')}`, early stopping ({gp.get('early_stopping_rounds')} rounds) on a seeded "
        f"{100 * (gp.get('val_fraction') or 0):.0f}% hold-out of the training rows; same folds and leakage rule as the "
        "other columns. The composition-only anchor CLOUD has to beat."
    )


def _fidelity_text(config: dict[str, Any] | None) -> str:
    targets = (config or {}).get("targets", [])
    via = {t["name"]: t["structure_via"] for t in targets if t.get("structure_via")}
    if not via:
        return (
            "Every fine-tuning label is composition-level (`? | - | Fe 2 O 3`): the heads learned composition -> "
            "property, full-structure inputs are out of their training distribution and polymorphs are not "
            "resolved."
        )
    (name, mlip), *_ = via.items()
    return (
        f"Two fidelities. The composition labels (Materials Project / AFLOW DFT, one value per formula; `{name}` "
        "is each formula's ground state) enter as the symmetry-unknown SCOPE form `? | - | Fe 2 O 3`. The CHGNet "
        f"labels (`{mlip}`, per relaxed structure, full SCOPE strings) train a second formation-energy head, also "
        "on each formula's CHGNet minimum at composition level. For a full structure `s` with composition string "
        f"`c` the Predictor returns `{name}(s) = {name}(c) + {mlip}(s) - {mlip}(c)`: the DFT-fidelity ground state "
        "plus how far CHGNet puts the structure above it (one more encoder pass, on `c`). A pure element's "
        "composition-level formation energy is 0 by definition (its own reference). Every other target was "
        "fine-tuned on composition labels only and is predicted from `c` for every input: polymorphs tie on it "
        "(`cloud_core.model.structure_term`)."
    )


def _mlip_text(mlip: dict[str, Any] | None) -> str:
    if not mlip:
        return "No CHGNet structure labels (`data/mlip_labels/`) were found."
    counts = mlip.get("counts", {})
    labels = counts.get("labels", {})
    cal = mlip.get("mp_calibration_tier_A") or {}
    dec = mlip.get("mp2020_decision") or {}
    used = "mp2020" if dec.get("apply_mp2020") else "raw"
    per = ", ".join(f"{k} MAE {_fmt(v.get('mae_eV_per_atom'))} (n={v.get('n')})"
                    for k, v in (cal.get(used) or {}).items())  # fmt: skip
    bm = mlip.get("bulk_modulus_vs_wien2k") or {}
    return (
        f"CHGNet structure labels (`data/mlip_labels/`, `cloud build-mlip-labels`, {', '.join(mlip.get('chgnet_version', []))}): "
        f"tier A (full relaxations under a symmetry constraint) {labels.get('A', 0):,} structures, tier B (volume-only "
        f"equation of state on the bundled pool) {labels.get('B', 0):,} so far; rejects by reason "
        f"{counts.get('rejects_by_reason', {})}. Materials Project 2020 corrections: "
        f"{'applied' if dec.get('apply_mp2020') else 'not applied'} (MAE against MP per-formula minima "
        f"{_fmt(dec.get('mae_raw'))} raw vs {_fmt(dec.get('mae_mp2020'))} corrected, n={dec.get('n')}); per class "
        f"({used}): {per}. Bulk moduli vs DCDFT WIEN2k: MAE {_fmt(bm.get('mae_GPa'))} GPa (n={bm.get('n')}). "
        "Training uses tier A only (tier B is another fidelity, not yet used)."
    )


def _extra_sections(cloud: dict[str, Any] | None, physics: dict[str, Any] | None) -> list[str]:
    """Per-fold uncertainty calibration, the blend ablation, the family hold-out and the physical checks."""
    out: list[str] = []
    runs = [r for r in (cloud or {}).get("runs", []) if r.get("fold") is not None and r.get("seed") == 0]
    runs = [
        r
        for r in runs
        if r.get("variant") == (cloud or {}).get("protocol", {}).get("init_variant", r["variant"])
    ]
    if runs:
        out += ["### Uncertainty calibration (held-out folds)", "",
                "Predicted standard deviation `<target>_std` vs the absolute error on each fold's test rows (scaling "
                "fitted on the validation split of the training fold). Target: 1-sigma coverage 0.60-0.76, 2-sigma "
                "0.90-0.98, Spearman(sigma, |error|) >= 0.2.", "",
                "| task | fold | MAE | 1-sigma coverage | 2-sigma coverage | Spearman(sigma, abs error) | median sigma |",
                "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for r in sorted(runs, key=lambda r: r["fold"]):
            for task, m in r.get("metrics", {}).items():
                out.append(f"| `{task}` | {r['fold']} | {_fmt(m.get('mae'))} | {_fmt(m.get('coverage_1sigma'))} | "
                           f"{_fmt(m.get('coverage_2sigma'))} | {_fmt(m.get('spearman_sigma_error'))} | "
                           f"{_fmt(m.get('median_sigma'))} |")  # fmt: skip
        out.append("")
        if any(r.get("metrics_member") for r in runs):
            out += ["### The declared gradient-boosting member: ablation", "",
                    "Test MAE of the network alone, the LightGBM member alone and their blend (what the Predictor "
                    "returns), same rows.", "", "| task | fold | network | member | blend |", "|---|---:|---:|---:|---:|"]  # fmt: skip
            for r in sorted(runs, key=lambda r: r["fold"]):
                for task, m in r.get("metrics", {}).items():
                    net = (r.get("metrics_network") or {}).get(task, {}).get("mae")
                    mem = (r.get("metrics_member") or {}).get(task, {}).get("mae")
                    out.append(
                        f"| `{task}` | {r['fold']} | {_fmt(net)} | {_fmt(mem)} | {_fmt(m.get('mae'))} |"
                    )
            out.append("")
    for fam in (cloud or {}).get("family", []):
        out += [f"### Out of distribution: {fam['name']} held out of training", "",
                f"One run on fold {fam['fold']} ({fam.get('steps')} steps) with every {fam['name']} compound removed "
                "from all training tables; median predicted sigma on the fold's test rows inside the family vs the "
                "others (target: ratio >= 1.5).", "",
                "| task | rows in family | median sigma in family | median sigma others | ratio | MAE in family | MAE others |",
                "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for task, m in fam.items():
            if isinstance(m, dict):
                out.append(f"| `{task}` | {m['n_family']} | {_fmt(m['median_sigma_family'])} | "
                           f"{_fmt(m['median_sigma_other'])} | {_fmt(m['sigma_ratio'])} | {_fmt(m['mae_family'])} | "
                           f"{_fmt(m['mae_other'])} |")  # fmt: skip
        out.append("")
    if physics and physics.get("summary"):
        sm = physics["summary"]
        out += ["### Physical checks (`bench/physics_checks.py`, committed check sets in `data/checks/`)", "",
                f"Checkpoint `{str(physics.get('model_id', '?'))[:12]}`.", ""]  # fmt: skip
        el, pe = sm.get("elements", {}), sm.get("pool_elements", {})
        out.append(f"- Elemental ground states (n={el.get('n')}): median |e_form| {_fmt(el.get('median_abs_e_form'))}, "
                   f"max {_fmt(el.get('max_abs_e_form'))} eV/atom (target <= 0.05 / <= 0.15): "
                   f"{'pass' if el.get('pass') else 'FAIL'}.")  # fmt: skip
        out.append(f"- Pool elemental candidates (n={pe.get('n')}): {_fmt(pe.get('fraction_e_form_ge_-0.05'))} predict "
                   f">= -0.05 eV/atom (target 0.95): {'pass' if pe.get('pass') else 'FAIL'}.")  # fmt: skip
        fc = sm.get("famous_crystals", {})
        for kind in ("metal", "insulator"):
            k = fc.get(kind, {})
            out.append(f"- Famous {kind}s (n={k.get('n')}): {_fmt(k.get('fraction_ok'))} on the right side "
                       f"(target 0.9): {'pass' if k.get('pass') else 'FAIL'}.")  # fmt: skip
        ps = sm.get("physical_signs", {})
        out.append(f"- Signs over {ps.get('n_strings')} strings: {ps.get('negative_band_gap')} negative band gaps, "
                   f"{ps.get('negative_theta_K')} negative Debye temperatures.")  # fmt: skip
        po = sm.get("polymorphs", {})
        if po:
            c, h = po.get("clear_pairs", {}), po.get("held_out_clear", {})
            out.append(f"- Polymorph pairs (CHGNet energy differences): {c.get('correct')}/{c.get('n')} clear pairs "
                       f"(|dE| >= 50 meV/atom) ordered correctly (target 0.85), held-out clear pairs "
                       f"{h.get('correct')}/{h.get('n')} (target 0.75), near-degenerate "
                       f"{po.get('near_degenerate', {}).get('correct')}/{po.get('near_degenerate', {}).get('n')}; "
                       f"ties {po.get('ties')}: {'pass' if po.get('pass') else 'FAIL'}.")  # fmt: skip
            fams = po.get("per_family_clear", {})
            if fams:
                out.append("  Per family (clear pairs): " + ", ".join(
                    f"{k} {v.get('correct')}/{v.get('n')}" for k, v in fams.items()) + ".")  # fmt: skip
        out.append("")
    return out


def render(
    baselines: dict[str, Any],
    cloud: dict[str, Any] | None,
    shipped: dict[str, Any] | None,
    config: dict[str, Any] | None,
    labels_manifest: dict[str, Any] | None,
    mlip: dict[str, Any] | None = None,
    physics: dict[str, Any] | None = None,
) -> str:
    """The model card's markdown from the metrics dictionaries (``None`` where a file does not exist yet)."""
    L: list[str] = []
    add = L.append
    model = (config or {}).get("model", {})
    add("# CLOUD default checkpoint: model card")
    add("")
    add("Generated by `python -m screening.evaluation.model_card` from metrics files; do not edit by hand.")
    add("")
    add("## Model")
    add("")
    if shipped:
        add(f"- Model id (sha256 of weights + config): `{shipped.get('model_id', '?')}`")
    if model:
        add(
            f"- Encoder: size `{model.get('size')}`, {model.get('n_layers')} layers, hidden {model.get('d_model')}, "
            f"{model.get('n_heads')} heads, FFN {model.get('d_ff')}, max length {model.get('max_len')}"
            + (f", {shipped['n_params']:,} parameters" if shipped and shipped.get("n_params") else "")
        )
        heads = ", ".join(f"`{h['name']}` ({h['kind']})" for h in model.get("heads", []))
        add(f"- Heads: {heads or 'none'}")
    for t in (config or {}).get("targets", []):
        add(f"  - `{t['name']}`: {t.get('kind', 'regression')}, unit {t.get('unit') or '?'}")
    if not model:
        add("- No shipped checkpoint config found.")
    add("")
    add("## Intended use and what the model reads")
    add("")
    add(
        "Screening: fast first-pass estimates of formation energy, band gap, log10 bulk and shear modulus, the "
        "elastic (AEL) Debye temperature, lattice thermal conductivity and thermal expansion for large candidate "
        "pools, to rank candidates for DFT or phonon follow-up; not a replacement for either."
    )
    add("")
    add(_fidelity_text(config))
    add("")
    add("## Training data and provenance")
    add("")
    if labels_manifest:
        add(
            f"Label sets: `data/labels/` ({labels_manifest.get('source', '')}; see `data/labels/PROVENANCE.md`)."
        )
        add("")
        add("| label set | rows | unit | original source |")
        add("|---|---:|---|---|")
        for name, t in labels_manifest.get("tasks", {}).items():
            add(f"| `{name}` | {t['rows']:,} | {t['unit']} | {t['original']} |")
        add("")
    add(_mlip_text(mlip))
    add("")
    shipped_from = ((config or {}).get("provenance") or {}).get("shipped_from")
    if shipped:
        tr = shipped.get("train", {})
        if tr.get("rows"):
            rows = ", ".join(f"`{k}` {v:,}" for k, v in tr["rows"].items())
            if shipped_from and shipped_from != "ship":
                add(f"The shipped model is the evaluation run `{shipped_from}`: fine-tuned on that fold's training rows "
                    f"only ({rows}); its test formulas were never seen.")  # fmt: skip
            else:
                add(
                    f"The shipped model was fine-tuned on all rows of every fold (no test set held out): {rows}."
                )
        member = (config or {}).get("gbm_blend") or {}
        if member:
            add("")
            add(
                "**Declared gradient-boosting member.** Next to the network, the checkpoint carries one LightGBM "
                "model per target on composition features (`gbm/`); the Predictor blends them per target with "
                "weights chosen on the validation split (`cloud_core.model.gbm_member`). Blend weights of the "
                "member: "
                + ", ".join(f"`{b['target']}` {b['weight']:.2f}" for b in member.get("blends", []))
                + ". A weight of 1 means that target is the member alone (composition only: polymorphs tie)."
            )
        pre = tr.get("pretrain") or {}
        if pre:
            add(
                f"Pre-training: masked-language modelling on {_fmt(pre.get('rows'))} SCOPE strings "
                f"({pre.get('corpus', '?')}), {_fmt(pre.get('steps'))} steps of batch {_fmt(pre.get('batch_size'))}"
                + (f", final MLM loss {_fmt(pre['final_loss'])}" if pre.get("final_loss") is not None else "")
                + "."
            )
        add("")
    add("## Compute")
    add("")
    if shipped:
        tr = shipped.get("train", {})
        add(
            f"- Shipped model: {tr.get('device', '?')}; pre-training {_fmt(tr.get('pretrain_seconds'))} s, "
            f"fine-tuning {_fmt(tr.get('finetune_seconds'))} s (wall clock, shared machine)."
        )
    if cloud:
        meta = cloud.get("meta", {})
        secs = sum(r.get("train_seconds", 0.0) for r in cloud.get("runs", []))
        add(
            f"- Evaluation runs: {len(cloud.get('runs', []))} fine-tunings, {_fmt(secs)} s of training in all, on "
            f"{meta.get('machine', '?')} (torch {meta.get('torch', '?')}, "
            f"{cloud.get('protocol', {}).get('threads', '?')} torch thread per run, several runs side by side)."
        )
    if cloud and cloud.get("protocol", {}).get("finetune_steps"):
        pr = cloud["protocol"]
        add(
            f"- Each evaluation fine-tuning: {pr['finetune_steps']} steps of batch {pr.get('finetune_batch')}, "
            f"learning rate {pr.get('finetune_lr')}, size `{pr.get('size')}`; pre-training: "
            f"{_fmt((pr.get('pretrain') or {}).get('steps'))} steps of batch {pr.get('pretrain_batch')}."
        )
    if shipped and shipped.get("train", {}).get("finetune", {}).get("steps"):
        ft = shipped["train"]["finetune"]
        add(
            f"- Shipped model fine-tuning: {ft['steps']} steps of batch {ft.get('batch_size')} (best validation step {ft.get('best_step')})."
        )
    if not shipped and not cloud:
        add("- No training record yet.")
    add("")
    add("## Evaluation")
    add("")
    if shipped_from and shipped_from != "ship":
        add(f"**The shipped model is the evaluated run `{shipped_from}`**: its numbers below are held-out numbers "
            "of the shipped weights themselves.")  # fmt: skip
    else:
        add(
            "**The shipped model (trained on all data) is not the model evaluated here.** Each fold's numbers come "
            "from a model of the same size and recipe trained on that fold's training rows only."
        )
    add("")
    proto = (cloud or {}).get("protocol", {})
    folds_cloud = proto.get("folds")
    add(
        "Folds: the 5 formula-deduplicated folds that ship with crabnet's Matbench data (not the official "
        "Matbench folds); AFLOW Debye temperature on folds assigned by the label builder. Leakage control: per "
        "fold, every formula in any task's test set is dropped from every training and pre-training table "
        f"(checked by a test). Baselines on folds {baselines.get('folds')}; CLOUD on folds "
        f"{folds_cloud if folds_cloud is not None else '– (not evaluated yet)'}"
        + (f", seed(s) {proto.get('seeds')}" if proto.get("seeds") else "")
        + ". Cells: MAE mean ± std over folds (number of folds)."
    )
    if proto.get("note"):
        add("")
        add(proto["note"])
    add("")
    add(
        "| task | unit | test rows/fold | CLOUD (pre-trained) | CLOUD (from scratch) | dummy (train mean) | "
        "ridge (element fractions) | gradient boosting (composition features)† | CrabNet, official folds* | "
        "CLOUD paper, official folds* |"
    )
    add("|---|---|---:|---|---|---|---|---|---:|---:|")
    csum = (cloud or {}).get("summary", {})
    for task in MAIN_TASKS:
        b = baselines["tasks"].get(task.value)
        if b is None:
            continue
        n_test = [f["n_test"] for f in b["folds"].values()]
        pub = PUBLISHED_MAE.get(task, {})
        cloud_pub = (
            f"{_fmt(pub['cloud_pretrained'])} / {_fmt(pub['cloud_scratch'])}"
            if "cloud_pretrained" in pub
            else "–"
        )
        add(
            f"| `{task.value}` | {TASKS[task].unit} | {_fmt(round(sum(n_test) / len(n_test)))} | "
            f"{_pm(csum.get('pretrained', {}).get(task.value, {}).get('mae'))} | "
            f"{_pm(csum.get('scratch', {}).get(task.value, {}).get('mae'))} | "
            f"{_pm(b['summary']['dummy']['mae'])} | {_pm(b['summary']['ridge']['mae'])} | "
            f"{_pm(b['summary'].get('gbm', {}).get('mae'))} | {_fmt(pub.get('crabnet'))} | {cloud_pub} |"
        )
    add("")
    add(
        f"\\* {PUBLISHED_SOURCE}. CLOUD paper column: pre-trained / not pre-trained. Different folds, "
        "structure-aware inputs for CLOUD, and GPU-scale training budgets: indicative only, not comparable "
        "one to one."
    )
    add("")
    add(_gbm_note(baselines))
    add("")
    for line in _extra_sections(cloud, physics):
        add(line)
    abl = (cloud or {}).get("ablation")
    if not any(
        (abl or {}).get("tasks", {}).get(t, {}).get("pretrained") for t in (abl or {}).get("tasks", {})
    ):
        add("### Does pre-training help?")
        add("")
        add("Not measured for this checkpoint: no pre-trained run at this budget yet (the shipped model is from "
            "scratch).")  # fmt: skip
        add("")
        abl = None
    if abl and abl.get("tasks"):
        add("### Does pre-training help?")
        add("")
        add(
            f"Same fine-tuning from the pre-trained encoder vs from random initialisation, fold {abl.get('fold')}, "
            f"seeds {abl.get('seeds')}; MAE mean ± std over seeds, and how many seeds pre-training won."
        )
        add("")
        add("| task | pre-trained | from scratch | pre-trained better in |")
        add("|---|---|---|---|")
        for task, e in abl["tasks"].items():
            wins = sum(p < s for p, s in zip(e["pretrained"], e["scratch"], strict=False))
            add(
                f"| `{task}` | {_pm(e['summary_pretrained'])} | {_pm(e['summary_scratch'])} | "
                f"{wins} of {min(len(e['pretrained']), len(e['scratch']))} seeds |"
            )
        add("")
    stabs = (cloud or {}).get("stability") or []  # the recipe's per-fold models, else the shipped record
    stabs = stabs or ([(shipped or {}).get(STABILITY_KEY)] if (shipped or {}).get(STABILITY_KEY) else [])
    for stab in stabs:
        caption, header, rows = stability_lines(stab)
        add(f"### Stability classification (fold {stab.get('fold')})")
        add("")
        add(caption + " Written by `python bench/eval_checkpoint.py stability`.")
        add("")
        add("| " + " | ".join(header) + " |")
        add("|" + "---|" * len(header))
        for row in rows:
            add("| " + " | ".join(row) + " |")
        add("")
    add("## Limits")
    add("")
    add(
        "- Small model and short CPU training budgets: far from the published GPU-scale figures; use it to rank, "
        "not to quote values."
    )
    add(
        "- Structure enters through the CHGNet structure term of the formation energy only; every other property "
        "is composition-level (polymorphs tie on it). The structure term is CHGNet's, with CHGNet's errors."
    )
    add(
        "- Labels are DFT (PBE) values from Materials Project (via Matbench) and AFLOW: PBE band gaps are "
        "underestimated; the Debye temperature is AFLOW's elastic (AEL) one, not a heat-capacity fit."
    )
    add(
        "- Chemistry outside the training data (elements or element combinations rare in MP/AFLOW) extrapolates "
        "poorly; the predicted standard deviations (`<target>_std`) are calibrated on held-out folds (above) but are "
        "one model's (Laplace scale heads), not an ensemble's."
    )
    add("")
    add("## Reproduce")
    add("")
    add(
        "`scripts/train_default.sh` rebuilds the label sets (if crabnet's data are present), runs the per-fold"
    )
    add("evaluation and the ablation, trains the shipped model on all data and regenerates this card.")
    add("")
    return "\n".join(L)


def write_model_card(
    checkpoint: Path = DEFAULT_CHECKPOINT,
    baselines: Path = DEFAULT_BASELINES,
    cloud: Path = DEFAULT_CLOUD,
    labels_manifest: Path = DEFAULT_LABELS_MANIFEST,
    out: Path | None = None,
) -> Path:
    """Render the card from the files and write it (atomically) to ``out`` or ``<checkpoint>/MODEL_CARD.md``."""
    config = _load_optional(checkpoint / "config.json")
    blend = _load_optional(checkpoint / "gbm" / "blend.json")
    if config is not None and blend is not None:
        config = {**config, "gbm_blend": blend}
    text = render(
        read_json(baselines),
        _load_optional(cloud),
        _load_optional(checkpoint / "metrics.json"),
        config,
        _load_optional(labels_manifest),
        _load_optional(DEFAULT_MLIP_PROVENANCE),
        _load_optional(DEFAULT_PHYSICS),
    )
    out = out or checkpoint / "MODEL_CARD.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Write MODEL_CARD.md from the metrics files.")
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--baselines", type=Path, default=DEFAULT_BASELINES)
    p.add_argument("--cloud", type=Path, default=DEFAULT_CLOUD)
    p.add_argument("--labels-manifest", type=Path, default=DEFAULT_LABELS_MANIFEST)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    try:
        path = write_model_card(args.checkpoint, args.baselines, args.cloud, args.labels_manifest, args.out)
    except (FileNotFoundError, json.JSONDecodeError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
