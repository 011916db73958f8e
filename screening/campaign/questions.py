"""Plan-time check of a campaign's objectives: can its model answer them? (before any candidate is screened)

The leaderboard's columns are the candidate fields, the model's outputs, the reference hull's columns (energies
only when the model predicts ``e_form``) and the Debye values. An objective that needs anything else fails here
with one line naming the column. A checkpoint's outputs are its config's prediction columns
(:func:`check_objectives_for_checkpoint`: no model is loaded, no torch imported; a ``<target>_std`` column is
declared only for a target with an uncertainty head, which always fills it); any other predictor's are found by
predicting one probe string (:func:`check_objectives`), so ``<target>_std`` columns count only when it fills them.
"""

from __future__ import annotations

import math

from screening.campaign.predict import PredictorLike
from screening.campaign.spec import ScreenParameters
from screening.hull import HullColumn
from screening.objectives import Objective, ObjectiveError, check_ranking
from screening.ranking import leaderboard_columns

#: A formula-only SCOPE string every model reads.
PROBE_SCOPE = "? | - | Na 1 Cl 1"


def model_outputs(predictor: PredictorLike) -> tuple[list[str], set[str]]:
    """``(output columns, columns with a finite value)`` of the predictor on :data:`PROBE_SCOPE`."""
    table = predictor.predict([PROBE_SCOPE], batch_size=1)
    names = [n for n in table.column_names if n not in ("id", "model_id", "embedding")]
    filled = set()
    for n in names:
        v = table.column(n)[0].as_py()
        if isinstance(v, int | float) and math.isfinite(v):
            filled.add(n)
    return names, filled


def leaderboard_columns_for(outputs: list[str]) -> list[str]:
    """The leaderboard's columns for a model with these outputs (:func:`screening.ranking.leaderboard_columns`)."""
    return leaderboard_columns(outputs)


def check_objectives(params: ScreenParameters, predictor: PredictorLike) -> dict[Objective, str]:
    """Check the main objective (raises) and the extra ones (returns ``{objective: why not}`` for those that
    cannot be answered, so a scheduled campaign still runs and says why in their artifacts).

    Raises
    ------
    ObjectiveError
        When the main objective needs a column or an uncertainty the model does not give.
    """
    outputs, filled = model_outputs(predictor)
    return check_objectives_for_outputs(params, outputs, filled)


def check_objectives_for_checkpoint(params: ScreenParameters, checkpoint: str) -> dict[Objective, str]:
    """:func:`check_objectives` for a checkpoint directory, from its config's prediction columns (torch-free)."""
    from cloud_core.model.config_reader import checkpoint_prediction_columns

    outputs = checkpoint_prediction_columns(checkpoint)
    return check_objectives_for_outputs(params, outputs, set(outputs))


def check_objectives_for_outputs(
    params: ScreenParameters, outputs: list[str], filled: set[str]
) -> dict[Objective, str]:
    """:func:`check_objectives` for a model with these output columns, ``filled`` those with finite values."""
    filled = set(filled)
    columns = leaderboard_columns_for(outputs)
    if "e_form_std" in filled:
        filled.add(HullColumn.E_ABOVE_HULL_STD)

    def has_std(col: str) -> bool:
        return f"{col}_std" in filled

    hint = (
        " (the model predicts no e_form, so there is no energy above hull)" if "e_form" not in outputs else ""
    )
    try:
        check_ranking(params.ranking(), columns, has_std)
    except ObjectiveError as exc:
        raise ObjectiveError(f"{exc}{hint if 'e_above_hull' in str(exc) else ''}") from None
    skipped: dict[Objective, str] = {}
    for obj in params.objectives()[1:]:
        try:
            check_ranking(params.ranking(obj), columns, has_std)
        except ObjectiveError as exc:
            skipped[obj] = str(exc)
    return skipped
