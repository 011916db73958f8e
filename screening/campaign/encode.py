"""Encode step: one chunk of candidates -> SCOPE strings (+ rejects with reasons)."""

from __future__ import annotations

import json
from enum import StrEnum

import numpy as np
import pyarrow as pa

from cloud_core.rejects import Reject
from screening.campaign.rejects_table import rejects_to_table
from screening.campaign.stored_scope import STORED_BACKEND, trusted_mask, validate_stored_scopes
from screening.store.schemas import ENCODED_FIELDS

ENCODED_SCHEMA = pa.schema(list(ENCODED_FIELDS))


class ReadReason(StrEnum):
    """Why a candidate's stored record could not be read."""

    BAD_STRUCTURE = "bad_structure"
    BAD_FORMULA = "bad_formula"


def encode_chunk(table: pa.Table, *, symprec: float = 0.01) -> tuple[pa.Table, pa.Table]:
    """SCOPE-encode one chunk.

    A candidate whose stored SCOPE string the campaign trusts (:func:`~screening.campaign.stored_scope.trusted_mask`)
    is validated instead of encoded: no structure is read and no symmetry searched.

    Parameters
    ----------
    table
        Candidates with :data:`~screening.sources.candidate.CANDIDATE_SCHEMA`.
    symprec
        Symmetry tolerance (Angstrom).

    Returns
    -------
    encoded, rejects
        ``encoded`` has :data:`ENCODED_SCHEMA` (one row per encoded candidate, in input order); ``rejects`` one
        row per candidate that could not be read or encoded (stage ``read`` or ``scope``). Every string
        written passed the SCOPE validator (:mod:`cloud_core.scope.validate`); one that does not is a
        ``scope`` reject with the validator's reason (an encoder bug, never silently stored).
    """
    from pymatgen.core import Structure

    from cloud_core.scope import ScopeError, encode_formula, encode_many
    from cloud_core.scope.validate import check_scopes
    from screening.campaign.source_tables import READ_REJECT_KEY

    trusted = trusted_mask(table, symprec)
    cols = table.select(["candidate_id", "source", "formula", "structure_json", "meta_json"]).to_pydict()
    rejects: list[Reject] = []
    info: dict[str, tuple[str | None, str | None]] = {}
    struct_ids, structures, records = [], [], {}
    stored_strings: dict[str, str] = {}
    for cid, src, formula, sj, meta, stored in zip(
        cols["candidate_id"],
        cols["source"],
        cols["formula"],
        cols["structure_json"],
        cols["meta_json"],
        trusted,
        strict=True,
    ):
        info[cid] = (src, formula)
        if stored:  # the source's SCOPE string: no structure read, no symmetry search
            continue
        if sj:
            try:
                structures.append(Structure.from_dict(json.loads(sj)))
                struct_ids.append(cid)
            except Exception as exc:  # a corrupt record is one reject, not a failed chunk
                rejects.append(
                    Reject(cid, "read", ReadReason.BAD_STRUCTURE, f"{type(exc).__name__}: {exc}"[:500])
                )
        elif formula:
            try:
                records[cid] = encode_formula(formula)
            except ScopeError as exc:
                rejects.append(Reject(cid, "scope", str(exc.reason), str(exc)[:500]))
            except Exception as exc:
                rejects.append(
                    Reject(cid, "read", ReadReason.BAD_FORMULA, f"{type(exc).__name__}: {exc}"[:500])
                )
        elif meta and READ_REJECT_KEY in (read := json.loads(meta)):  # the source could not read this item
            why = read[READ_REJECT_KEY]
            rejects.append(Reject(cid, "read", str(why.get("reason")), str(why.get("message"))[:500]))
        else:
            rejects.append(Reject(cid, "read", ReadReason.BAD_STRUCTURE, "neither a structure nor a formula"))
    if structures:
        ok, scope_rejects = encode_many(structures, ids=struct_ids, symprec=symprec)
        records.update(dict(ok))
        rejects.extend(scope_rejects)
    if trusted.any():
        rows_at = np.flatnonzero(trusted)
        stored_ids = [cols["candidate_id"][i] for i in rows_at]
        strings = table.column("scope").take(pa.array(rows_at)).to_pylist()
        for cid, text, got in zip(stored_ids, strings, validate_stored_scopes(strings), strict=True):
            if isinstance(got, ScopeError):
                rejects.append(
                    Reject(cid, "scope", str(got.reason), f"stored SCOPE string: {got.message}"[:500])
                )
            else:
                records[cid] = got
                stored_strings[cid] = text
    # every string written passes the one validator: stored strings as stored, encoded ones as written
    scopes = {cid: stored_strings.get(cid) or rec.to_string() for cid, rec in records.items()}
    check = check_scopes(list(scopes.values()))
    rejects.extend(check.rejects(list(scopes), stage="scope"))
    invalid = {cid for k, cid in enumerate(scopes) if not check.valid[k]}
    rows = []
    for cid in cols["candidate_id"]:
        rec = records.get(cid)
        if rec is None or cid in invalid:
            continue
        src, formula = info[cid]
        if not formula:
            formula = "".join(f"{el}{n if n != 1 else ''}" for el, n in rec.stoichiometry)
        rows.append(
            {
                "candidate_id": cid,
                "source": src,
                "formula": formula,
                "scope": scopes[cid],
                "spacegroup": rec.spacegroup,
                "n_sites": rec.n_sites,
                "scope_backend": STORED_BACKEND if rec.backend == "string" else rec.backend,
            }
        )
    return pa.Table.from_pylist(rows, schema=ENCODED_SCHEMA), rejects_to_table(rejects)
