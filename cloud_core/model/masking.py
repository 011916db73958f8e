"""Masked-language-model corruption (BERT 80/10/10) that never touches special or section tokens."""

from __future__ import annotations

import numpy as np

from cloud_core.model.vocab import MASK_ID, Vocabulary

IGNORE_INDEX = -100


def mask_tokens(
    input_ids: np.ndarray,
    vocab: Vocabulary,
    rng: np.random.Generator,
    rate: float = 0.15,
    mask_prob: float = 0.8,
    random_prob: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt a padded batch for MLM.

    Each maskable token (space group, lattice, point group, Wyckoff, element, digit; never [PAD] [CLS]
    [SEP] [MASK] [UNK] ``|`` ``?`` ``-``) is selected with probability ``rate``; a selected token becomes
    [MASK] 80% of the time, a random maskable token 10%, and stays itself 10%. Every row with at least
    one maskable token gets at least one selection, so no sequence is wasted.

    Parameters
    ----------
    input_ids
        int64 (batch, length), padded with [PAD].
    vocab
        The vocabulary (tells which ids are maskable).
    rng
        The random generator (the caller seeds it per step, which makes training resumable bit for bit).
    rate
        Selection probability.
    mask_prob, random_prob
        Shares of selected tokens replaced by [MASK] and by a random maskable token (the rest stay).
        Evaluation uses ``mask_prob=1``.

    Returns
    -------
    (corrupted ids, labels)
        ``labels`` holds the original id at selected positions and ``IGNORE_INDEX`` elsewhere.
    """
    if not 0.0 < rate < 1.0:
        raise ValueError(f"mask rate must be in (0, 1), got {rate}")
    ids = np.asarray(input_ids)
    maskable = vocab.maskable[ids]
    u = rng.random(ids.shape)
    selected = maskable & (u < rate)
    # guarantee one selection per row that has a maskable token
    empty = ~selected.any(axis=1) & maskable.any(axis=1)
    if empty.any():
        scores = np.where(maskable, rng.random(ids.shape), -1.0)
        rows = np.flatnonzero(empty)
        selected[rows, scores[rows].argmax(axis=1)] = True
    labels = np.where(selected, ids, IGNORE_INDEX)
    action = rng.random(ids.shape)
    random_tokens = vocab.maskable_ids[rng.integers(0, len(vocab.maskable_ids), size=ids.shape)]
    out = ids.copy()
    out[selected & (action < mask_prob)] = MASK_ID
    rand = selected & (action >= mask_prob) & (action < mask_prob + random_prob)
    out[rand] = random_tokens[rand]
    return out, labels
