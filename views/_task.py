"""Cached reads of the Your task page: one `TaskData` per (store, version, task) and what is computed from it,
shared by every session (`views._cache`), so a click that changes the priority recomputes only the card."""

from __future__ import annotations

from views._cache import cache
from views import _models as models_ui
from views import _reads as reads

__all__ = ["tasks", "task_data", "tables", "card", "departure"]

_DATA = cache("task_data", 8)
_TABLES = cache("task_tables", 16)
_CARDS = cache("task_cards", 64)


def _key(task: str, models: tuple[str, ...]) -> tuple:
    from core.store import results_path

    return str(results_path()), reads.store_version(), task, models


def tasks():
    from core.store import ResultsStore

    return ResultsStore().tasks()


def _read(task: str, models: tuple[str, ...]):
    from core.store import ResultsStore
    from core.task.measures import read_task

    labels = {model: models_ui.model_label(model) for model in models} if models else None
    data = read_task(ResultsStore(), task, labels=labels)
    if data is None or not models:
        return data
    return _subset(data, models, labels)


def _subset(data, models: tuple[str, ...], labels: dict):
    import dataclasses

    from core.task.measures import candidate_label

    keep = data.candidates["model"].isin(models).to_numpy()
    candidates = data.candidates[keep].reset_index(drop=True)
    candidates["candidate"] = [candidate_label(labels.get(m, m), method, k) for m, method, k in
                               zip(candidates["model"], candidates["method"], candidates["k"])]
    return dataclasses.replace(
        data, candidates=candidates, correct=data.correct[keep], conf=data.conf[keep], brier=data.brier[keep],
        prob_true=data.prob_true[keep], pred=data.pred[keep], kshot=data.kshot[data.kshot["model"].isin(models)],
        corrupted=data.corrupted[data.corrupted["model"].isin(models)],
        conditions=data.conditions[data.conditions["model"].isin(models)] if not data.conditions.empty
        else data.conditions,
        costs=data.costs[data.costs["model"].isin(models)] if not data.costs.empty else data.costs)


def all_models(task: str) -> list[str]:
    """Models with predictions on `task`, in registry order."""
    from core.store import ResultsStore

    found = ResultsStore().task_models(task)
    order = [spec.name for spec in models_ui.models()[0]]
    return [name for name in order if name in found] + sorted(found - set(order))


def task_data(task: str, models: tuple[str, ...]):
    return _DATA.get(_key(task, models), lambda: _read(task, models))


def tables(task: str, models: tuple[str, ...]) -> dict:
    """Every table of the page below the card, computed once per task, model choice and store version."""
    from core.task import measures

    def compute():
        data = task_data(task, models)
        labels = {model: models_ui.model_label(model) for model in models}
        return {"summary": measures.summary_table(data), "kshot": measures.kshot_table(data, labels),
                "corruption": measures.corruption_table(data, labels), "reliability": measures.reliability_table(data),
                "kappa": measures.kappa_table(data), "gallery": measures.disagreements(data),
                "classes": measures.class_table(data), "confusions": measures.confusion_table(data)}

    return _TABLES.get(_key(task, models), compute)


def card(task: str, models: tuple[str, ...], priority: str, mix: tuple[tuple[str, float], ...]):
    """The decision card, with the task's last race (`task run --race`) when it has one."""
    from core.store import ResultsStore
    from core.task.decision import decision_card

    return _CARDS.get((*_key(task, models), priority, mix),
                      lambda: decision_card(task_data(task, models), priority, mix=dict(mix) or None,
                                            race=ResultsStore().task_race(task)))


def departure(task: str, models: tuple[str, ...], card) -> str:
    """The card's sentence on where these images depart from the ImageNet prior (core.task.departure)."""
    from core.task.departure import prior_departure, published_priors

    specs = [spec for spec in models_ui.models()[0] if spec.name in models]
    labels = {model: models_ui.model_label(model) for model in models}
    return prior_departure(card, task_data(task, models).candidates, published_priors(specs), labels)
