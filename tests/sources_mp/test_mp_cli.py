"""``cloud fetch-mp`` end to end: a download SIGKILLed mid-way is resumed by running the command again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mp_server import MPTestServer, make_docs

from flows.cli import main
from screening.sources.materials_project import read_candidates

ROOT = Path(__file__).resolve().parents[2]
KEY = "Pq8sT2vX6zB1dF5hK9mN3rW7yC0gJ4lQ"
assert len(KEY) == 32


def _files_with(root: Path, needle: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_sigkill_mid_download_then_rerun_gives_exactly_the_server_ids(tmp_path, monkeypatch, capsys, caplog):
    out = tmp_path / "mp"
    with MPTestServer(make_docs(90, seed=5), api_key=KEY) as srv:
        srv.add_faults(3, "429", "drop")
        srv.add_faults(5, "stall")  # the 5th page never answers: the process is killed while waiting for it
        args = [
            "fetch-mp",
            "--out",
            str(out),
            "--endpoint",
            srv.url,
            "--page-size",
            "10",
            "--nsites-max",
            "8",
        ]
        args += ["--backoff", "0.01", "--max-wait", "0.5"]
        env = {**os.environ, "MP_API_KEY": KEY, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            # meanwhile load mp-api here too (the in-process run below needs it)
            import mp_api.client  # noqa: F401

            for _ in range(2400):  # up to 240 s on a loaded machine; stop early if the process died
                if srv.stalled.wait(timeout=0.1) or proc.poll() is not None:
                    break
            assert srv.stalled.is_set(), f"the download never reached page 5: {proc.communicate()}"
            proc.send_signal(signal.SIGKILL)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            srv.release()
        assert proc.returncode == -signal.SIGKILL
        manifest = json.loads((out / "manifest.json").read_text())
        assert [p["page"] for p in manifest["pages"]] == [1, 2, 3, 4] and manifest["next_skip"] == 40
        assert b"429" in stderr and b"connection" in stderr  # progress and retries are reported
        killed_requests = len(srv.summary_requests())

        monkeypatch.setenv("MP_API_KEY", KEY)
        caplog.set_level("DEBUG")
        assert main(args) == 0
        printed = capsys.readouterr()
        expected = srv.matching_ids({"deprecated": "False", "nsites_min": "1", "nsites_max": "8"})
        ids = [c.id for c in read_candidates(out)]
        assert ids == expected and len(set(ids)) == len(ids)
        assert "resumed at _skip=40" in printed.out and str(out / "shards") in printed.out
        assert min(int(e["params"]["_skip"]) for e in srv.summary_requests()[killed_requests:]) == 40

        assert main([*args, "--json"]) == 0  # a third run: complete, nothing fetched
        report = json.loads(capsys.readouterr().out)
        assert report["complete"] and report["pages_fetched"] == 0 and report["rows"] == len(expected)

    for text in (stdout, stderr):
        assert KEY.encode() not in text
    assert KEY not in printed.out + printed.err + caplog.text
    assert not _files_with(out, KEY)
    print(
        f"\nMEASURED sigkill: killed after {len(manifest['pages'])} pages stored, resumed at _skip=40, "
        f"{len(ids)} ids == server's {len(expected)}, duplicates 0"
    )


def test_cli_refuses_bad_input_and_bad_key(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MP_API_KEY", KEY)
    assert main(["fetch-mp", "--out", str(tmp_path), "--elements", "Xx"]) == 2
    assert "not an element symbol" in capsys.readouterr().err
    assert main(["fetch-mp", "--out", str(tmp_path), "--band-gap-min", "3", "--band-gap-max", "1"]) == 2
    capsys.readouterr()
    with MPTestServer(make_docs(5), api_key="0" * 32) as srv:
        rc = main(["fetch-mp", "--out", str(tmp_path), "--endpoint", srv.url, "--elements", "O"])
        err = capsys.readouterr().err
        assert rc == 3 and "refused the API key" in err and KEY not in err
        assert len(srv.summary_requests()) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_auth_statuses_are_fatal(tmp_path, status):
    """The real MP answers 401 or 403 to a bad key; both stop at once."""
    from screening.sources.materials_project import MPAuthError, MPQuery, fetch_summary

    with MPTestServer(make_docs(5), api_key="0" * 32) as srv:
        srv.bad_key_status = status
        with pytest.raises(MPAuthError, match=f"HTTP {status}"):
            fetch_summary(tmp_path, MPQuery(elements="O"), api_key=KEY, endpoint=srv.url)
        assert len(srv.summary_requests()) == 1
