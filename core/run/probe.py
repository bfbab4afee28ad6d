"""Linear probes: frozen features of each model on a transfer dataset, stored, then a probe per model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

__all__ = ["run_probes", "split_items"]


def split_items(items, *, vtab1k: bool, seed: int):
    """{split: items}: train / val / test. VTAB-1k: 800 train + 200 val drawn from train (Zhai et al.,
    2019); else val/ if present, else a seeded 20% of train held out to choose C."""
    rng = np.random.default_rng(seed)
    train = [item for item in items if item.condition == "train"]
    val = [item for item in items if item.condition == "val"]
    test = [item for item in items if item.condition == "test"]
    if vtab1k:
        pool = train + val
        chosen = rng.permutation(len(pool))[:1000]
        picked = [pool[i] for i in chosen]
        cut = int(round(len(picked) * 0.8))
        return {"train": picked[:cut], "val": picked[cut:], "test": test}
    if not val:
        order = rng.permutation(len(train))
        cut = max(1, int(len(train) * 0.2))
        val = [train[i] for i in order[:cut]]
        train = [train[i] for i in order[cut:]]
    return {"train": train, "val": val, "test": test}


def run_probes(model_names: Sequence[str], root, *, protocol: str = "paper", vtab1k: bool = False, seed: int = 0,
               batch_size: int = 32, workers: int | None = None, store=None, device: str | None = None,
               progress: Callable | None = None, say=print) -> list[dict]:
    """Extract (or reuse) features for every model, fit the probes, store and return the results."""
    import os
    import time

    import torch

    from core.analysis.tables import accuracy_with_interval
    from core.data.base import DatasetInvalid, fingerprint
    from core.data.transfer import TransferFolder
    from core.run.evaluation import DecodedItems as _DecodedItems
    from core.run.evaluation import EvalProgress, _collate, _one_thread, run_id_for
    from core.run.inference import image_features
    from core.metrics.transfer import linear_probe
    from core.models.load import autocast, best_device
    from core.models.resolved import resolve_model
    from core.store import ResultsStore

    store = store or ResultsStore()
    device = device or best_device()
    root = Path(root).expanduser().resolve()
    adapter = TransferFolder()
    problems = adapter.validate(root)
    if problems:
        raise DatasetInvalid.from_problems("Transfer dataset", root, problems)
    items = adapter.items(root)
    data_fingerprint = fingerprint(items)
    splits = split_items(items, vtab1k=vtab1k, seed=seed)
    split_of = {item.image_id: split for split, chosen in splits.items() for item in chosen}
    used = [item for item in items if item.image_id in split_of]
    results = []
    for name in model_names:
        model = resolve_model(name)
        cfg = model.preprocess(protocol)
        loaded = model.load(device=device)
        feature_key = run_id_for(kind="features", model=name, weights=loaded.weights_key, preprocess=cfg.key(),
                                 data=data_fingerprint)
        stored, _ = store.features(feature_key)
        done = set(stored["image_id"]) if not stored.empty else set()
        todo = [item for item in used if item.image_id not in done]
        if todo:
            say(f"{name}: features of {len(todo):,} images on {device}…")
            loader = torch.utils.data.DataLoader(
                _DecodedItems(adapter, todo, {name: cfg}), batch_size=batch_size, collate_fn=_collate,
                num_workers=min(2, os.cpu_count() or 1) if workers is None else workers, worker_init_fn=_one_thread)
            started, finished = time.perf_counter(), 0
            for batch in loader:
                ready = [(todo[i], tensors[name]) for i, tensors, error in batch if tensors is not None]
                if ready:
                    inputs = torch.stack([tensor for _, tensor in ready]).to(device)
                    with torch.inference_mode(), autocast(device):
                        vectors = image_features(loaded, inputs).numpy().astype(np.float32)
                    store.write_features(feature_key, [(item.image_id, item.label, split_of[item.image_id],
                                                        vector.tobytes()) for (item, _), vector in zip(ready, vectors)])
                finished += len(batch)
                if progress:
                    rate = finished / max(time.perf_counter() - started, 1e-9)
                    progress(EvalProgress(finished, len(todo), rate, (len(todo) - finished) / rate, name))
        frame, matrix = store.features(feature_key)
        split = frame["image_id"].map(split_of).to_numpy()
        labels = frame["label"].to_numpy()
        part = {key: split == key for key in ("train", "val", "test")}
        outcome = linear_probe(matrix[part["train"]], labels[part["train"]], matrix[part["val"]], labels[part["val"]],
                               matrix[part["test"]], labels[part["test"]], seed=seed)
        interval = accuracy_with_interval(outcome["test_correct"].astype(float))
        convention = "VTAB-1k: 800 train + 200 val from train" if vtab1k else "train / val (or 20% of train) / test"
        record = {"probe_id": run_id_for(kind="probe", features=feature_key, vtab1k=vtab1k, seed=seed),
                  "model": name, "dataset": root.name, "data_root": str(root), "data_fingerprint": data_fingerprint,
                  "protocol": protocol, "convention": convention, "feature_key": feature_key, "c": outcome["C"],
                  "val_accuracy": json.dumps({str(k): v for k, v in outcome["val_accuracy"].items()}),
                  "test_accuracy": outcome["test_accuracy"], "ci_low": interval["ci_low"],
                  "ci_high": interval["ci_high"], "n_train": int(part["train"].sum()), "n_val": int(part["val"].sum()),
                  "n_test": int(part["test"].sum()), "seed": seed}
        store.write_probe(record)
        say(f"{name}: linear probe on {root.name}: {outcome['test_accuracy']:.1%} test accuracy (C = {outcome['C']:g})")
        results.append(record)
    return results
