"""Magpie element property table, shipped inside the package (``cloud_core/data/composition/``).

The table is crabnet 2.0.8's ``crabnet/data/element_properties/magpie.csv``: 22 Magpie element properties
(Ward et al., npj Comput. Mater. 2, 16028 (2016)) for the elements H-Bk (Z 1-97). crabnet's wheel is not
installed at run time, so the CSV is copied verbatim into the package, with a ``PROVENANCE.md`` that this
module writes (source, sha256, license). Refresh it with::

    python -m cloud_core.composition --source /tmp/crabnet/unz/crabnet/data

:func:`element_properties` returns the table on the Z = 1..118 grid that the fraction matrices use, with NaN
for elements the table lacks (Z > 97).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from cloud_core.scope.tables import element_by_symbol

#: fraction matrices and property tables have one row/column per Z = 1..118 (index Z - 1)
N_Z = 118
DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "composition"
TABLE = "magpie.csv"
SOURCE_REL = "element_properties/magpie.csv"
CRABNET_VERSION = "2.0.8"
LICENSE = "MIT (Copyright (c) 2021 Sterling G. Baird), the crabnet wheel's dist-info/LICENSE"
ORIGINAL = (
    "Magpie element property set: L. Ward, A. Agrawal, A. Choudhary, C. Wolverton, 'A general-purpose "
    "machine learning framework for predicting properties of inorganic materials', npj Comput. Mater. 2, "
    "16028 (2016); cite it when using these features"
)


@dataclass(frozen=True)
class ElementProperties:
    """An element property table on the Z grid.

    Attributes
    ----------
    names
        Property names (the CSV's columns after ``element``).
    values
        ``(118, n_properties)`` float64, row ``Z - 1``; NaN for elements the table does not cover.
    covered
        ``(118,)`` bool, True where the table has the element.
    """

    names: tuple[str, ...]
    values: np.ndarray
    covered: np.ndarray

    def standardized(self) -> np.ndarray:
        """``values`` with each property scaled to mean 0, std 1 over the covered elements (NaN stays NaN).

        A ready start for element embeddings (e.g. a linear map of these rows).
        """
        v = self.values[self.covered]
        mu, sd = v.mean(axis=0), v.std(axis=0)
        return (self.values - mu) / np.where(sd > 0, sd, 1.0)


def _read_table(path: Path) -> ElementProperties:
    import pandas as pd

    df = pd.read_csv(path)
    if df.columns[0] != "element" or df.isna().to_numpy().any():
        raise ValueError(f"{path}: expected an 'element' column first and no missing values")
    names = tuple(str(c) for c in df.columns[1:])
    values = np.full((N_Z, len(names)), np.nan)
    covered = np.zeros(N_Z, dtype=bool)
    for sym, row in zip(df["element"], df[list(names)].to_numpy(dtype=float), strict=True):
        z = element_by_symbol(str(sym)).z
        values[z - 1] = row
        covered[z - 1] = True
    values.setflags(write=False)
    covered.setflags(write=False)
    return ElementProperties(names, values, covered)


@cache
def element_properties(name: str = TABLE) -> ElementProperties:
    """The shipped element property table (cached; arrays read-only)."""
    path = DATA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            f"element property table {path} is missing; run python -m cloud_core.composition"
        )
    return _read_table(path)


def install_table(source: Path, dest: Path = DATA_DIR) -> Path:
    """Copy crabnet's ``magpie.csv`` from ``source`` (crabnet's ``data`` folder) and write ``PROVENANCE.md``."""
    src = Path(source) / SOURCE_REL
    if not src.is_file():
        raise FileNotFoundError(
            f"{src} not found: unzip crabnet {CRABNET_VERSION}'s wheel and pass its data dir"
        )
    table = _read_table(src)  # validates before copying
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / TABLE
    tmp = out.with_name(out.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    zs = np.flatnonzero(table.covered) + 1
    text = "\n".join(
        [
            "# Element property table: provenance",
            "",
            "Written by `python -m cloud_core.composition` (do not edit by hand).",
            "",
            f"- File: `{TABLE}` ({out.stat().st_size:,} bytes, sha256 `{digest}`), copied verbatim.",
            f"- Source: the `crabnet` {CRABNET_VERSION} wheel's `crabnet/data/{SOURCE_REL}`, fetched with "
            f"`pip download --no-deps --python-version 3.10 --only-binary :all: crabnet=={CRABNET_VERSION}`.",
            f"- Packaging license: {LICENSE}.",
            f"- Original data: {ORIGINAL}.",
            f"- Coverage: {int(table.covered.sum())} elements, Z {zs.min()}-{zs.max()}; "
            f"{len(table.names)} properties: {', '.join(table.names)}.",
            "- Used by `cloud_core.composition.features` (fraction-weighted statistics per formula).",
            "",
        ]
    )
    (dest / "PROVENANCE.md").write_text(text)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Copy crabnet's Magpie element table into the package.")
    p.add_argument(
        "--source", type=Path, default=Path(os.environ.get("CRABNET_DATA", "/tmp/crabnet/unz/crabnet/data"))
    )
    p.add_argument("--dest", type=Path, default=DATA_DIR)
    args = p.parse_args(argv)
    try:
        out = install_table(args.source, args.dest)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0
