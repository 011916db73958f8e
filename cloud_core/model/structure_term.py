"""Multi-fidelity structure term: a composition-level target made structure-aware by a structure-level one.

The formation-energy labels that carry DFT accuracy (``e_form``: Materials Project, per-formula ground state)
exist per composition only; the CHGNet labels (``e_form_mlip``) exist per structure. A target declaring
``TargetSpec.structure_via = "e_form_mlip"`` is predicted for a full-structure SCOPE string ``s`` as

    e_form(s) = e_form(c) + [e_form_mlip(s) - e_form_mlip(c)]

where ``c`` is ``s``'s composition-only string (``? | - | <stoichiometry>``): the DFT-fidelity ground state
of the composition plus how far (at CHGNet fidelity) the structure sits above it. Polymorphs of a composition
are ordered by the structure term alone; composition-only inputs are unchanged (the bracket is 0). The
standard deviation adds the structure's excess uncertainty in quadrature:
``sqrt(std_e(c)^2 + max(0, std_mlip(s)^2 - std_mlip(c)^2))``.

In a checkpoint with a structure term, every other target that is not itself structure-level (not named by a
``structure_via``) was fine-tuned on composition labels only: for a full-structure input it is predicted from
the composition-only string too (the same extra pass), the level at which it was trained and validated, rather
than from a string its head never saw in training. Polymorphs therefore tie on those targets, honestly.

A target with a structure term is a formation energy against elemental references, so the composition-level
value of a pure element is 0 by definition (its ground state is the reference): applied to every unary
composition, whatever the network or its members say (a definition, not a fit).

Cost: one more encoder pass per distinct composition among the full-structure inputs (short strings).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

from cloud_core.model.checkpoint import TargetSpec

STD_SUFFIX = "_std"


def composition_string(scope: str) -> str:
    """The composition-only SCOPE string (``? | - | Na 1 Cl 1``) of any SCOPE string."""
    parts = scope.split("|")
    if len(parts) != 3:
        raise ValueError(f"SCOPE string needs 3 sections separated by '|': {scope!r}")
    return "? | - | " + parts[2].strip()


def structure_targets(targets: Sequence[TargetSpec]) -> list[TargetSpec]:
    """The targets that declare a structure term."""
    return [t for t in targets if t.structure_via]


def is_unary(scope: str) -> bool:
    """Whether a SCOPE string's composition has one element (``... | Cu 1``)."""
    return len(scope.split("|")[-1].split()) == 2 and scope.split("|")[-1].split()[1].isdigit()


def zero_elements(table: pa.Table, scopes: Sequence[str], targets: Sequence[TargetSpec]) -> pa.Table:
    """``table`` with every structure-term target set to 0 on composition-only strings of one element."""
    specs = [t for t in structure_targets(targets) if t.name in table.column_names]
    unary = np.fromiter((is_unary(s) and s.startswith("?") for s in scopes), dtype=bool, count=len(scopes))
    if not specs or not unary.any():
        return table
    cols = {n: table.column(n) for n in table.column_names}
    for t in specs:
        value = table.column(t.name).to_numpy().copy()
        value[unary] = 0.0
        cols[t.name] = pa.array(value, pa.float64())
    return pa.table(cols)


def apply_structure_terms(
    table: pa.Table,
    scopes: Sequence[str],
    targets: Sequence[TargetSpec],
    predict: Callable[[list[str]], pa.Table],
) -> pa.Table:
    """``table`` (predictions for ``scopes``, in order) with every declared structure term applied.

    ``predict`` maps a list of (valid, encodable) composition-only strings to the same columns.
    """
    specs = structure_targets(targets)
    if not specs or table.num_rows == 0:
        return table
    table = zero_elements(table, scopes, targets)
    comps = [composition_string(s) for s in scopes]
    rows = np.fromiter((c != s for s, c in zip(scopes, comps, strict=True)), dtype=bool, count=len(comps))
    if not rows.any():
        return table
    unique = sorted({c for c, r in zip(comps, rows, strict=True) if r})
    where = {c: i for i, c in enumerate(unique)}
    comp_table = zero_elements(predict(unique), unique, targets)
    idx = np.fromiter((where[c] for c, r in zip(comps, rows, strict=True) if r), dtype=np.int64)
    names = set(table.column_names)
    cols = {n: table.column(n) for n in table.column_names}
    vias = {t.structure_via for t in specs}
    for t in targets:  # composition-level targets: their composition-only prediction
        if t.structure_via or t.name in vias:
            continue
        col = "theta_K" if t.kind == "debye" else t.name
        for c in (col, col + STD_SUFFIX):
            if c in names and c in comp_table.column_names:
                value = table.column(c).to_numpy().copy()
                value[rows] = comp_table.column(c).to_numpy()[idx]
                cols[c] = pa.array(value, pa.float64())
    for t in specs:
        col, via = t.name, t.structure_via
        if col not in names or via not in names:
            raise ValueError(f"structure term of {col!r} needs columns {col!r} and {via!r}")
        value = table.column(col).to_numpy().copy()
        own = table.column(via).to_numpy()[rows]
        value[rows] = comp_table.column(col).to_numpy()[idx] + own - comp_table.column(via).to_numpy()[idx]
        cols[col] = pa.array(value, pa.float64())
        s_col, s_via = col + STD_SUFFIX, via + STD_SUFFIX
        if s_col in names and s_via in names:
            std = table.column(s_col).to_numpy().copy()
            base = comp_table.column(s_col).to_numpy()[idx]
            excess = table.column(s_via).to_numpy()[rows] ** 2 - comp_table.column(s_via).to_numpy()[idx] ** 2
            std[rows] = np.sqrt(base**2 + np.clip(excess, 0.0, None))
            cols[s_col] = pa.array(std, pa.float64())
    return pa.table(cols)
