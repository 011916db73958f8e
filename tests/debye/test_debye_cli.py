"""``cloud debye`` prints JSON with units in the keys; per-cell values null without --n-atoms."""

from __future__ import annotations

import json

import pytest

from flows.cli import main


def test_cli_theta_grid(capsys):
    assert main(["debye", "--theta", "300,645", "--n-atoms", "2", "--temps", "0,300"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["rows"]
    assert len(rows) == 4 and rows[0]["theta_K"] == 300.0 and rows[1]["T_K"] == 300.0
    assert rows[0]["cv_J_per_molatom_K"] == 0.0 and rows[0]["u_J_per_molatom"] == pytest.approx(
        9 / 8 * 8.314462618 * 300
    )
    assert rows[1]["cv_J_per_molcell_K"] == pytest.approx(2 * rows[1]["cv_J_per_molatom_K"])
    assert {"s_J_per_molatom_K", "f_J_per_molatom", "u_J_per_molcell", "f_J_per_molcell"} <= set(rows[1])


def test_cli_without_n_atoms_gives_null_per_cell(capsys):
    assert main(["debye", "--theta", "400", "--temps", "300", "--indent", "0"]) == 0
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert row["cv_J_per_molcell_K"] is None and row["cv_J_per_molatom_K"] > 0


def test_cli_elastic_theta(capsys):
    args = [
        "debye",
        "--bulk-gpa",
        "97.8",
        "--shear-gpa",
        "66.5",
        "--density",
        "2.329",
        "--molar-mass",
        "28.0855",
    ]
    assert main([*args, "--n-atoms", "1", "--temps", "300"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["theta_source"] == "elastic" and out["rows"][0]["theta_elastic_K"] == pytest.approx(
        645, rel=0.05
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["debye", "--theta", "-5", "--temps", "300"],
        ["debye", "--theta", "300,400", "--n-atoms", "1,2,3", "--temps", "300"],
        ["debye", "--bulk-gpa", "100", "--temps", "300"],
    ],
)
def test_cli_bad_input_exit_code_and_message(argv, capsys):
    # a bad value is refused by argparse (SystemExit 2) or by the command (return 2): one error line either way
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0] and "Traceback" not in err[0]
