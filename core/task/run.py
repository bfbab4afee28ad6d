"""`task run`: one pass over a task's images for every model, then the classifiers, all stored.

The pass decodes each image (and makes each of its corrupted versions, with the Compare page's
`core.explain.corruptions`) once, and feeds every model that still lacks its features: features are
stored per (model, weights, preprocessing, condition) and image content, so a rerun computes nothing,
a stopped run resumes at the next batch, and adding a model computes only that model. Clean features
are computed for every image; corrupted ones for the test split only.

Then per model (skipped when every fit is stored under the same key): the zero-shot head for CLIP models
(the task's prompt names and templates, cached like ImageNet's by `core.models.zero_shot`), the full
probe and the k-shot probes (`core.task.probes`), scored on the clean test images and, for zero-shot
and the full probe, on every corrupted condition.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from core.errors import UserError
from core.store import content_key
from core.task.spec import DEFAULT_CORRUPTIONS, DEFAULT_SEVERITIES, DEFAULT_SHOTS, load_task

__all__ = ["TaskRunSummary", "ModelsUnavailable", "run_task", "ready_models", "check_corruptions", "CORRUPTION_SEED"]

CORRUPTION_SEED = 0
"""The Compare page's seed: the same image, corruption and severity give the same pixels everywhere."""


@dataclass
class TaskRunSummary:
    """What a run did: features computed per model, fits written per model, and whether it was stopped."""

    features: dict = field(default_factory=dict)
    fits: dict = field(default_factory=dict)
    stopped: bool = False
    skipped_images: int = 0
    forward_s: float = 0.0
    features_s: float = 0.0  # the whole feature pass: decode, corruptions, forward passes, store writes
    fits_s: float = 0.0  # zero-shot heads, probes, predictions stored
    failed: dict = field(default_factory=dict)  # model → why it could not load (found before any image was read)


class ModelsUnavailable(UserError):
    """Models of a run that cannot load, found before any image is read (`strict`, or when none is left)."""


def check_corruptions(names: Sequence[str], severities: Sequence[int]) -> None:
    from core.explain.corruptions import CORRUPTIONS, UnknownCorruption

    import difflib

    for name in names:
        if name not in CORRUPTIONS:
            close = difflib.get_close_matches(name, CORRUPTIONS, n=5, cutoff=0.4)
            raise UnknownCorruption(f"Unknown corruption {name!r}." + (f" Did you mean {', '.join(close)}?" if close
                                    else f" Known: {', '.join(CORRUPTIONS)}."))
    bad = [s for s in severities if s not in (1, 2, 3, 4, 5)]
    if bad:
        raise UserError(f"Expected severities from 1 to 5, got {', '.join(map(str, bad))}.")


@dataclass
class _Model:
    resolved: object
    cfg: object
    keys: dict  # condition → feature key
    loaded: object = None
    forward_s: float = 0.0
    forward_n: int = 0

    def load(self, device: str):
        if self.loaded is None:
            self.loaded = self.resolved.load(device=device)
        return self.loaded


def _prepared_image(sha: str, path: str, models: dict, needs: dict, conditions: list, test_shas: set):
    """One image's model inputs: {(model, condition): tensor} for every feature still missing, or None when the
    file cannot be read. Decoded once, each corruption made once (for the test split), cropped once per
    distinct preprocessing."""
    from core.explain.corruptions import corrupted_versions
    from core.data.base import text_name
    from core.images import decode_image
    from core.models.preprocess import crop_for_model, to_model_tensor

    try:
        with open(text_name(path), "rb") as handle:
            decoded = decode_image(handle.read(), path, max_bytes=1 << 31)
    except (OSError, UserError):
        return None
    versions = {"clean": decoded.image}
    if sha in test_shas:
        by_corruption: dict[str, list[int]] = {}
        for condition in conditions[1:]:
            if any(sha in needs[(name, condition)] for name in models):
                corruption, severity = condition.split("/")
                by_corruption.setdefault(corruption, []).append(int(severity))
        for corruption, severities in by_corruption.items():
            for severity, version in zip(severities, corrupted_versions(decoded, corruption, seed=CORRUPTION_SEED,
                                                                        severities=tuple(severities))):
                versions[f"{corruption}/{severity}"] = version.image
    tensors, made = {}, {}
    for (name, condition), wanted in needs.items():
        if sha in wanted and condition in versions:
            cfg = models[name].cfg
            cached = (cfg.key(), condition)
            if cached not in made:
                made[cached] = to_model_tensor(crop_for_model(versions[condition], cfg), cfg)
            tensors[(name, condition)] = made[cached]
    return tensors


def _feature_pass(models: dict, needs: dict, paths: dict, test_shas: set, conditions: list, *, store, device: str,
                  batch_size: int, stop: dict | None, progress: Callable | None, summary: TaskRunSummary) -> None:
    """Compute every missing (model, condition, image) feature, one decode (and corruption) per image.

    A thread prepares the next images (decode, corruptions, crops: numpy and PIL release the GIL) while the
    models run; each model's inputs, clean and corrupted together, queue up and run in full batches of
    `batch_size`, and each batch's vectors are stored as soon as it ends. A stop runs what is queued already
    (under one batch per model) and stores it; the next run starts from there.
    """
    import torch
    from concurrent.futures import ThreadPoolExecutor

    from core.models.load import autocast
    from core.run.inference import image_features

    todo = sorted({sha for wanted in needs.values() for sha in wanted})
    queues: dict[str, list] = {name: [] for name in models}

    def flush(name: str, size: int) -> None:
        queue, model = queues[name], models[name]
        while len(queue) >= max(size, 1):
            pairs, queue[:] = queue[:batch_size], queue[batch_size:]
            loaded = model.load(device)
            batch = torch.stack([tensor for _, _, tensor in pairs]).to(device)
            began = time.perf_counter()
            with torch.inference_mode(), autocast(device):
                vectors = image_features(loaded, batch).numpy().astype(np.float32)
            model.forward_s += time.perf_counter() - began
            model.forward_n += len(pairs)
            store.write_task_features([(model.keys[condition], sha, vector.tobytes())
                                       for (condition, sha, _), vector in zip(pairs, vectors)])
            summary.features[name] = summary.features.get(name, 0) + len(pairs)

    started = said = time.perf_counter()
    ahead = 4  # images prepared ahead of the models
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="task-images") as pool:
        pending = [pool.submit(_prepared_image, sha, paths[sha], models, needs, conditions, test_shas)
                   for sha in todo[:ahead]]
        for done, sha in enumerate(todo, start=1):
            if stop and stop.get("requested"):
                for future in pending:
                    future.cancel()
                summary.stopped = True
                break
            tensors = pending.pop(0).result()
            if done - 1 + ahead < len(todo):
                following = todo[done - 1 + ahead]
                pending.append(pool.submit(_prepared_image, following, paths[following], models, needs, conditions,
                                           test_shas))
            if tensors is None:
                summary.skipped_images += 1
                continue
            for (name, condition), tensor in tensors.items():
                queues[name].append((condition, sha, tensor))
            for name in models:
                flush(name, batch_size)
            if progress and (time.perf_counter() - said >= 1.0 or done == len(todo)):  # at most once a second
                said = time.perf_counter()
                rate = done / max(said - started, 1e-9)
                progress(done, len(todo), f"{done:,}/{len(todo):,} images · {rate:,.1f}/s · "
                                          f"about {(len(todo) - done) / rate:,.0f} s left")
    for name in models:  # the last, partial batches (a stop keeps what is queued too: it is computed already)
        flush(name, 1)


def _plan(store, resolved, *, protocol: str, conditions: list, all_shas: set, test_shas: set):
    """(`_Model` with its feature key per condition, {condition: image hashes whose features are not stored})."""
    cfg = resolved.preprocess(protocol)
    keys = {condition: content_key(dict(kind="task-features", model=resolved.name, weights=resolved.weights_key,
                                        preprocess=cfg.key(), condition=condition,
                                        seed=CORRUPTION_SEED if condition != "clean" else None))
            for condition in conditions}
    return _Model(resolved, cfg, keys), {condition: (all_shas if condition == "clean" else test_shas)
                                         - store.task_feature_shas(keys[condition]) for condition in conditions}


def prepared_models(store, name: str, models: Sequence, *, protocol: str, corruptions: Sequence[str],
                    severities: Sequence[int]):
    """(spec, images, {model: _Model}, conditions, needs) of a run: each model resolved once (a
    `ResolvedModel` is used as given) with its feature key per condition, and `needs[(model, condition)]` the
    image hashes whose features are not stored yet (clean: every image; corrupted: the test split).
    `core.task.race` computes features under the same keys, so a full run after a race reuses them."""
    from core.models.resolved import ResolvedModel, resolve_model

    spec, images, _ = load_task(store, name)
    conditions = ["clean"] + [f"{c}/{s}" for c in corruptions for s in sorted(set(severities))]
    shas = dict(all_shas=set(images["sha256"]), test_shas=set(images[images["split"] == "test"]["sha256"]))
    prepared, needs = {}, {}
    for model in models:
        resolved = model if isinstance(model, ResolvedModel) else resolve_model(model)
        prepared[resolved.name], wanted = _plan(store, resolved, protocol=protocol, conditions=conditions, **shas)
        needs.update({(resolved.name, condition): found for condition, found in wanted.items()})
    return spec, images, prepared, conditions, needs


def _preflight(models: dict, needs: dict, conditions: list, device: str, say: Callable[[str], None], *,
               download: bool | None = None) -> dict[str, str]:
    """Load every model that has features to compute (weights located, fetched when `download` allows it, read
    into their architecture) before any image is read. Returns model → the one-line reason of each that fails
    (the caller says them, or raises with them)."""
    failed = {}
    for model_name, model in models.items():
        if model.loaded is not None or not any(needs[(model_name, condition)] for condition in conditions):
            continue
        try:
            if not model.resolved.weights.available and download:
                say(f"{model_name}: fetching its weights ({model.resolved.weights_key})…")
            model.loaded = model.resolved.load(device=device, download=download)
        except UserError as error:
            reason = " ".join(str(error).split())
            failed[model_name] = reason if reason.startswith(model_name) else f"{model_name}: {reason}"
    return failed


def ready_models(store, name: str, models: Sequence, *, protocol: str, corruptions: Sequence[str],
                 severities: Sequence[int], device: str, say: Callable[[str], None], strict: bool = False,
                 download: bool | None = None, loaded: dict | None = None):
    """`prepared_models`, then every model with work to do loaded before any image is read (`loaded`: name → a
    model loaded already, kept). A model that cannot load is said once (`Not run: …`) and left out; with `strict`,
    or when none can load, `ModelsUnavailable` is raised before anything starts. A model whose weights were just
    fetched is planned again under its content's key. Returns (spec, images, {model: _Model}, conditions, needs,
    {model: why it could not load}): the one preflight of `run_task` and `core.task.race.race_task`."""
    from core.models.resolved import resolve_model

    spec, images, prepared, conditions, needs = prepared_models(store, name, models, protocol=protocol,
                                                                corruptions=corruptions, severities=severities)
    for model_name, model in (loaded or {}).items():
        if model_name in prepared:
            prepared[model_name].loaded = model
    failed = _preflight(prepared, needs, conditions, device, say, download=download)
    if failed and (strict or len(failed) == len(prepared)):
        raise ModelsUnavailable(("Nothing was started (--strict): " if strict else "No model can load: ")
                                + " ".join(failed.values()))
    for model_name, reason in failed.items():
        say(f"Not run: {reason}")
        prepared.pop(model_name)
        for condition in conditions:
            needs.pop((model_name, condition))
    shas = dict(all_shas=set(images["sha256"]), test_shas=set(images[images["split"] == "test"]["sha256"]))
    for model_name, model in list(prepared.items()):
        if model.loaded is not None and not model.resolved.weights.available:  # fetched just now: key its content
            prepared[model_name], wanted = _plan(store, resolve_model(model.resolved.spec), protocol=protocol,
                                                 conditions=conditions, **shas)
            needs.update({(model_name, condition): found for condition, found in wanted.items()})
            prepared[model_name].loaded = model.loaded
    return spec, images, prepared, conditions, needs, failed


def run_task(name: str, models: Sequence, *, shots: Sequence[int] = DEFAULT_SHOTS,
             corruptions: Sequence[str] = DEFAULT_CORRUPTIONS, severities: Sequence[int] = DEFAULT_SEVERITIES,
             protocol: str = "paper", draws: int | None = None, batch_size: int = 32, store=None,
             device: str | None = None, stop: dict | None = None, progress: Callable | None = None,
             say: Callable[[str], None] = print, strict: bool = False, download: bool | None = None,
             loaded: dict | None = None) -> TaskRunSummary:
    """Features, heads and probes of `models` on task `name`, stored; returns what was computed.

    `models`: `core.models.resolved.ResolvedModel`s as the caller resolved them (the CLI does, once), or
    registry entries or names, resolved here once. `progress(done, total, message)`: about once a second
    during the feature pass, `message` a sentence of images done, rate and time left.

    Every model with work to do is loaded before the first image is read; one that cannot load gets one line
    (`say`) naming it and the fix, and the run goes on with the others (`summary.failed`). `strict` stops before
    starting instead. `download` fetches missing hub weights first (huggingface_hub shows the progress); None
    follows `core.config.allow_downloads` (off unless BAE_ALLOW_DOWNLOADS=1). `loaded`: model name → the model a
    caller has loaded already (the race's survivors), used as it is, not loaded again.

    Raises:
        UnknownTask: no such task. UnknownModel: a model not in the registry. UnknownCorruption: a bad name.
        ModelsUnavailable: with `strict`, a model cannot load; without it, none can.
    """
    from core.config import refuse_in_view_mode
    from core.models.load import best_device
    from core.store import ResultsStore
    from core.task.fits import fit_model
    from core.task.probes import KSHOT_DRAWS
    from threadpoolctl import threadpool_limits

    refuse_in_view_mode("running a task")
    store = store or ResultsStore()
    summary = TaskRunSummary()
    load_task(store, name)  # an unknown task is the first thing said
    if not models:
        raise UserError("Name at least one model: --models effnet_lite0,vit_clip (python -m core models lists them).")
    shots = tuple(sorted({int(k) for k in shots}))
    if any(k < 1 for k in shots):
        raise UserError(f"Expected shot counts >= 1, got {', '.join(map(str, shots))}.")
    check_corruptions(corruptions, severities)
    if draws is not None and not 1 <= draws <= 62:  # the page packs each image's draws into one 64-bit integer
        raise UserError(f"Expected 1 to 62 k-shot draws, got {draws}.")
    device = device or best_device()
    spec, images, models, conditions, needs, summary.failed = ready_models(
        store, name, models, protocol=protocol, corruptions=corruptions, severities=severities, device=device, say=say,
        strict=strict, download=download, loaded=loaded)
    test_shas = set(images[images["split"] == "test"]["sha256"])
    paths = dict(zip(images["sha256"], images["path"]))
    missing = sum(len(wanted) for wanted in needs.values())
    if missing:
        say(f"{name}: {missing:,} feature vectors to compute ({len(models)} model(s), {len(conditions)} condition(s)) "
            f"on {device}…")
        began = time.perf_counter()
        _feature_pass(models, needs, paths, test_shas, conditions, store=store, device=device, batch_size=batch_size,
                      stop=stop, progress=progress, summary=summary)
        summary.features_s = time.perf_counter() - began
        for model_name, model in models.items():
            if model.forward_n:
                params = sum(p.numel() for p in model.loaded.module.parameters())
                store.write_task_cost(name, model_name, model.forward_n / model.forward_s, int(params), model.forward_n,
                                      device)
                summary.forward_s += model.forward_s
        if summary.stopped:
            return summary
    began = time.perf_counter()
    # the probes are small problems (a 16-shot probe: 320 × 320 after `core.task.probes`' span basis): one BLAS
    # thread solves them ~10× faster than two threads contending with torch's still-spinning workers
    with threadpool_limits(limits=1, user_api="blas"):
        for model_name, model in models.items():
            written = fit_model(spec, images, model_name, model, conditions, shots=shots,
                                draws=KSHOT_DRAWS if draws is None else draws, store=store, device=device, say=say)
            summary.fits[model_name] = written
    summary.fits_s = time.perf_counter() - began
    return summary
