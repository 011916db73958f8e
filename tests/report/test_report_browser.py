"""The campaign report in a real browser (Debian's chromium through Playwright), network blocked: no request
leaves, no console error, every named plot is there with a non-zero size and as many marks as the data."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("cloud_core.scope")
playwright = pytest.importorskip("playwright.sync_api")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))

import campaign_testkit as kit  # noqa: E402

from screening.campaign import ScreenParameters  # noqa: E402
from screening.campaign.runner import run_campaign  # noqa: E402
from screening.store import ResultsStore  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from flows.cli import main

    tmp = tmp_path_factory.mktemp("report")
    kit.write_tiny_checkpoint(tmp / "ckpt")
    pool = kit.write_pool(tmp / "pool.parquet", 40)
    params = ScreenParameters(source={"kind": "pool", "path": str(pool)}, checkpoint=str(tmp / "ckpt"),
                              results_dir=str(tmp / "res"), chunk_size=20, campaign_id="rep",
                              objective="custom", max_e_above_hull=None, top_k=6)  # fmt: skip
    run_campaign(params)
    out = tmp / "report.html"
    assert (
        main(["report", "--results", str(tmp / "res"), "--campaign", "rep", "-k", "6", "--out", str(out)])
        == 0
    )
    return ResultsStore(tmp / "res"), out


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (scripts/ensure_env.sh installs it)"
)
def test_report_renders_offline_with_every_plot(report):
    store, path = report
    n_pred = (
        store.query("SELECT count(*) AS n FROM predictions WHERE campaign_id = 'rep'").column("n")[0].as_py()
    )
    n_temps = len(store.read_campaign("rep")["temperatures_K"])
    reasons = store.query("SELECT DISTINCT stage, reason FROM rejects WHERE campaign_id = 'rep'").num_rows
    props = ["e_form", "band_gap", "theta_K", "e_above_hull"]
    requests, errors = [], []
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()

        def route(r):
            if r.request.url.startswith("file://"):
                r.continue_()
            else:
                requests.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")

        def plot(name: str) -> dict:
            fig = page.locator(f"#plot-{name}")
            assert fig.count() == 1, name
            box = fig.locator("svg").bounding_box()
            assert box and box["width"] > 0 and box["height"] > 0, name
            return {
                "declared": int(fig.get_attribute("data-points")),
                "pt": fig.locator("circle.pt").count(),
                "leader": fig.locator("circle.leader").count(),
                "bar": fig.locator("rect.bar").count(),
                "bar_sum": sum(int(c) for c in fig.locator("rect.bar").evaluate_all(
                    "els => els.map(e => e.getAttribute('data-count') || '0')")),
                "vertices": sum(fig.locator("polyline.curve").evaluate_all(
                    "els => els.map(e => e.points.numberOfItems)")),
                "bands": fig.locator("polygon.band").count(),
            }  # fmt: skip

        scatter = plot("objective-vs-hull")
        assert scatter["pt"] == scatter["declared"] == n_pred and scatter["leader"] == 6
        for p in props:
            h = plot(f"dist-{p}")
            assert h["bar"] == h["declared"] == 30 and h["bar_sum"] == n_pred, p
        cv = plot("cv-leaders")
        assert (
            cv["vertices"] == cv["declared"] == 6 * n_temps and cv["bands"] == 0
        )  # no theta_K_std: no bands
        rej = plot("rejects")
        assert rej["bar"] == rej["declared"] == reasons >= 1
        assert page.locator("#provenance").inner_text().count("v1-") >= 1  # the hull version
        assert page.locator("h2", has_text="Phonon validation").count() == 1
        browser.close()
    assert requests == [] and errors == []
