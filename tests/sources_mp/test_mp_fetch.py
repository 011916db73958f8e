"""The Materials Project download with the real mp-api client against a local protocol server.

Faults (429 with Retry-After, 500, 502, 503, 504, dropped connections, malformed JSON, missing meta, timeouts)
are injected on page 3 and later; interrupted downloads are resumed; a new database release restarts the
download; a bad key fails at once. Every download must end with exactly the server's ids, none twice.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from mp_server import MPTestServer, make_docs

from screening.sources.materials_project import (
    MPAuthError,
    MPQuery,
    MPStateError,
    MPUnavailableError,
    RetryPolicy,
    fetch_summary,
    labels_table,
    read_candidates,
    read_table,
)

KEY = "Zk3vQ9tLw2Xp7Rm4Nc8Hb5Yd1Fg6Js0A"  # 32 characters, like a real key
assert len(KEY) == 32
FAST = RetryPolicy(max_attempts=6, backoff_base=0.01, backoff_max=0.05, max_wait=0.3, timeout=5.0)


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return make_docs(120, seed=1)


@pytest.fixture()
def server(docs):
    with MPTestServer(docs, api_key=KEY) as srv:
        yield srv


def _ids(out: Path) -> list[str]:
    return [c.id for c in read_candidates(out)]


def _expected(srv: MPTestServer, query: MPQuery) -> list[str]:
    return srv.matching_ids({k: str(v) for k, v in query.criteria().items()})


def _files_contain(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_faults_on_later_pages_are_waited_out_and_ids_are_exact(server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # urllib3 and mp-api debug output included in the key check
    server.retry_after = 1
    server.add_faults(3, "429", "500")
    server.add_faults(4, "drop", "malformed", "503")
    server.add_faults(5, "no_meta", "502", "504")
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        time.sleep(s)

    policy = RetryPolicy(max_attempts=6, backoff_base=0.01, backoff_max=0.05, max_wait=0.3, timeout=60)
    query = MPQuery()
    report = fetch_summary(
        tmp_path, query, api_key=KEY, endpoint=server.url, page_size=10, retry=policy, sleep=sleep
    )

    expected = _expected(server, query)
    ids = _ids(tmp_path)
    assert ids == expected and len(set(ids)) == len(ids)
    assert report.complete and report.rows == len(expected) == report.total_doc
    assert report.faults == {
        "429": 1,
        "500": 1,
        "502": 1,
        "503": 1,
        "504": 1,
        "connection": 1,
        "malformed": 2,
    }
    # every fault reached our retry loop: urllib3 (mp-api's adapter) retried nothing behind our back
    for page, n_faults in {1: 0, 2: 0, 3: 2, 4: 3, 5: 3, 6: 0}.items():
        assert len(server.summary_requests(page)) == n_faults + 1, page
    # Retry-After: 1 (429 and 503) was honoured, capped by max_wait=0.3
    assert waits.count(0.3) == 2
    assert report.pages_fetched == len(expected) // 10 + (len(expected) % 10 > 0)
    # every request asked for a stable sort, a filter and only the needed fields
    for entry in server.summary_requests():
        p = entry["params"]
        assert p["_sort_fields"] == "material_id" and p["deprecated"] == "False"
        assert set(p["_fields"].split(",")) == set(query.fields)
    assert KEY not in caplog.text
    assert not _files_contain(tmp_path, KEY)
    print(
        f"\nMEASURED faults: pages={report.pages_fetched} requests={report.requests} retries={report.retries} "
        f"faults={report.faults} waited_s={report.waited_s} rows={report.rows}"
    )


def test_a_request_that_times_out_is_retried(server, tmp_path):
    server.slow_s = 3.0
    server.add_faults(3, "slow")
    policy = RetryPolicy(max_attempts=6, backoff_base=0.01, backoff_max=0.05, max_wait=0.3, timeout=1.0)
    report = fetch_summary(tmp_path, MPQuery(), api_key=KEY, endpoint=server.url, page_size=20, retry=policy)
    # on a loaded machine another request may time out too: at least the stalled one did
    assert report.faults.get("timeout", 0) >= 1 and set(report.faults) == {"timeout"}
    assert len(server.summary_requests(3)) >= 2
    assert _ids(tmp_path) == _expected(server, MPQuery())


def test_bad_key_fails_at_once(docs, tmp_path):
    with MPTestServer(docs, api_key=KEY) as srv:
        wrong = "W" * 32
        t0 = time.time()
        with pytest.raises(MPAuthError, match=r"refused the API key \(HTTP 403\).*MP_API_KEY") as err:
            fetch_summary(tmp_path, MPQuery(), api_key=wrong, endpoint=srv.url, page_size=10, retry=FAST)
        assert wrong not in str(err.value)
        assert len(srv.summary_requests()) == 1  # no retry of an auth failure
        assert time.time() - t0 < 30
        assert not list((tmp_path / "shards").glob("*.parquet"))
    with pytest.raises(MPAuthError, match="32 characters"):
        fetch_summary(tmp_path, MPQuery(), api_key="short", endpoint="http://127.0.0.1:9/", retry=FAST)


def test_missing_key_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    monkeypatch.delenv("CLOUD_MP_API_KEY", raising=False)
    monkeypatch.delenv("CLOUD_CONFIG", raising=False)
    with pytest.raises(MPAuthError, match="no Materials Project API key: set MP_API_KEY"):
        fetch_summary(tmp_path, MPQuery(elements="O"), endpoint="http://127.0.0.1:9/")


def test_key_from_settings_env(server, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUD_MP_API_KEY", KEY)
    report = fetch_summary(tmp_path, MPQuery(elements="O"), endpoint=server.url, page_size=50, retry=FAST)
    assert report.complete and report.rows == len(_expected(server, MPQuery(elements="O")))


def test_interrupted_download_resumes_without_loss_or_duplicates(server, tmp_path):
    query = MPQuery(band_gap_max=4.0)

    def stop_after_3(event):
        if event.page == 3:
            raise KeyboardInterrupt("simulated Ctrl-C")

    with pytest.raises(KeyboardInterrupt):
        fetch_summary(
            tmp_path, query, api_key=KEY, endpoint=server.url, page_size=10, retry=FAST, on_page=stop_after_3
        )
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert len(manifest["pages"]) == 3 and manifest["next_skip"] == 30 and not manifest["complete"]
    n_before = len(server.summary_requests())

    report = fetch_summary(tmp_path, query, api_key=KEY, endpoint=server.url, page_size=10, retry=FAST)
    expected = _expected(server, query)
    assert _ids(tmp_path) == expected
    assert report.resumed_from_skip == 30 and report.duplicates_dropped == 0
    resumed = server.summary_requests()[n_before:]
    assert min(int(e["params"]["_skip"]) for e in resumed) == 30  # pages 1-3 were not fetched again
    # a third run finds the download complete and fetches nothing
    again = fetch_summary(tmp_path, query, api_key=KEY, endpoint=server.url, page_size=10, retry=FAST)
    assert again.complete and again.pages_fetched == 0 and _ids(tmp_path) == expected
    print(
        f"\nMEASURED resume: first run 3 pages, resumed at _skip=30, second run {report.pages_fetched} pages"
    )


def test_orphan_shards_from_a_crash_between_renames_are_refetched(server, tmp_path):
    query = MPQuery()
    snapshot = {}

    def hook(event):
        if event.page == 2:
            snapshot["manifest"] = (tmp_path / "manifest.json").read_bytes()
        if event.page == 4:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        fetch_summary(
            tmp_path, query, api_key=KEY, endpoint=server.url, page_size=10, retry=FAST, on_page=hook
        )
    # as if the process died twice right after renaming a shard, before the manifest named it
    (tmp_path / "manifest.json").write_bytes(snapshot["manifest"])
    (tmp_path / "shards" / ".page-000005.parquet.tmp-999").write_bytes(b"half a file")
    assert len(list((tmp_path / "shards").iterdir())) == 5

    report = fetch_summary(tmp_path, query, api_key=KEY, endpoint=server.url, page_size=10, retry=FAST)
    assert report.resumed_from_skip == 20 and report.duplicates_dropped == 0
    assert _ids(tmp_path) == _expected(server, query)
    assert not list((tmp_path / "shards").glob(".*"))


def test_gives_up_after_max_attempts_keeps_pages_and_resumes(server, tmp_path):
    server.add_faults(3, "500", "500", "500")
    policy = RetryPolicy(max_attempts=3, backoff_base=0.01, max_wait=0.05, timeout=5)
    with pytest.raises(MPUnavailableError, match="failed 3 times.*run again to resume"):
        fetch_summary(tmp_path, MPQuery(), api_key=KEY, endpoint=server.url, page_size=10, retry=policy)
    assert len(list((tmp_path / "shards").glob("*.parquet"))) == 2
    report = fetch_summary(tmp_path, MPQuery(), api_key=KEY, endpoint=server.url, page_size=10, retry=policy)
    assert report.complete and _ids(tmp_path) == _expected(server, MPQuery())


def test_new_database_release_between_runs_starts_over(server, tmp_path):
    query = MPQuery()
    first = fetch_summary(
        tmp_path, query, api_key=KEY, endpoint=server.url, page_size=10, limit=35, retry=FAST
    )
    assert first.stopped_at_limit and first.rows == 35 and not first.complete
    assert _ids(tmp_path) == _expected(server, query)[:35]

    server.set_database(make_docs(70, seed=7, start_id=5000, id_step=3), db_version="2026.02.01")
    report = fetch_summary(tmp_path, query, api_key=KEY, endpoint=server.url, page_size=10, retry=FAST)
    assert report.restarts == 1 and report.db_version == "2026.02.01" and report.resumed_from_skip == 0
    assert _ids(tmp_path) == _expected(server, query)
    assert set(read_table(tmp_path).column("db_version").to_pylist()) == {"2026.02.01"}


def test_new_database_release_during_a_run_starts_over(server, tmp_path):
    query = MPQuery()
    new_docs = make_docs(50, seed=3, start_id=9000, id_step=5)

    def switch(page, params):
        if page == 4 and server.db_version == "2026.01.01":
            server.set_database(new_docs, db_version="2026.03.01")

    server.on_summary_page = switch
    report = fetch_summary(tmp_path, query, api_key=KEY, endpoint=server.url, page_size=10, retry=FAST)
    assert report.restarts == 1 and report.complete and report.db_version == "2026.03.01"
    assert _ids(tmp_path) == _expected(server, query)
    print(
        f"\nMEASURED db change mid-run: restarts={report.restarts}, rows={report.rows}, pages={report.pages_fetched}"
    )


def test_other_query_in_same_folder_is_refused_unless_restart(server, tmp_path):
    fetch_summary(tmp_path, MPQuery(elements="O"), api_key=KEY, endpoint=server.url, page_size=50, retry=FAST)
    with pytest.raises(MPStateError, match="another query"):
        fetch_summary(tmp_path, MPQuery(elements="S"), api_key=KEY, endpoint=server.url, retry=FAST)
    report = fetch_summary(
        tmp_path,
        MPQuery(elements="S"),
        api_key=KEY,
        endpoint=server.url,
        page_size=50,
        retry=FAST,
        restart=True,
    )
    assert _ids(tmp_path) == _expected(server, MPQuery(elements="S")) and report.complete


def test_filters_reach_the_server(server, tmp_path):
    query = MPQuery(elements=["O"], band_gap_min=0.5, band_gap_max=5.0, e_above_hull_max=0.2, nsites_max=5)
    report = fetch_summary(tmp_path, query, api_key=KEY, endpoint=server.url, page_size=4, retry=FAST)
    expected = _expected(server, query)
    assert 0 < len(expected) < 40
    assert _ids(tmp_path) == expected and report.total_doc == len(expected)
    for c in read_candidates(tmp_path):
        assert "O" in c.structure.composition.chemical_system.split("-")
        assert (
            0.5 <= c.meta["band_gap"] <= 5.0 and c.meta["energy_above_hull"] <= 0.2 and c.meta["nsites"] <= 5
        )


def test_candidates_and_labels_carry_the_server_values(tmp_path):
    from cloud_core.debye import theta_from_structure

    docs = make_docs(40, seed=4)
    elastic = [d for d in docs if d["bulk_modulus"] and not d["deprecated"]]
    assert len(elastic) >= 4
    elastic[0]["shear_modulus"] = {"vrh": -3.0}  # MP has a few unphysical fits: a reject, not a label
    by_id = {d["material_id"]: d for d in docs}
    query = MPQuery()
    with MPTestServer(docs, api_key=KEY) as srv:
        report = fetch_summary(
            tmp_path, query, api_key=KEY, endpoint=srv.url, page_size=7, retry=FAST, write_label_file=True
        )
        expected = _expected(srv, query)
    cands = read_candidates(tmp_path)
    assert [c.id for c in cands] == expected
    for c in cands:
        d = by_id[c.id]
        assert c.source == "mp" and c.formula == d["formula_pretty"]
        assert len(c.structure) == d["nsites"]
        assert c.structure.composition.reduced_formula == d["formula_pretty"]
        for k in ("nsites", "energy_above_hull", "band_gap", "formation_energy_per_atom", "density"):
            assert c.meta[k] == d[k]
        assert c.meta.get("k_vrh") == (d["bulk_modulus"] or {}).get("vrh")
    labels, rejects = labels_table(tmp_path)
    assert [(r.id, r.reason) for r in rejects] == [(elastic[0]["material_id"], "non_positive_modulus")]
    with_elastic = [c.id for c in cands if by_id[c.id]["bulk_modulus"] and c.id != elastic[0]["material_id"]]
    assert labels.column("material_id").to_pylist() == with_elastic
    structures = {c.id: c.structure for c in cands}
    for row in labels.to_pylist():
        d = by_id[row["material_id"]]
        assert row["k_vrh"] == d["bulk_modulus"]["vrh"] and row["g_vrh"] == d["shear_modulus"]["vrh"]
        assert row["density"] == d["density"]
        # independent route: the structure's own density, mass and atom count
        ref = theta_from_structure(structures[row["material_id"]], row["k_vrh"], row["g_vrh"])
        assert row["theta_elastic"] == pytest.approx(ref, rel=1e-5) and 50 < row["theta_elastic"] < 3000
    assert report.label_rows == labels.num_rows == pq.read_table(tmp_path / "labels.parquet").num_rows


def test_mp_api_own_search_is_why_we_page_ourselves(server):
    """Documents the client behaviour this module works around (fails if mp-api changes it)."""
    import warnings

    from mp_api.client import MPRester
    from mp_api.client.core import MPRestError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mpr = MPRester(api_key=KEY, endpoint=server.url, use_document_model=False, mute_progress_bars=True)
    summary = mpr.materials.summary
    # one HTTP 500 on page 3 makes the whole search raise: pages 1-2 are lost
    server.add_faults(3, "500")
    with pytest.raises(MPRestError, match="500"):
        summary.search(deprecated=False, chunk_size=10, fields=["material_id"])
    # the filters our MPQuery sends are the ones summary.search sends for the same filters
    n = len(server.log)
    summary.search(
        elements=["O"],
        band_gap=(0.5, 5.0),
        num_sites=(1, 5),
        deprecated=False,
        num_chunks=1,
        chunk_size=5,
        fields=["material_id"],
    )
    sent = server.log[n]["params"]
    ours = MPQuery(elements=["O"], band_gap_min=0.5, band_gap_max=5.0, nsites_min=1, nsites_max=5).criteria()
    assert {k for k in sent if not k.startswith("_")} == set(ours)
    for k, v in ours.items():
        assert str(sent[k]) == str(v) or float(sent[k]) == float(v)


def test_retry_after_is_honoured_exactly_below_the_cap(server, tmp_path):
    server.retry_after = 1
    server.add_faults(3, "429", "503")
    server.add_faults(4, "500")
    waits: list[float] = []  # recorded, not slept: the server does not care how long we wait
    policy = RetryPolicy(max_attempts=4, backoff_base=0.25, backoff_max=0.25, max_wait=5.0, timeout=5)
    report = fetch_summary(
        tmp_path,
        MPQuery(),
        api_key=KEY,
        endpoint=server.url,
        page_size=10,
        limit=40,
        retry=policy,
        sleep=waits.append,
    )
    assert waits[:2] == [1.0, 1.0]  # Retry-After: 1 on the 429 and the 503
    assert 0.125 <= waits[2] <= 0.25  # no Retry-After on the 500: jittered backoff
    assert (
        report.rows == 40 and report.stopped_at_limit and _ids(tmp_path) == _expected(server, MPQuery())[:40]
    )
