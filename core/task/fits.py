"""One model's classifiers on a task's stored features: zero-shot (CLIP), full probe, k-shot probes.

Each (method, k, draw, condition) is keyed by everything that decides its predictions (feature keys, the
task's images, labels and split, the class names and templates, the C grid, the seed); `fit_model` skips
a model whose every key is stored already, so a rerun loads no features and fits nothing.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from core.store import content_key
from core.task.spec import TaskSpec, task_templates

__all__ = ["fit_model", "kshot_seed"]


def kshot_seed(seed: int, k: int, draw: int) -> int:
    """The seed of draw `draw` at k shots: fixed per (task seed, k, draw), so a rerun redraws the same images."""
    return int(seed) * 1_000_003 + int(k) * 101 + int(draw)


def _digest(*parts) -> str:
    """The key of a fit's parts (`core.store.content_key` of them as one list)."""
    return content_key(parts)


def fit_model(spec: TaskSpec, images, model_name: str, model, conditions: list[str], *, shots: Sequence[int],
              draws: int, store, device: str, say: Callable[[str], None] = print) -> int:
    """Fit and store every missing method of one model; returns the number of fits written (0: all stored)."""
    import pandas as pd

    from core.metrics.transfer import DEFAULT_CS
    from core.task.probes import SOLVER, choose_c, fit_probe, kshot_indices, prediction_columns, zero_shot_probs

    zero_shot = model.resolved.spec.head == "zero_shot"
    images_key = _digest(list(zip(images["image_id"], images["sha256"], images["label"], images["split"])))
    base = {"images": images_key, "cs": DEFAULT_CS, "seed": spec.seed, "solver": SOLVER}
    wanted = {}
    for condition in conditions:
        features = model.keys[condition]
        if zero_shot:
            wanted[("zero-shot", 0, 0, condition)] = _digest(base, features, "zero-shot", spec.prompt_names,
                                                             spec.templates or "openai-80")
        wanted[("probe", 0, 0, condition)] = _digest(base, features, model.keys["clean"], "probe")
    for k in shots:
        for draw in range(draws):
            wanted[("k-shot", k, draw, "clean")] = _digest(base, model.keys["clean"], "k-shot", k, draw)
    stored = store.task_fit_keys(spec.name, model_name)
    todo = {key: fit_key for key, fit_key in wanted.items() if stored.get(key) != fit_key}
    if not todo:
        return 0

    split = images["split"].to_numpy()
    labels = images["label"].to_numpy().astype(np.int64)
    clean = store.task_features(model.keys["clean"], list(images["sha256"]))
    test = split == "test"
    test_ids, test_labels, test_shas = images["image_id"][test].tolist(), labels[test], images["sha256"][test].tolist()
    n_classes = len(spec.classes)

    def test_features(condition):
        return clean[test] if condition == "clean" else store.task_features(model.keys[condition], test_shas)

    fits, frames = [], []

    def record(key, probs, *, c=None, n_train=0):
        method, k, draw, condition = key
        fits.append({"task": spec.name, "model": model_name, "method": method, "k": k, "draw": draw,
                     "condition": condition, "fit_key": todo[key], "c": c, "n_train": n_train,
                     "n_test": len(test_ids)})
        columns = prediction_columns(probs, test_labels)
        frames.append(pd.DataFrame({"task": spec.name, "model": model_name, "method": method, "k": k, "draw": draw,
                                    "condition": condition, "image_id": test_ids, **columns}))

    if zero_shot and any(key[0] == "zero-shot" for key in todo):
        head = _zero_shot_head(spec, model, device, say).numpy()
        for key in [key for key in todo if key[0] == "zero-shot"]:
            record(key, zero_shot_probs(test_features(key[3]), head))
    train, val = split == "train", split == "val"
    c = choose_c(clean[train], labels[train], clean[val], labels[val], cs=DEFAULT_CS, seed=spec.seed) \
        if val.any() else 1.0
    if any(key[0] == "probe" for key in todo):
        both = train | val
        probe = fit_probe(clean[both], labels[both], c, n_classes=n_classes, seed=spec.seed)
        for key in [key for key in todo if key[0] == "probe"]:
            record(key, probe(test_features(key[3])), c=c, n_train=int(both.sum()))
    pool = np.flatnonzero(train)
    for key in [key for key in todo if key[0] == "k-shot"]:
        _, k, draw, _ = key
        chosen = pool[kshot_indices(labels[pool], k, seed=kshot_seed(spec.seed, k, draw))]
        if len(np.unique(labels[chosen])) < 2:
            continue
        probe = fit_probe(clean[chosen], labels[chosen], c, n_classes=n_classes, seed=spec.seed)
        record(key, probe(clean[test]), c=c, n_train=len(chosen))
    if fits:
        store.write_task_fits(fits, pd.concat(frames, ignore_index=True))
        say(f"{model_name}: {len(fits)} fit(s) stored ({', '.join(sorted({fit['method'] for fit in fits}))}).")
    return len(fits)


def _zero_shot_head(spec: TaskSpec, model, device: str, say):
    """The task's zero-shot head: cached by (model, weights, prompt names, templates) like ImageNet's."""
    from core.models.zero_shot import build_head, head_key, load_head

    templates = task_templates(spec)
    resolved = model.resolved
    key = head_key(resolved.spec, spec.prompt_names, templates, weights=resolved.weights_key)
    head = load_head(resolved.spec, spec.prompt_names, templates, key=key)
    if head is None:
        say(f"{resolved.name}: zero-shot head for {len(spec.prompt_names)} classes × {len(templates)} templates…")
        head = build_head(model.load(device), spec.prompt_names, templates)
    return head
