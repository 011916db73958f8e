"""Structure-level labels distilled from CHGNet (issue 12, item 2).

The data flow, all plain functions (the CLI ``cloud build-mlip-labels`` only wires them):

```
work list (worklist.py): deterministic, most valuable first
    tier A (relax): elements and their polymorphs -> binary polymorph sets -> real corpora -> the rest
    tier B (eos):   the bundled pool, volume-only equation of state
  -> compute.py: CHGNet relaxation under FixSymmetry (tier A) or a volume scan (tier B), E(V) fit, checks
     -> one row per structure: status "ok" or "reject" (reason, message); raw energies + MP2020 correction
  -> builder.py: shards of N structures (Parquet, zstd, temp + rename) + manifest of done ids; rerun = resume
  -> finalize.py: elemental references, formation energies (raw / MP2020-corrected, decided by measurement
     against the MP per-formula minima), calibration, labels.parquet + rejects.parquet + PROVENANCE
```
Every row carries the SCOPE string of its *input* structure; a relaxation whose re-encoded SCOPE differs is a
reject (``symmetry_changed``), so each label belongs to its string.
"""

from __future__ import annotations
