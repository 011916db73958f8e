"""A pool of SCOPE-only candidates: a million and more distinct canonical SCOPE strings, no structures.

Each candidate is a canonical string built with the pre-training corpus's machinery
(:mod:`screening.corpora.pretrain`), drawn per candidate with the probabilities :data:`DEFAULT_FRACTIONS`:

``skeleton``
    A real space-group x Wyckoff-set combination from pyxtal's ``spg_num_wps_mp.csv`` (counted over 88,678
    Materials Project structures; drawn in proportion to its count), its orbits partitioned over 1-6 elements and
    decorated with a charge-balanced ionic composition (ICSD ion frequencies, every anion more electronegative
    than every cation).
``prototype``
    One of the AFLOW prototypes pymatgen ships, its element grouping kept, re-decorated the same way.

Every string comes from a :class:`~cloud_core.scope.ScopeRecord` whose orbits are canonicalised by
:func:`cloud_core.scope.canonical_orbits`, so it is canonical by construction; a campaign still validates every
one (:mod:`screening.campaign.stored_scope`). Strings longer than ``max_tokens`` SCOPE tokens (the shipped model
reads 64 with its two markers) are skipped. Distinctness is exact up to a 64-bit digest per string (the chance of
one false duplicate among 10^6 strings is ~3e-8; a false duplicate only skips a string).

The pool is a seeded stream: the same ``seed`` gives the same candidates in the same order, candidate ``index`` is
``scope-<seed>-<index:08d>``; memory stays at the digest set (~70 MB for 10^6) plus one batch.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from screening.sources.candidate import Candidate

SOURCE = "scope_pool"
#: Probability of each kind of candidate.
DEFAULT_FRACTIONS: dict[str, float] = {"skeleton": 0.85, "prototype": 0.15}
#: The shipped model reads 64 tokens, two of them [CLS] and [SEP]; a SCOPE token is one model token.
DEFAULT_MAX_TOKENS = 62


@dataclass
class ScopePoolStats:
    """What a run did: draws, accepted candidates and why draws were skipped."""

    attempts: int = 0
    accepted: int = 0
    kinds: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)
    exhausted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "accepted": self.accepted,
            "kinds": dict(sorted(self.kinds.items())),
            "failures": dict(sorted(self.failures.items())),
            "exhausted": self.exhausted,
        }


class ScopePool:
    """A seeded, streaming pool of distinct SCOPE-only candidates.

    Parameters
    ----------
    size
        Number of candidates to produce.
    seed
        Random seed; the same seed gives the same candidates, in the same order, with the same ids.
    batch_size
        Candidates per yielded batch.
    max_tokens
        Skip strings with more SCOPE tokens than this.
    fractions
        Probability of each kind (``skeleton``, ``prototype``, ``skeleton_metal``).
    max_misses
        Consecutive draws without a new string after which the stream ends (:attr:`stats` says so).
    """

    def __init__(
        self,
        size: int,
        seed: int = 0,
        *,
        batch_size: int = 10_000,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        fractions: dict[str, float] | None = None,
        max_misses: int = 100_000,
    ) -> None:
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.size = size
        self.seed = seed
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.fractions = dict(fractions or DEFAULT_FRACTIONS)
        unknown = set(self.fractions) - {"skeleton", "prototype", "skeleton_metal"}
        if unknown:
            raise ValueError(f"unknown kinds {sorted(unknown)}")
        self.max_misses = max_misses
        self.dedup = "scope"
        self.stats = ScopePoolStats()

    def candidate_id(self, index: int) -> str:
        return f"scope-{self.seed}-{index:08d}"

    def __iter__(self) -> Iterator[list[Candidate]]:
        return self.batches()

    def batches(self) -> Iterator[list[Candidate]]:
        """Yield lists of up to ``batch_size`` candidates until ``size`` are produced."""
        import itertools

        from cloud_core.scope import scope_version
        from screening.corpora.pretrain import CorpusGenerator, PretrainConfig, skeleton_record

        self.stats = stats = ScopePoolStats()
        rng = random.Random(f"cloud-scope-pool-{self.seed}")
        gen = CorpusGenerator(
            PretrainConfig(fractions=self.fractions, max_tokens=self.max_tokens), rng, [], set()
        )
        kinds = list(self.fractions)
        cum = list(itertools.accumulate(self.fractions[k] for k in kinds))
        version = scope_version()
        seen: set[int] = set()
        batch: list[Candidate] = []
        misses = 0
        while stats.accepted < self.size:
            if misses >= self.max_misses:
                stats.exhausted = True
                break
            stats.attempts += 1
            kind = rng.choices(kinds, cum_weights=cum)[0]
            sk, elements = gen.decorated(kind)
            rec = skeleton_record(sk, elements)
            scope = rec.to_string()
            if scope.count(" ") + 1 > self.max_tokens:
                stats.failures["too_long"] += 1
                misses += 1
                continue
            digest = int.from_bytes(hashlib.blake2b(scope.encode(), digest_size=8).digest(), "little")
            if digest in seen:
                stats.failures["duplicate"] += 1
                misses += 1
                continue
            seen.add(digest)
            misses = 0
            batch.append(
                Candidate(
                    self.candidate_id(stats.accepted),
                    SOURCE,
                    None,
                    rec.formula,
                    {"kind": kind},
                    scope,
                    None,
                    version,
                )
            )
            stats.accepted += 1
            stats.kinds[kind] += 1
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch
