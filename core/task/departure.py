"""Where the user's images depart from the prior: the sentence under the decision card.

A static ranking by ImageNet top-1 is the baseline most transferability estimators fail to beat (Agostinelli et
al., ECCV 2022; Kornblith, Shlens & Le, CVPR 2019: see core/task/candidates.py). After a run, the card says whether
the user's own images agree with it: "ImageNet top-1 would have picked A; on your images B is ahead by +x pp
[lo, hi]", or that the prior's pick holds. The difference and its interval are the card's own (paired over the
test images, core.task.decision); the prior is the publisher's top-1 of each model's exact checkpoint ([T] timm,
[O] open_clip: core/data/catalogue.py). A model with no published number (a local checkpoint file) has no prior
and is named as such.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PriorValue", "published_priors", "prior_departure", "departure_summary"]


@dataclass(frozen=True)
class PriorValue:
    """A model's published prior: its top-1 (fraction), the tag of its publisher, and the checkpoint it is of."""

    value: float
    tag: str
    checkpoint: str


def published_priors(specs) -> dict[str, PriorValue]:
    """model key → its checkpoint's published ImageNet top-1, for every spec whose exact checkpoint a publisher
    lists ({} where the published tables are not downloaded). No torch: reads the catalogue."""
    from core.data.catalogue import read_catalogue
    from core.data.population import PopulationInvalid, PopulationMissing

    try:
        catalogue = {row.checkpoint: row for row in read_catalogue()}
    except (PopulationMissing, PopulationInvalid):
        return {}
    found = {}
    for spec in specs:
        if spec.library == "timm":
            row = catalogue.get(spec.source)
        elif spec.library == "open_clip" and spec.pretrained:
            row = catalogue.get(f"{spec.source}/{spec.pretrained}")
        else:
            row = None
        if row is not None and row.imagenet is not None:
            found[spec.name] = PriorValue(row.imagenet, "T" if row.publisher == "timm" else "O", row.checkpoint)
    return found


def prior_departure(card, candidates, priors: dict[str, PriorValue], labels: dict[str, str] | None = None) -> str:
    """One sentence: the model ImageNet top-1 would have picked, and whether the card's top candidate departs
    from it (with the card's paired difference and interval), or that the prior's pick holds.

    Args:
        card: the DecisionCard (core.task.decision.decision_card).
        candidates: the card's candidates frame (`candidate`, `model` columns: TaskData.candidates).
        priors: model key → PriorValue (`published_priors`).
        labels: model key → the text to show (default: the key).
    """
    labels = labels or {}
    if card.top is None or card.priority == "speed":
        return ""
    model_of = dict(zip(candidates["candidate"], candidates["model"]))
    ran = list(dict.fromkeys(candidates["model"]))
    known = [model for model in ran if model in priors]
    unknown = [labels.get(model, model) for model in ran if model not in priors]
    if not known:
        return ("No model run here has a published ImageNet top-1 for its exact checkpoint: there is no prior's "
                "pick to compare with.")
    text = _departure(card, model_of, priors, known, labels)
    if unknown:
        text += f" Not in the prior's pick (no published top-1 for the exact checkpoint): {', '.join(unknown)}."
    return text


def _departure(card, model_of: dict, priors: dict, known: list, labels: dict) -> str:
    from core.task.decision import difference_text

    pick = max(known, key=lambda model: (priors[model].value, model))
    prior = priors[pick]
    said = f"ImageNet top-1 would have picked {labels.get(pick, pick)} ({prior.value:.1%} [{prior.tag}])"
    top_model = model_of.get(card.top)
    if top_model == pick:
        return f"{said}; on your images the prior's pick holds: {card.top} is the top candidate for {card.priority}."
    # the prior's model at its best on these images: the first of its candidates in the card's order
    mine = next((comparison for comparison in card.comparisons if model_of.get(comparison.candidate) == pick), None)
    if mine is None or mine.difference is None:
        return f"{said}; it could not be scored for {card.priority} on your images."
    numbers = difference_text(card.priority, mine.difference)
    if mine.verdict == "ahead":
        return f"{said}; on your images {card.top} is ahead of its best ({mine.candidate}) by {numbers}."
    return (f"{said}; on your images {card.top} scores {numbers} against its best ({mine.candidate}), but the data "
            "cannot separate them: the prior's pick holds so far.")


def departure_summary(card, candidates, labels: dict[str, str]):
    """(title, table, sentence) for the report: each model's published ImageNet top-1 (or none) and the
    sentence. `labels`: model key → the text shown; the registry gives the specs."""
    import pandas as pd

    from core.models.registry import registry

    models = list(dict.fromkeys(candidates["model"]))
    known = {spec.name: spec for spec in registry()[0]}
    priors = published_priors([known[model] for model in models if model in known])
    table = pd.DataFrame([{"model": labels.get(model, model), "checkpoint": priors[model].checkpoint if model in priors
                           else "", "published ImageNet top-1": priors[model].value if model in priors else None,
                           "source": f"[{priors[model].tag}]" if model in priors else "none published"}
                          for model in models])
    return ("Where your images depart from the ImageNet prior", table,
            prior_departure(card, candidates, priors, labels))
