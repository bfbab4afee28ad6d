"""Inference: images in, top-5 predictions out, batched, on CUDA (bf16 autocast) or the CPU.

Single-image results are cached on disk by (image content hash, model and weights, preprocessing,
zero-shot head), so a repeated upload is answered without running the model.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import asdict, dataclass
from typing import Sequence

from core.images import DecodedImage
from core.models.load import autocast
from core.models.preprocess import PreprocessCfg, crop_for_model, to_model_tensor
from core.store import prediction_cache, prediction_key

__all__ = ["Prediction", "classify", "logits_for", "evaluate", "EvalProgress", "RunSummary", "run_id_for",
           "import_author_decisions", "import_human_decisions", "import_decisions", "classify_variants"]

_TOP_K = 5


@dataclass(frozen=True)
class Prediction:
    """One model's answer for one image."""

    model: str
    image_sha256: str
    top_index: tuple[int, ...]
    top_prob: tuple[float, ...]
    latency_ms: float
    device: str
    preprocess_key: str
    cached: bool = False

    @property
    def top1(self) -> int:
        return self.top_index[0]


def logits_for(loaded, batch, head=None):
    """ImageNet logits of a normalised image batch: the classifier's, or 100 × cosine to `head`."""
    import torch.nn.functional as F

    if loaded.spec.head == "zero_shot":
        if head is None:
            raise ValueError(f"Expected a zero-shot head for {loaded.spec.name}, got None; build it first.")
        features = F.normalize(loaded.module.encode_image(batch).float(), dim=-1)
        return 100.0 * features @ head.to(features.device)
    return loaded.module(batch).float()


def classify(loaded, images: Sequence[DecodedImage], cfg: PreprocessCfg, *, head=None, head_key: str = "",
             batch_size: int = 32, use_cache: bool = True) -> list[Prediction]:
    """Top-5 ImageNet classes of each image under `loaded`'s model and `cfg`'s preprocessing."""
    import torch

    spec = loaded.spec
    cache = prediction_cache() if use_cache else None
    head_id = head_key if spec.head == "zero_shot" else "supervised"
    keys = [prediction_key(image.sha256, spec.name, loaded.weights_key, cfg.key(), head_id) for image in images]
    results: dict[int, Prediction] = {}
    if cache is not None:
        for position, key in enumerate(keys):
            stored = cache.get(key)
            if stored is not None:
                results[position] = Prediction(**{**stored, "cached": True})
    todo = [position for position in range(len(images)) if position not in results]
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        batch = torch.stack([to_model_tensor(crop_for_model(images[p].image, cfg), cfg) for p in chunk])
        batch = batch.to(loaded.device, non_blocking=True)
        if loaded.device.startswith("cuda"):
            torch.cuda.synchronize()
        began = time.perf_counter()
        with torch.inference_mode(), autocast(loaded.device):
            probabilities = logits_for(loaded, batch, head).softmax(dim=-1)
        top = probabilities.topk(_TOP_K, dim=-1)
        values, indices = top.values.cpu(), top.indices.cpu()
        latency_ms = (time.perf_counter() - began) * 1000 / len(chunk)
        for row, position in enumerate(chunk):
            prediction = Prediction(spec.name, images[position].sha256, tuple(int(i) for i in indices[row]),
                                    tuple(float(v) for v in values[row]), round(latency_ms, 2), loaded.device, cfg.key())
            results[position] = prediction
            if cache is not None:
                cache.set(keys[position], asdict(prediction))
    return [results[position] for position in range(len(images))]


# --- dataset evaluation --------------------------------------------------------------------------

@dataclass(frozen=True)
class EvalProgress:
    """What a progress callback receives after each batch."""

    done: int
    total: int
    images_per_s: float
    eta_s: float
    message: str = ""


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    model: str
    status: str  # done | cancelled | skipped (already complete)
    written: int


@dataclass
class _Job:
    """One model's share of an evaluation: its run, transform and the images still to do."""

    loaded: object
    cfg: PreprocessCfg
    head: object
    run_id: str
    todo: set


class _DecodedItems:
    """Decodes each image once and prepares it for every model (so one batch feeds them all)."""

    def __init__(self, adapter, items, cfgs: dict[str, PreprocessCfg]) -> None:
        self.adapter, self.items, self.cfgs = adapter, items, cfgs

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        from core.errors import UserError
        from core.images import decode_image

        item = self.items[index]
        try:
            image = decode_image(self.adapter.read_bytes(item), item.image_id, max_bytes=1 << 31).image
        except (UserError, OSError) as error:
            return index, None, str(error)
        return index, {name: to_model_tensor(crop_for_model(image, cfg), cfg) for name, cfg in self.cfgs.items()}, None


def _collate(batch):
    return batch


def _one_thread(worker_id: int) -> None:
    """Decoding workers run one thread each: torch's default pool per worker oversubscribes the cores."""
    import torch

    torch.set_num_threads(1)


def run_id_for(**parts) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def evaluate(model_names: Sequence[str], benchmark: str, root, *, variant: str = "", protocol: str = "paper",
             limit: int | None = None, seed: int = 0, batch_size: int = 32, workers: int | None = None,
             store=None, device: str | None = None, progress=None, should_stop=None, say=print) -> list[RunSummary]:
    """Predict every image of `benchmark` at `root` with each model and store per-image rows.

    Resumable: rows already in the store are skipped, and each batch is one transaction, so an
    interrupted run (Ctrl-C, SIGTERM, SIGKILL) continues where it stopped. `limit`/`seed` draw a
    reproducible random sample (part of the run key). `should_stop()` is checked after every batch.
    """
    import json
    from pathlib import Path

    import numpy as np
    import torch

    from core.data import get_benchmark, load_items
    from core.data.base import fingerprint
    from core.errors import UserError
    from core.imagenet import class_names
    from core.models import registry
    from core.models.load import best_device, load_model, weights_key
    from core.models.preprocess import apply_variant, parse_variant, resolve_preprocess
    from core.models.zero_shot import head_key, load_head, openai_templates
    from core.store import ResultsStore, RunInfo, packages_json

    store = store or ResultsStore()
    device = device or best_device()
    bench = get_benchmark(benchmark)
    parse_variant(variant)  # a typo fails before any model loads
    root = Path(root).expanduser().resolve()
    items = load_items(bench, root)
    data_fingerprint = fingerprint(items)
    if limit is not None and limit < 1:
        raise UserError(f"Expected --limit >= 1, got {limit}.")
    sample = limit if limit is not None and limit < len(items) else None  # a limit above the size is no sample
    if sample is not None:
        chosen = np.sort(np.random.default_rng(seed).choice(len(items), size=sample, replace=False))
        items = [items[i] for i in chosen]
    subset = bench.adapter.class_subset(root)
    models, _ = registry()
    jobs: dict[str, _Job] = {}
    summaries: list[RunSummary] = []
    for name in model_names:
        spec = models.get(name)
        cfg = resolve_preprocess(spec, protocol)
        if bench.paper_raw_input and protocol == "paper" and spec.in_paper and spec.head == "supervised":
            cfg = dataclasses.replace(cfg, resize_mode="none")
        cfg = apply_variant(cfg, spec, protocol, variant)
        parsed = parse_variant(variant)
        image_size = int(parsed[1]) if parsed and parsed[0] == "resolution" else None
        try:
            weights = weights_key(spec)
        except OSError:
            load_model(spec, device=device)  # raises WeightsUnavailable with what was tried and the fix
            raise
        head, key = None, ""
        if spec.head == "zero_shot":
            key = head_key(spec, class_names(), openai_templates())
        run_id = run_id_for(model=name, weights=weights, benchmark=benchmark, variant=variant,
                            protocol=protocol, preprocess=cfg.key(), head=key, data=data_fingerprint,
                            sample=sample, seed=seed if sample is not None else None)
        if store.run_status(run_id) == "done":  # a finished run loads no model
            say(f"{name}: {bench.label} already complete in the store (run {run_id}); nothing to do.")
            summaries.append(RunSummary(run_id, name, "skipped", 0))
            continue
        if spec.head == "zero_shot":
            head = load_head(spec, class_names(), openai_templates())
            if head is None:
                raise UserError(f"{name} needs its zero-shot head first: python -m core zero-shot-head {name}")
        loaded = load_model(spec, device=device, image_size=image_size)
        info = RunInfo(run_id, name, benchmark, variant, protocol, len(items),
                       class_subset=json.dumps(subset) if subset else None, convention=bench.convention,
                       model_spec=json.dumps(dataclasses.asdict(spec), sort_keys=True), weights_key=weights,
                       preprocess_key=cfg.key(), preprocess=json.dumps(dataclasses.asdict(cfg)), head_key=key,
                       data_root=str(root), data_fingerprint=data_fingerprint,
                       data_revision=bench.adapter.revision(root), sample_limit=sample,
                       sample_seed=seed if sample is not None else None,
                       store_logits=bench.store_logits, packages=packages_json(), device=device)
        store.start_run(info)
        done = store.done_image_ids(run_id)
        jobs[name] = _Job(loaded, cfg, head, run_id, {item.image_id for item in items} - done)
        if done:
            say(f"{name}: resuming, {len(done):,} of {len(items):,} images already stored.")
    pending = [item for item in items if any(item.image_id in job.todo for job in jobs.values())]
    if not pending:
        for name, job in jobs.items():
            store.finish_run(job.run_id, "done")
            summaries.append(RunSummary(job.run_id, name, "done", 0))
        return summaries

    workers = (min(2, os.cpu_count() or 1) if device == "cpu" else min(8, os.cpu_count() or 1)) if workers is None else workers
    loader = torch.utils.data.DataLoader(
        _DecodedItems(bench.adapter, pending, {name: job.cfg for name, job in jobs.items()}),
        batch_size=batch_size, num_workers=workers, collate_fn=_collate, pin_memory=device.startswith("cuda"),
        worker_init_fn=_one_thread)
    total = len(pending)
    say(f"{bench.label}: {total:,} images × {len(jobs)} model(s) on {device}; " + _expected(jobs, total, device))
    written = {name: 0 for name in jobs}
    started, done_images, status = time.perf_counter(), 0, "done"
    try:
        for batch in loader:
            for name, job in jobs.items():
                rows, logit_rows = _predict_rows(job, bench, subset, [(pending[i], tensors, error)
                                                                     for i, tensors, error in batch], name)
                store.write_batch(rows, logit_rows if bench.store_logits else None)
                written[name] += len(rows)
                job.todo -= {row["image_id"] for row in rows}
            done_images += len(batch)
            elapsed = time.perf_counter() - started
            rate = done_images / max(elapsed, 1e-9)
            if progress:
                progress(EvalProgress(done_images, total, rate, (total - done_images) / max(rate, 1e-9)))
            if should_stop and should_stop():
                status = "cancelled"
                break
    except BaseException as error:
        for job in jobs.values():
            store.finish_run(job.run_id, "cancelled" if isinstance(error, KeyboardInterrupt) else "failed",
                             message=str(error)[:500])
        raise
    rate = done_images / max(time.perf_counter() - started, 1e-9)
    for name, job in jobs.items():
        final = status if job.todo or status == "cancelled" else "done"
        store.finish_run(job.run_id, final, images_per_s=rate, device=device)
        summaries.append(RunSummary(job.run_id, name, final, written[name]))
    return summaries


def _expected(jobs: dict, total: int, device: str) -> str:
    """Time one small random batch per model to tell the user how long the run will take."""
    import torch

    seconds = 0.0
    for job in jobs.values():
        size = job.cfg.input_size if job.cfg.resize_mode != "none" else 224
        batch = torch.randn(4, 3, size, size, device=job.loaded.device)
        with torch.inference_mode(), autocast(job.loaded.device):
            logits_for(job.loaded, batch[:1], job.head)  # warm-up
            began = time.perf_counter()
            logits_for(job.loaded, batch, job.head)
        seconds += (time.perf_counter() - began) / 4 * total
    seconds += 0.01 * total  # decoding, mostly hidden behind the models by the loader's workers
    return f"expected about {seconds / 60:.0f} min." if seconds >= 120 else f"expected about {seconds:.0f} s."


def _predict_rows(job: _Job, bench, subset, batch, name: str):
    """Per-image store rows (and float16 logits) of one model on one decoded batch."""
    import numpy as np
    import torch

    from core.data.cue_conflict import SIXTEEN_CLASSES, sixteen_class_indices
    from core.metrics.calibration import derived_columns, derived_row

    rows, logit_rows = [], []
    ready = [(item, tensors[name]) for item, tensors, error in batch if tensors is not None and item.image_id in job.todo]
    for item, tensors, error in batch:
        if tensors is None and item.image_id in job.todo:
            rows.append(_row(job.run_id, item, error=error))
    if not ready:
        return rows, logit_rows
    inputs = torch.stack([tensor for _, tensor in ready]).to(job.loaded.device, non_blocking=True)
    with torch.inference_mode(), autocast(job.loaded.device):
        logits = logits_for(job.loaded, inputs, job.head).float().cpu()
    if subset:
        # ImageNet-A/R: softmax and argmax over the dataset's 200 classes only
        index = torch.tensor(subset)
        restricted = torch.full_like(logits, float("-inf"))
        restricted[:, index] = logits[:, index]
        probabilities = restricted.softmax(dim=-1)
    else:
        probabilities = logits.softmax(dim=-1)
    top = probabilities.topk(5, dim=-1)
    # calibration columns from the logits exactly as stored (float16), so they equal a recomputation
    derived = derived_columns(logits.numpy().astype(np.float16), np.array([item.label for item, _ in ready]), subset)
    members = sixteen_class_indices() if bench.adapter.classes == "in16" else None
    for position, (item, _) in enumerate(ready):
        p = probabilities[position]
        pred = int(top.indices[position, 0])
        row = _row(job.run_id, item, pred=pred, top5=[int(i) for i in top.indices[position]],
                   top5_prob=[float(v) for v in top.values[position]], conf=float(top.values[position, 0]),
                   **derived_row(derived, position))
        if members is not None:
            probs16 = [float(p[list(members[c])].mean()) for c in SIXTEEN_CLASSES]
            row["probs16"] = probs16
            row["decision16"] = SIXTEEN_CLASSES[int(np.argmax(probs16))]
            row["correct"] = row["decision16"] == item.shape
        else:
            accepted = item.labels if (item.labels and bench.key in ("imagenet-hard", "pug-imagenet")) else (item.label,)
            row["correct"] = pred in accepted
            row["prob_true"] = float(p[item.label]) if item.label >= 0 else None
        rows.append(row)
        logit_rows.append((job.run_id, item.image_id, logits[position].numpy().astype(np.float16).tobytes()))
    return rows, logit_rows


def _row(run_id: str, item, **values) -> dict:
    return {"run_id": run_id, "image_id": item.image_id, "path": item.path, "label": item.label,
            "labels": list(item.labels), "condition": item.condition or None, "shape": item.shape or None,
            "texture": item.texture or None, **values}


def import_decisions(files: dict, source: str, store=None, say=print) -> list[str]:
    """Store model-vs-human style decision CSVs ({path: model key}) as cue-conflict runs of `source`."""
    import hashlib
    from pathlib import Path

    from core.data.cue_conflict import read_decisions
    from core.store import ResultsStore, RunInfo

    store = store or ResultsStore()
    imported = []
    for path, model in files.items():
        path = Path(path)
        content_hash = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        rows = read_decisions(path)
        run_id = run_id_for(source=source, model=model, file=content_hash)
        info = RunInfo(run_id, model, "cue-conflict", "", "paper", len(rows), source=source,
                       convention=f"decisions from {path.name}", data_root=str(path.parent),
                       data_fingerprint=content_hash)
        if store.start_run(info) != "done":
            store.write_batch([{"run_id": run_id, "image_id": row["image_id"], "path": None, "label": -1,
                                "labels": [], "shape": row["shape"], "texture": row["texture"],
                                "decision16": row["decision16"], "correct": row["decision16"] == row["shape"]}
                               for row in rows])
            store.finish_run(run_id, "done")
        say(f"{model}: {len(rows):,} decisions ({source}, {path.name})")
        imported.append(run_id)
    return imported


def import_author_decisions(folder, store=None, say=print) -> list[str]:
    """The paper authors' released cue-conflict decisions as runs of our model keys (source "authors"),
    so pages show them beside our own runs, labelled as theirs."""
    from pathlib import Path

    from core.data.cue_conflict import AUTHOR_MODELS

    folder = Path(folder)
    files = {}
    for name, model in AUTHOR_MODELS.items():
        path = folder / f"cue-conflict_{name}_session-1.csv"
        if path.exists():
            files[path] = model
        else:
            say(f"{path.name} not found in {folder}; skipped.")
    return import_decisions(files, "authors", store, say)


def import_human_decisions(folder, store=None, say=print) -> list[str]:
    """The 10 human observers of model-vs-human as runs `human_01` … (source "humans")."""
    import re
    from pathlib import Path

    files = {}
    for path in sorted(Path(folder).glob("cue-conflict_subject-*_session_*.csv")):
        number = re.search(r"subject-(\d+)", path.name)[1]
        files[path] = f"human_{int(number):02d}"
    if not files:
        say(f"No cue-conflict_subject-*.csv files in {folder}.")
    return import_decisions(files, "humans", store, say)


def classify_variants(loaded, image: DecodedImage, cfgs: Sequence[PreprocessCfg], *, head=None, head_key: str = "",
                      use_cache: bool = True) -> list[Prediction]:
    """One image under several transforms (invariance sliders), as one batch through the model."""
    import torch

    spec = loaded.spec
    cache = prediction_cache() if use_cache else None
    head_id = head_key if spec.head == "zero_shot" else "supervised"
    keys = [prediction_key(image.sha256, spec.name, loaded.weights_key, cfg.key(), head_id) for cfg in cfgs]
    stored = [cache.get(key) if cache is not None else None for key in keys]
    todo = [i for i, found in enumerate(stored) if found is None]
    results = {i: Prediction(**{**found, "cached": True}) for i, found in enumerate(stored) if found is not None}
    if todo:
        batch = torch.stack([to_model_tensor(crop_for_model(image.image, cfgs[i]), cfgs[i]) for i in todo])
        batch = batch.to(loaded.device)
        began = time.perf_counter()
        with torch.inference_mode(), autocast(loaded.device):
            top = logits_for(loaded, batch, head).softmax(dim=-1).topk(_TOP_K, dim=-1)
        latency_ms = (time.perf_counter() - began) * 1000 / len(todo)
        for row, i in enumerate(todo):
            prediction = Prediction(spec.name, image.sha256, tuple(int(v) for v in top.indices[row].cpu()),
                                    tuple(float(v) for v in top.values[row].cpu()), round(latency_ms, 2),
                                    loaded.device, cfgs[i].key())
            results[i] = prediction
            if cache is not None:
                cache.set(keys[i], asdict(prediction))
    return [results[i] for i in range(len(cfgs))]
