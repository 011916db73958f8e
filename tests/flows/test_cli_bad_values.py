"""Every bad command-line value is one error line naming the option, exit code non-zero, no traceback, and
nothing started (every ``cloud`` sub-command except ``query``, which has its own tests).

The commands run in this process (``flows.cli.main``), so a bad value that slipped through would start the
work it must not start; the campaign ones also check that no plan was written.
"""

from __future__ import annotations

import pytest

pytest.importorskip("cloud_core.scope")

from flows.cli import main  # noqa: E402


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``cloud ARGV`` in this process: (exit code, stdout, stderr)."""
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse errors
        rc = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_error_line(rc: int, out: str, err: str, needle: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc != 0, (out, err)
    assert "Traceback" not in out + err, err
    assert len(lines) == 1, err
    assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def top_store(tmp_path_factory, flow_pool, flow_checkpoint):
    """A results store holding one small finished campaign (run in this process, no Prefect)."""
    from screening.campaign import ScreenParameters
    from screening.campaign.runner import run_campaign

    res = tmp_path_factory.mktemp("top") / "res"
    params = ScreenParameters(campaign_id="bad-values", source={"kind": "pool", "path": str(flow_pool), "limit": 8},
                              checkpoint=str(flow_checkpoint), results_dir=str(res), chunk_size=8)  # fmt: skip
    run_campaign(params)
    return res


# (arguments after the command, text the error line must hold)
SCREEN_BAD = [
    (["--chunk-size", "0"], "--chunk-size"),
    (["--chunk-size", "-3"], "--chunk-size"),
    (["--chunk-size", "x"], "--chunk-size"),
    (["--batch-size", "-1"], "--batch-size"),
    (["--batch-size", "0"], "--batch-size"),
    (["--top-k", "-1"], "--top-k"),
    (["--limit", "0"], "--limit"),
    (["--workers", "0"], "--workers"),
    (["--validate-top-k", "-1"], "--validate-top-k"),
    (["--symprec", "nan"], "--symprec"),
    (["--symprec", "0"], "--symprec"),
    (["--temperatures", "nan"], "--temperatures"),
    (["--temperatures", "300,-5"], "--temperatures"),
    (["--temperatures", "300,inf"], "--temperatures"),
    (["--temperatures", "abc"], "--temperatures"),
    (["--rank-temperature", "nan"], "--rank-temperature"),
    (["--rank-temperature", "0"], "--rank-temperature"),
    (["--where", "theta_K"], "--where"),
]
SCREEN_ONLY_BAD = [
    (["--size", "0"], "--size"),
    (["--offset", "-1"], "--offset"),
]


@pytest.mark.parametrize(
    ("args", "needle"),
    SCREEN_BAD + SCREEN_ONLY_BAD,
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_screen_bad_values(args, needle, capsys, tmp_path):
    # a checkpoint that does not exist: a value that slipped through stops there (another message), not later
    argv = ["screen", "--results", str(tmp_path / "res"), "--checkpoint", str(tmp_path / "no-ckpt"), *args]
    assert_one_error_line(*run_cli(argv, capsys), needle)
    assert not (tmp_path / "res" / "campaigns").exists()


@pytest.mark.parametrize(
    ("args", "needle"), SCREEN_BAD, ids=lambda v: " ".join(v) if isinstance(v, list) else None
)
def test_main_bad_values(args, needle, capsys, tmp_path):
    argv = ["main", "--results", str(tmp_path / "res"), "--checkpoint", str(tmp_path / "no-ckpt"), *args]
    assert_one_error_line(*run_cli(argv, capsys), needle)
    assert not (tmp_path / "res" / "campaigns").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--where", "nosuchcol>3"], "nosuchcol"),
        (["--where", "spacegroup=abc"], "spacegroup"),
        (["--where", "formula>abc", "--where", "n_sites<x"], "n_sites"),
        (["--rank-by", "nosuchcol"], "nosuchcol"),
    ],
    ids=["unknown-column", "type-mismatch", "second-filter", "rank-by"],
)
def test_screen_ranking_checked_before_the_campaign_runs(
    args, needle, capsys, tmp_path, flow_pool, flow_checkpoint
):
    res = tmp_path / "res"
    argv = ["screen", "--campaign", "never", "--path", str(flow_pool), "--limit", "4", "--checkpoint",
            str(flow_checkpoint), "--results", str(res), "--workers", "1", "--threads", "--no-progress", *args]  # fmt: skip
    assert_one_error_line(*run_cli(argv, capsys), needle)
    assert not (res / "campaigns" / "never").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-k", "-1"], "-k"),
        (["-k", "0"], "-k"),
        (["--where", "spacegroup=abc"], "spacegroup"),
        (["--where", "nosuchcol>3"], "nosuchcol"),
        (["--where", "theta_K"], "--where"),
        (["--by", "nosuchcol"], "nosuchcol"),
        (["--temperature", "nan"], "--temperature"),
        (["--temperature", "-5"], "--temperature"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_top_bad_values(args, needle, capsys, top_store):
    assert_one_error_line(*run_cli(["top", "--results", str(top_store), *args], capsys), needle)


def test_top_good_values_still_work(capsys, top_store):
    # the stability threshold off: this store's tiny model is untrained, so few of its rows are near the hull
    rc, out, err = run_cli(["top", "--results", str(top_store), "-k", "3", "--where", "spacegroup>=1",
                            "--where", "formula!=NaCl", "--max-e-above-hull", "none", "--format", "csv"],
                           capsys)  # fmt: skip
    assert rc == 0, err
    assert len(out.strip().splitlines()) == 4


OTHER_BAD = [
    (["predict", "--scope", "? | - | Na 1 Cl 1", "--batch-size", "0"], "--batch-size"),
    (["predict", "x.cif", "--symprec", "nan"], "--symprec"),
    (["encode", "x.cif", "--symprec", "inf"], "--symprec"),
    (["debye", "--theta", "nan", "--temps", "300"], "--theta"),
    (["debye", "--theta", "-300", "--temps", "300"], "--theta"),
    (["debye", "--theta", "300", "--temps", "-1"], "--temps"),
    (["debye", "--theta", "300", "--temps", "300", "--n-atoms", "0"], "--n-atoms"),
    (["debye", "--theta", "300", "--temps", "300", "--indent", "-1"], "--indent"),
    (["fetch-mp", "--out", "OUT", "--page-size", "0"], "--page-size"),
    (["fetch-mp", "--out", "OUT", "--page-size", "2000"], "--page-size"),
    (["fetch-mp", "--out", "OUT", "--timeout", "nan"], "--timeout"),
    (["fetch-mp", "--out", "OUT", "--backoff", "-1"], "--backoff"),
    (["fetch-mp", "--out", "OUT", "--max-wait", "inf"], "--max-wait"),
    (["fetch-mp", "--out", "OUT", "--band-gap-min", "nan"], "--band-gap-min"),
    (["fetch-mp", "--out", "OUT", "--e-above-hull-max", "-1"], "--e-above-hull-max"),
    (["build-pool", "--out", "OUT", "--size", "0"], "--size"),
    (["build-pool", "--out", "OUT", "--batch-size", "0"], "--batch-size"),
    (["build-pool", "--out", "OUT", "--max-sites", "-1"], "--max-sites"),
    (["build-pool", "--out", "OUT", "--symprec", "nan"], "--symprec"),
    (["build-corpora", "--out", "OUT", "--limit", "0"], "--limit"),
    (["build-pretrain-corpus", "--out", "OUT", "--size", "0"], "--size"),
    (["build-pretrain-corpus", "--out", "OUT", "--shard-size", "0"], "--shard-size"),
    (["build-pretrain-corpus", "--out", "OUT", "--workers", "0"], "--workers"),
    (["build-pretrain-corpus", "--out", "OUT", "--max-tokens", "0"], "--max-tokens"),
    (["phonons", "x.cif", "--threads", "0"], "--threads"),
    (["phonons", "x.cif", "--supercell-min-length", "nan"], "--supercell-min-length"),
    (["phonons", "x.cif", "--temps", "nan"], "--temps"),
    (["build-phonon-reference", "--out", "OUT", "--workers", "0"], "--workers"),
    (["build-phonon-reference", "--out", "OUT", "--threads", "-2"], "--threads"),
    (["build-phonon-reference", "--out", "OUT", "--max-sites", "0"], "--max-sites"),
    (["build-phonon-reference", "--out", "OUT", "--limit", "-1"], "--limit"),
    (["ui", "--port", "0"], "--port"),
    (["ui", "--port", "70000"], "--port"),
    (["pretrain", "x.parquet", "--out", "OUT", "--batch-size", "0"], "--batch-size"),
    (["pretrain", "x.parquet", "--out", "OUT", "--steps", "-1"], "--steps"),
    (["pretrain", "x.parquet", "--out", "OUT", "--lr", "nan"], "--lr"),
    (["pretrain", "x.parquet", "--out", "OUT", "--mask-rate", "1.5"], "--mask-rate"),
    (["finetune", "x.parquet", "--out", "OUT", "--epochs", "0"], "--epochs"),
    (["finetune", "x.parquet", "--out", "OUT", "--lr", "-1"], "--lr"),
    (["finetune", "x.parquet", "--out", "OUT", "--val-fraction", "2"], "--val-fraction"),
]


@pytest.mark.parametrize(
    ("argv", "needle"), OTHER_BAD, ids=lambda v: " ".join(v) if isinstance(v, list) else None
)
def test_other_commands_bad_values(argv, needle, capsys, tmp_path):
    out_dir = tmp_path / "out"
    argv = [str(out_dir) if a == "OUT" else a for a in argv]
    assert_one_error_line(*run_cli(argv, capsys), needle)
    assert not out_dir.exists()
