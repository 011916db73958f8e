"""Prefect artifacts of a campaign: the top-k table, a summary of rejects, and Cv(T) of the leaders."""

from __future__ import annotations

import base64
import io
import math
from typing import Any

from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from screening.ranking import curves_of
from screening.store import ResultsStore

_SHOW = ("rank", "candidate_id", "formula", "chemsys", "spacegroup", "n_sites", "scope")


def _round(v: Any) -> Any:
    if isinstance(v, float):
        return None if not math.isfinite(v) else float(f"{v:.4g}")
    return v


def _key(campaign_id: str, what: str) -> str:
    """Artifact keys: lowercase letters, digits and dashes."""
    return "".join(c if c.isalnum() else "-" for c in f"{campaign_id}-{what}".lower())


def rejects_markdown(store: ResultsStore, campaign_id: str) -> str:
    rows = store.query(
        "SELECT stage, reason, count(*) AS n, any_value(candidate_id) AS example, any_value(message) AS message "
        "FROM rejects WHERE campaign_id = $c GROUP BY ALL ORDER BY n DESC",
        {"c": campaign_id},
    ).to_pylist()
    total = (
        store.query("SELECT count(*) AS n FROM candidates WHERE campaign_id = $c", {"c": campaign_id})
        .column("n")[0]
        .as_py()
    )
    lines = [
        f"# Rejects of campaign `{campaign_id}`",
        "",
        f"{sum(r['n'] for r in rows)} of {total} candidates rejected.",
        "",
    ]
    if rows:
        lines += ["| stage | reason | count | example | message |", "|---|---|---|---|---|"]
        for r in rows:
            msg = (r["message"] or "").replace("|", "/").replace("\n", " ")[:120]
            lines.append(f"| {r['stage']} | {r['reason']} | {r['n']} | {r['example']} | {msg} |")
    return "\n".join(lines)


def cv_plot_png(store: ResultsStore, campaign_id: str, top: list[dict[str, Any]], n: int = 8) -> bytes | None:
    """PNG of Cv(T) per mole of atoms for the first ``n`` leaders (``None`` without Debye curves)."""
    ids = [r["candidate_id"] for r in top[:n]]
    curves = curves_of(store, campaign_id, ids)
    if curves.num_rows == 0 or "cv_J_per_molatom_K" not in curves.column_names:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {r["candidate_id"]: f"{r.get('formula') or r['candidate_id']} ({r['candidate_id']})" for r in top}
    data = curves.to_pydict()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for cid in ids:
        pts = [
            (t, c)
            for i, t, c in zip(data["candidate_id"], data["T_K"], data["cv_J_per_molatom_K"], strict=True)
            if i == cid
        ]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=names.get(cid, cid))
    ax.axhline(3 * 8.314462618, color="grey", ls="--", lw=0.8, label="Dulong-Petit 3R")
    ax.set_xlabel("T (K)")
    ax.set_ylabel("Cv (J / mol-atom / K)")
    ax.set_title(f"Debye Cv(T) of the leaders, campaign {campaign_id}")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _table_rows(top: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _round(v) for k, v in r.items() if k in _SHOW or isinstance(v, float)} for r in top]


def publish_objective(campaign_id: str, objective: str, top: list[dict[str, Any]], why_not: str = "") -> None:
    """One table artifact with the leaders for ``objective`` (or a note saying why it cannot be answered)."""
    from screening.objectives import QUESTIONS, Objective

    key = _key(campaign_id, f"top-{objective}")
    question = QUESTIONS[Objective(objective)].question
    if why_not:
        create_markdown_artifact(key=key, markdown=f"# {objective}\n\n{question}\n\nNot answered: {why_not}")
        return
    create_table_artifact(
        key=key, table=_table_rows(top), description=f"{objective}: {question} (campaign {campaign_id})"
    )


def publish_artifacts(
    store: ResultsStore, campaign_id: str, top: list[dict[str, Any]], objective: str | None = None
) -> str:
    """Create the three artifacts (the top table answers the main ``objective``; extra objectives get one
    artifact each through :func:`publish_objective`); the plot is also saved next to the campaign. Returns the
    plot path or ''."""
    what = f" for {objective}" if objective else ""
    create_table_artifact(
        key=_key(campaign_id, "top"),
        table=_table_rows(top),
        description=f"Top {len(top)} of campaign {campaign_id}{what}",
    )
    create_markdown_artifact(
        key=_key(campaign_id, "rejects"), markdown=rejects_markdown(store, campaign_id), description="Rejects"
    )
    png = cv_plot_png(store, campaign_id, top)
    if png is None:
        create_markdown_artifact(
            key=_key(campaign_id, "cv-leaders"), markdown="The model has no Debye head: no Cv(T) curves."
        )
        return ""
    path = store.layout.campaign_dir(campaign_id) / "leaders_cv.png"
    tmp = path.with_name(".leaders_cv.png.tmp")
    tmp.write_bytes(png)
    tmp.replace(path)
    b64 = base64.b64encode(png).decode()
    md = (
        f"# Cv(T) of the leaders of `{campaign_id}`\n\n![Cv(T) of the leaders](data:image/png;base64,{b64})\n\n"
        f"Saved as `{path}`."
    )
    create_markdown_artifact(
        key=_key(campaign_id, "cv-leaders"), markdown=md, description="Cv(T) of the leaders"
    )
    return str(path)


def publish_report_link(campaign_id: str, path: str) -> None:
    """A link artifact to the campaign's HTML report."""
    from pathlib import Path

    create_link_artifact(
        key=_key(campaign_id, "report"),
        link=Path(path).resolve().as_uri(),
        link_text=f"report of {campaign_id}",
        description="Self-contained HTML report (objective vs stability, distributions, Cv(T), rejects, provenance)",
    )
