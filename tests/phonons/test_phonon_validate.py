"""validate(): the phonon_validation table for a campaign's leaders; the ``cloud phonons`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from flows.cli import main
from screening.phonons import PhononSettings
from screening.phonons.validate import PHONON_VALIDATION_SCHEMA, validate


def _fcc(el: str, a: float) -> Structure:
    return Structure(Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]]), [el], [[0, 0, 0]])


def test_validate_rows_predicted_next_to_computed():
    temps = [50.0, 100.0, 300.0, 600.0]
    items = [("cu", _fcc("Cu", 3.61)), ("al", _fcc("Al", 4.05)), ("bad", Structure(Lattice.cubic(3), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]]))]
    table, rejects = validate(
        items, {"cu": 340.0, "al": -1.0}, temperatures=temps, campaign_id="c1",
        settings=PhononSettings(supercell_min_length=7.0), torch_threads=1,
    )
    assert table.schema.equals(PHONON_VALIDATION_SCHEMA)
    rows = {r["id"]: r for r in table.to_pylist()}
    assert set(rows) == {"cu", "al"}
    assert [j.id for j in rejects] == ["bad"]
    cu = rows["cu"]
    assert cu["campaign_id"] == "c1" and cu["dynamically_stable"]
    assert cu["theta_pred_K"] == 340.0 and len(cu["cv_pred_J_per_molatom_K"]) == len(temps)
    pred, phon = np.asarray(cu["cv_pred_J_per_molatom_K"]), np.asarray(cu["cv_phonon_J_per_molatom_K"])
    assert cu["cv_mae_J_per_molatom_K"] == pytest.approx(np.mean(np.abs(pred - phon)))
    # the Debye curve for Cu's measured theta (~340 K) and CHGNet's phonon curve differ by a few J/(mol K)
    assert cu["cv_mae_J_per_molatom_K"] < 6.0
    assert 150.0 < cu["theta_fit_K"] < 400.0
    assert np.all(np.asarray(cu["cv_phonon_J_per_molatom_K"]) > 0)
    # a non-positive predicted theta leaves the predicted curves null, the phonon curves are still there
    al = rows["al"]
    assert al["theta_pred_K"] is None and al["cv_pred_J_per_molatom_K"] is None
    assert al["theta_fit_K"] is None or al["theta_fit_K"] > 0
    assert len(al["cv_phonon_J_per_molatom_K"]) == len(temps)


def test_cli_phonons_json(tmp_path, capsys):
    path = tmp_path / "Al.cif"
    _fcc("Al", 4.05).to(filename=str(path))
    rc = main(["phonons", str(path), "--temps", "20,100,300", "--supercell-min-length", "7", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    (res,) = out["results"]
    assert res["formula"] == "Al" and res["potential"] == "chgnet-0.3.0"
    assert res["supercell_matrix"] == [3, 3, 3]
    # per mole of atoms: Al's Cv rises with T and stays below Dulong-Petit (CHGNet's Al is soft: ~24.5 at 300 K
    # against a harmonic ~23 from DFT)
    cv = res["cv_J_per_molatom_K"]
    assert cv[0] < cv[1] < cv[2] < 3 * 8.314462618 and cv[2] > 22.0


def test_cli_phonons_missing_file(tmp_path, capsys):
    assert main(["phonons", str(tmp_path / "nope.cif")]) == 2
    assert "is not a file" in capsys.readouterr().err
