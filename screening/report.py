"""The campaign report: one self-contained HTML file (inline SVG, no script, nothing fetched) per campaign.

Sections, each plot a ``<figure class="plot" id="plot-NAME" data-points="N">`` whose SVG holds exactly N
marks (``circle.pt``, ``rect.bar`` or ``polyline.curve`` vertices counted in ``data-points``):

- ``plot-objective-vs-hull``: the objective's column against the energy above hull, every predicted candidate
  (leaders marked, the stability threshold drawn);
- ``plot-dist-<column>``: the distribution of each predicted property (histogram bars);
- ``plot-cv-leaders``: Cv(T) of the leaders from their Debye temperatures, with a band from theta +- sigma
  (``theta_K_std``) when the model gives one;
- ``implausible``: how many predictions the plausibility rules flag and exclude, why, and the furthest below
  the hull;
- ``plot-rejects``: rejected candidates by stage and reason;
- ``plot-phonons``: predicted vs phonon Cv(300 K) when the validation step ran;
- ``model-stability``: the model's stability precision / recall / F1 on held-out formulas, from its checkpoint's
  ``metrics.json`` (:mod:`screening.evaluation.stability`), when the record exists for this model id;
- provenance: model id, hull version, parameters, counts.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from screening.objectives import Ranking
from screening.ranking import DEBYE_COLUMNS, leaderboard_columns, rank_objective, target_columns
from screening.store import ResultsStore

#: Points of the scatter plot at most (a deterministic sample beyond; the figure says so).
MAX_SCATTER_POINTS = 20_000
_W, _H, _PAD = 640, 360, 48
_NON_PROPERTIES = {"chemsys", "hull_version", "known_composition", "implausible"}


def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.4g}"
    return str(v)


class _Axes:
    """Linear maps from data to SVG pixels, with ticks."""

    def __init__(self, x: Sequence[float], y: Sequence[float]) -> None:
        xs = [v for v in x if v is not None and math.isfinite(v)] or [0.0, 1.0]
        ys = [v for v in y if v is not None and math.isfinite(v)] or [0.0, 1.0]
        self.x0, self.x1 = min(xs), max(xs)
        self.y0, self.y1 = min(ys), max(ys)
        if self.x1 == self.x0:
            self.x0, self.x1 = self.x0 - 0.5, self.x1 + 0.5
        if self.y1 == self.y0:
            self.y0, self.y1 = self.y0 - 0.5, self.y1 + 0.5

    def px(self, x: float) -> float:
        return _PAD + (x - self.x0) / (self.x1 - self.x0) * (_W - 2 * _PAD)

    def py(self, y: float) -> float:
        return _H - _PAD - (y - self.y0) / (self.y1 - self.y0) * (_H - 2 * _PAD)

    def frame(self, xlabel: str, ylabel: str) -> str:
        parts = [
            f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#333"/>',
            f'<line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_H - _PAD}" stroke="#333"/>',
            f'<text x="{_W / 2}" y="{_H - 10}" text-anchor="middle">{_esc(xlabel)}</text>',
            f'<text x="14" y="{_H / 2}" text-anchor="middle" transform="rotate(-90 14 {_H / 2})">{_esc(ylabel)}'
            "</text>",
        ]
        for i in range(5):
            fx = self.x0 + (self.x1 - self.x0) * i / 4
            fy = self.y0 + (self.y1 - self.y0) * i / 4
            parts.append(f'<text class="tick" x="{self.px(fx):.1f}" y="{_H - _PAD + 14}" text-anchor="middle">'
                         f"{fx:.3g}</text>")  # fmt: skip
            parts.append(f'<text class="tick" x="{_PAD - 4}" y="{self.py(fy) + 4:.1f}" text-anchor="end">'
                         f"{fy:.3g}</text>")  # fmt: skip
        return "".join(parts)


def _figure(name: str, title: str, n_points: int, svg_body: str, note: str = "") -> str:
    return (
        f'<figure class="plot" id="plot-{_esc(name)}" data-points="{n_points}">'
        f"<figcaption>{_esc(title)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}">{svg_body}'
        f"</svg>{f'<p class=note>{_esc(note)}</p>' if note else ''}</figure>"
    )


def scatter_svg(
    name: str, title: str, x: list[float], y: list[float], marked: list[bool], xlabel: str, ylabel: str,
    vline: float | None = None, note: str = "",
) -> str:  # fmt: skip
    """A scatter plot: one ``circle.pt`` per finite (x, y); marked points get class ``leader``."""
    pts = [(a, b, m) for a, b, m in zip(x, y, marked, strict=True) if _finite(a) and _finite(b)]
    ax = _Axes([p[0] for p in pts] + ([vline] if vline is not None else []), [p[1] for p in pts])
    body = [ax.frame(xlabel, ylabel)]
    if vline is not None:
        body.append(f'<line class="threshold" x1="{ax.px(vline):.1f}" y1="{_PAD}" x2="{ax.px(vline):.1f}" '
                    f'y2="{_H - _PAD}" stroke="#c00" stroke-dasharray="4 3"/>')  # fmt: skip
    rest = [p for p in pts if not p[2]]
    lead = [p for p in pts if p[2]]
    for a, b, _ in rest:
        body.append(f'<circle class="pt" cx="{ax.px(a):.1f}" cy="{ax.py(b):.1f}" r="1.8" fill="#4a78b5" '
                    'fill-opacity="0.45"/>')  # fmt: skip
    for a, b, _ in lead:
        body.append(f'<circle class="pt leader" cx="{ax.px(a):.1f}" cy="{ax.py(b):.1f}" r="4.5" fill="#e8710a" '
                    'stroke="#000" stroke-width="0.8"/>')  # fmt: skip
    return _figure(name, title, len(pts), "".join(body), note)


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def histogram_svg(name: str, title: str, values: list[float], xlabel: str, bins: int = 30) -> str:
    """A histogram: one ``rect.bar`` per bin; ``data-points`` is the number of bins, ``data-n`` the values."""
    vals = np.array([v for v in values if _finite(v)], dtype=float)
    if vals.size == 0:
        return _figure(name, title, 0, "", "no values")
    counts, edges = np.histogram(vals, bins=bins)
    ax = _Axes([float(edges[0]), float(edges[-1])], [0.0, float(counts.max())])
    body = [ax.frame(xlabel, "candidates")]
    for c, lo, hi in zip(counts, edges[:-1], edges[1:], strict=True):
        x0, x1 = ax.px(float(lo)), ax.px(float(hi))
        y = ax.py(float(c))
        body.append(f'<rect class="bar" x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0 - 1, 0.5):.1f}" '
                    f'height="{max(ax.py(0.0) - y, 0.0):.1f}" fill="#4a78b5" data-count="{int(c)}"/>')  # fmt: skip
    fig = _figure(name, title, len(counts), "".join(body), f"{vals.size} values")
    return fig.replace('data-points="', f'data-n="{vals.size}" data-points="', 1)


def bars_svg(name: str, title: str, labels: list[str], counts: list[int]) -> str:
    """Horizontal bars, one ``rect.bar`` per label."""
    if not labels:
        return _figure(name, title, 0, "", "none")
    top = max(counts) or 1
    h = (_H - 2 * _PAD) / len(labels)
    body = []
    for i, (lab, c) in enumerate(zip(labels, counts, strict=True)):
        w = (_W - 2 * _PAD - 160) * c / top
        y = _PAD + i * h
        body.append(f'<rect class="bar" x="{_PAD + 160}" y="{y:.1f}" width="{max(w, 1):.1f}" '
                    f'height="{max(h - 2, 1):.1f}" fill="#b54a4a"/>'
                    f'<text x="{_PAD + 156}" y="{y + h / 2 + 4:.1f}" text-anchor="end">{_esc(lab)}</text>'
                    f'<text x="{_PAD + 164 + w:.1f}" y="{y + h / 2 + 4:.1f}">{c}</text>')  # fmt: skip
    return _figure(name, title, len(labels), "".join(body))


def curves_svg(
    name: str, title: str, temps: list[float], curves: dict[str, list[float]],
    bands: dict[str, tuple[list[float], list[float]]], ylabel: str,
) -> str:  # fmt: skip
    """Lines (``polyline.curve``, one per series) with optional bands (``polygon.band``); ``data-points`` =
    the number of curve vertices."""
    allv = [v for c in curves.values() for v in c] + [v for lo, hi in bands.values() for v in (*lo, *hi)]
    ax = _Axes(temps, allv + [0.0])
    body = [ax.frame("T (K)", ylabel)]
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    n = 0
    for i, (label, ys) in enumerate(curves.items()):
        color = palette[i % len(palette)]
        if label in bands:
            lo, hi = bands[label]
            poly = [(ax.px(t), ax.py(v)) for t, v in zip(temps, hi, strict=True)]
            poly += [(ax.px(t), ax.py(v)) for t, v in reversed(list(zip(temps, lo, strict=True)))]
            body.append(f'<polygon class="band" points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in poly)}" '
                        f'fill="{color}" fill-opacity="0.18" stroke="none"/>')  # fmt: skip
        pts = " ".join(f"{ax.px(t):.1f},{ax.py(v):.1f}" for t, v in zip(temps, ys, strict=True))
        body.append(f'<polyline class="curve" points="{pts}" fill="none" stroke="{color}" stroke-width="1.5" '
                    f'data-label="{_esc(label)}"/>')  # fmt: skip
        body.append(f'<text x="{_W - _PAD - 4}" y="{_PAD + 12 * (i + 1)}" text-anchor="end" fill="{color}">'
                    f"{_esc(label)}</text>")  # fmt: skip
        n += len(ys)
    return _figure(name, title, n, "".join(body))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_esc(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
figure.plot{display:inline-block;margin:0.5em;border:1px solid #ddd;padding:0.5em;vertical-align:top}
figcaption{font-weight:600;margin-bottom:0.3em} svg text{font-size:11px} svg text.tick{font-size:9px;fill:#555}
table{border-collapse:collapse;font-size:12px} td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
p.note{font-size:11px;color:#555;margin:0.2em 0} pre{font-size:11px;background:#f6f6f6;padding:0.5em}
"""


def campaign_ranking(store: ResultsStore, campaign_id: str) -> Ranking:
    """The ranking a campaign was run with (its parameters' objective and options)."""
    from screening.campaign.spec import ScreenParameters

    stored = json.loads(store.read_campaign(campaign_id)["params_json"])
    return ScreenParameters.model_validate(stored.get("all", stored)).ranking()


def build_report(
    store: ResultsStore, campaign_id: str, ranking: Ranking | None = None, *, k: int = 20,
    temperature_K: float = 300.0, n_curves: int = 8,
) -> str:  # fmt: skip
    """The report's HTML (see the module docstring).

    Raises
    ------
    ObjectiveError
        When the ranking cannot be answered on this campaign.
    """
    ranking = ranking or campaign_ranking(store, campaign_id)
    camp = store.read_campaign(campaign_id)
    leaders = rank_objective(store, campaign_id, ranking, k=k, temperature_K=temperature_K).to_pylist()
    columns = leaderboard_columns(target_columns(store, campaign_id))
    from screening.objectives import required_columns

    score_col, _ = required_columns(ranking, columns)
    targets = target_columns(store, campaign_id)
    numeric = [c for c in targets if c not in _NON_PROPERTIES and not c.endswith("_std")]
    sel = ", ".join(f'p."{c}"' for c in numeric)
    data = store.query(
        f"SELECT p.candidate_id{', ' + sel if sel else ''} FROM predictions p WHERE p.campaign_id = $cid "
        f"ORDER BY hash(p.candidate_id) LIMIT {MAX_SCATTER_POINTS}",
        {"cid": campaign_id},
    ).to_pydict()
    n_pred = store.query(
        "SELECT count(*) AS n FROM predictions WHERE campaign_id = $cid", {"cid": campaign_id}
    )
    n_pred = n_pred.column("n")[0].as_py()
    lead_ids = {r["candidate_id"] for r in leaders}
    parts = [f"<h1>Campaign {_esc(campaign_id)}</h1>",
             f"<p><b>Question ({_esc(ranking.objective)}):</b> {_esc(ranking.question.question)} Ranked by "
             f"<code>{_esc(score_col)}</code>, uncertainty mode {_esc(ranking.uncertainty)}"
             f"{'' if ranking.uncertainty == 'mean' else f' ({ranking.k_sigma:g} sigma)'}; stability threshold "
             f"{_esc(ranking.max_e_above_hull)} eV/atom; at most {ranking.per_formula} per formula.</p>"]  # fmt: skip
    parts.append(f"<h2>Top {len(leaders)}</h2>")
    show = [c for c in ("rank", "candidate_id", "formula", "chemsys", "spacegroup", "score", f"{score_col}_std",
                        "e_above_hull", "e_above_hull_std", "known_composition") if not leaders or c in leaders[0]]  # fmt: skip
    parts.append(_table(leaders, show))
    parts.append("<h2>Objective against stability</h2>")
    if "e_above_hull" in data and score_col in data:
        hull_x, obj_y = data["e_above_hull"], data[score_col]
        marked = [c in lead_ids for c in data["candidate_id"]]
        note = (f"{len(data['candidate_id'])} of {n_pred} predicted candidates (a deterministic sample)"
                if n_pred > len(data["candidate_id"]) else f"all {n_pred} predicted candidates")  # fmt: skip
        parts.append(scatter_svg("objective-vs-hull", f"{score_col} vs energy above hull (leaders marked)",
                                 hull_x, obj_y, marked, "e_above_hull (eV/atom)", score_col,
                                 vline=ranking.max_e_above_hull, note=note))  # fmt: skip
    parts.append("<h2>Excluded as implausible</h2>")
    parts.append(_implausible_section(store, campaign_id, ranking))
    parts.append("<h2>Predicted properties</h2>")
    for c in numeric:
        parts.append(histogram_svg(f"dist-{c}", f"distribution of {c}", data[c], c))
    parts.append("<h2>Heat capacity of the leaders</h2>")
    parts.append(_cv_section(store, campaign_id, leaders[:n_curves], camp["temperatures_K"]))
    parts.append("<h2>Rejects</h2>")
    rej = store.query("SELECT stage || ': ' || reason AS why, count(*) AS n FROM rejects WHERE campaign_id = $cid "
                      "GROUP BY ALL ORDER BY n DESC", {"cid": campaign_id}).to_pydict()  # fmt: skip
    parts.append(bars_svg("rejects", "rejected candidates by stage and reason", rej["why"], rej["n"]))
    parts.append("<h2>Phonon validation</h2>")
    parts.append(_phonon_section(store, campaign_id))
    parts.append("<h2>How well the model finds stable compositions</h2>")
    parts.append(_model_stability_section(camp))
    parts.append("<h2>Provenance</h2>")
    parts.append(_provenance(store, campaign_id, camp, ranking, n_pred))
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f"<title>Campaign {_esc(campaign_id)}</title><style>{_CSS}</style></head><body>"
            + "".join(parts) + "</body></html>")  # fmt: skip


def _cv_section(store: ResultsStore, campaign_id: str, leaders: list[dict], temps: list[float]) -> str:
    with_theta = [r for r in leaders if _finite(r.get("theta_K"))]
    if not leaders:
        return "<p>No leaders: no candidate answers this question.</p>"
    if not with_theta:
        return "<p>The model has no Debye head: no Cv(T) curves.</p>"
    from cloud_core.debye.thermo import debye_cv

    t = np.array(temps, dtype=float)
    theta = np.array([r["theta_K"] for r in with_theta], dtype=float)
    cv = debye_cv(theta[:, None], t[None, :]).numpy()
    curves, bands = {}, {}
    for i, r in enumerate(with_theta):
        label = f"{r.get('formula')} ({r['candidate_id']})"
        curves[label] = cv[i].tolist()
        std = r.get("theta_K_std")
        if _finite(std) and std > 0:
            # Cv decreases with theta: the band runs from Cv(theta + sigma) to Cv(theta - sigma)
            lo = debye_cv(np.array([[theta[i] + std]]), t[None, :]).numpy()[0]
            hi = debye_cv(np.array([[max(theta[i] - std, 1.0)]]), t[None, :]).numpy()[0]
            bands[label] = (lo.tolist(), hi.tolist())
    note = "" if bands else "no theta_K_std in this model: curves without uncertainty bands"
    svg = curves_svg("cv-leaders", "Debye Cv(T) of the leaders (J/mol-atom/K)", t.tolist(), curves, bands,
                     "Cv (J/mol-atom/K)")  # fmt: skip
    return svg + (f"<p class=note>{_esc(note)}</p>" if note else "")


def _phonon_section(store: ResultsStore, campaign_id: str) -> str:
    path = Path(store.layout.campaign_dir(campaign_id)) / "phonon_validation.parquet"
    if not path.is_file():
        return "<p>The phonon validation step did not run for this campaign (validate_top_k = 0).</p>"
    import pyarrow.parquet as pq

    t = pq.read_table(path).to_pylist()
    x, y, marks = [], [], []
    for r in t:
        temps = r.get("temperatures_K") or []
        if not temps or not r.get("cv_pred_J_per_molatom_K") or not r.get("cv_phonon_J_per_molatom_K"):
            continue
        i = int(np.argmin(np.abs(np.array(temps) - 300.0)))
        x.append(r["cv_phonon_J_per_molatom_K"][i])
        y.append(r["cv_pred_J_per_molatom_K"][i])
        marks.append(not r.get("dynamically_stable", True))
    svg = scatter_svg("phonons", "Cv(300 K): Debye prediction vs phonons (dynamically unstable marked)", x, y,
                      marks, "phonon Cv (J/mol-atom/K)", "predicted Cv (J/mol-atom/K)")  # fmt: skip
    cols = ["id", "formula", "theta_pred_K", "theta_fit_K", "cv_mae_J_per_molatom_K", "dynamically_stable"]
    return svg + _table(t, cols)


def _implausible_section(store: ResultsStore, campaign_id: str, ranking: Ranking) -> str:
    from screening.hull import ELEMENT_SIGMAS, IMPLAUSIBLE_BELOW_HULL_EV
    from screening.ranking import implausible_candidates

    counts, rows = implausible_candidates(store, campaign_id, ranking)
    if not counts:
        return "<p>This campaign has no energies above the hull: no plausibility rules apply.</p>"
    why = {
        "implausible": f"a composition the reference hull knows, predicted more than {IMPLAUSIBLE_BELOW_HULL_EV:g} "
        f"eV/atom below it, or an element predicted below zero by more than {ELEMENT_SIGMAS:g} sigma",
        "far_below_hull": "a composition the reference hull does not know, predicted more than "
        f"{_fmt(ranking.max_below_hull_unknown)} eV/atom below it (max_below_hull_unknown): the reference holds "
        "well-sampled Materials Project chemical systems, where a real new phase rarely sits that far below the "
        "known ones, so such a prediction is most likely a model error",
    }
    fate = (
        "admitted (include_implausible)" if ranking.include_implausible else "excluded from the leaderboard"
    )
    items = "".join(
        f"<li><code>{_esc(c)}</code>: {n} candidates, {fate}: {_esc(why[c])}.</li>"
        for c, n in counts.items()
        if c != "far_below_hull" or ranking.max_below_hull_unknown is not None
    )
    if "far_below_hull" in counts and ranking.max_below_hull_unknown is None:
        items += "<li><code>far_below_hull</code>: off (max_below_hull_unknown is null).</li>"
    table = rows.to_pylist()
    note = f"<p>The {len(table)} flagged candidates furthest below the hull:</p>" if table else ""
    return f'<ul id="implausible">{items}</ul>' + note + (_table(table, rows.column_names) if table else "")


def _model_stability_section(camp: dict) -> str:
    from screening.evaluation.stability import read_stability, stability_lines

    rec = read_stability(camp.get("checkpoint"), camp.get("model_id"))
    if rec is None:
        return (
            "<p>No held-out stability evaluation recorded for this model (its checkpoint's metrics.json).</p>"
        )
    caption, header, rows = stability_lines(rec)
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_esc(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<p>{_esc(caption)}</p><table id="model-stability"><tr>{head}</tr>{body}</table>'


def _provenance(store: ResultsStore, campaign_id: str, camp: dict, ranking: Ranking, n_pred: int) -> str:
    row = store.query("SELECT * FROM campaigns WHERE campaign_id = $cid", {"cid": campaign_id}).to_pylist()[0]
    hull = store.query("SELECT DISTINCT hull_version FROM predictions WHERE campaign_id = $cid",
                       {"cid": campaign_id}) if "hull_version" in target_columns(store, campaign_id) else None  # fmt: skip
    hulls = [] if hull is None else [v for v in hull.column(0).to_pylist() if v]
    items = {
        "model id": row["model_id"],
        "checkpoint": row["checkpoint"],
        "hull version": ", ".join(hulls) or "(none)",
        "candidates": row["n_candidates"],
        "predicted": n_pred,
        "rejected": row["n_rejected"],
        "chunks": f"{row['n_chunks_done']}/{row['n_chunks']} ({row['status']})",
        "symprec": row["symprec"],
        "parameter hash": row["params_hash"],
        "library versions": row["versions"],
        "ranking": ranking.model_dump_json(),
    }
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in items.items())
    params = json.dumps(json.loads(row["params_json"]), indent=1)
    return f'<table id="provenance">{rows}</table><h3>Parameters</h3><pre>{_esc(params)}</pre>'


def write_report(
    store: ResultsStore,
    campaign_id: str,
    ranking: Ranking | None = None,
    out: str | Path | None = None,
    **kw: Any,
) -> Path:
    """Write the report (default: ``<campaign dir>/report.html``, atomically); return its path."""
    path = Path(out) if out else Path(store.layout.campaign_dir(campaign_id)) / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(build_report(store, campaign_id, ranking, **kw), encoding="utf-8")
    tmp.replace(path)
    return path


__all__ = ["DEBYE_COLUMNS", "build_report", "write_report"]
