"""Dataset evaluation: every image of a benchmark through one or more models, per-image rows stored.

Each image is read and decoded once, in loader workers, and feeds every selected model in the same
batch. Per batch, `evaluate_batch` turns decoded images into one `RowBlock` per model (forward pass,
then `core.run.rows.result_columns` on the whole batch): it does not know where rows go. `evaluate` hands
the blocks to a `StoreWriter`, which commits them on a background thread about once a second, so
the models never wait for the store. On CUDA: bf16 autocast, channels_last, batch 256 by default,
and optionally `torch.compile` (`compile=True`; its one-off time is reported apart).

Decode backends (part of the run key when not the default; `core.run.decode`):
    pil (default): workers decode each file with PIL (`core.images.decode_image`).
    device: workers only read bytes; JPEGs are decoded in batches on the run's device (nvJPEG on CUDA),
        what the batched decoder does not take per image on the CPU. Needs `--resize tensor`.

The batch loop (`core.run.pipeline.run_batches`) overlaps its stages: batch i+1 is fetched and cropped
while batch i's forwards run, and batch i-1's rows are built on a CPU thread.

Resize backends (part of the run key when not the default):
    pil (default): each model's crop made with PIL in the workers, as the paper's code did.
    tensor: workers only decode; each model's resize/crop/normalisation runs on the device in batches
        (`core.models.tensor_preprocess`). Not pixel-identical to PIL, hence keyed apart.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from core.models.load import autocast
from core.models.preprocess import PreprocessCfg, crop_for_model, to_model_tensor
from core.run.inference import forward_logits

__all__ = ["evaluate", "evaluate_batch", "EvalProgress", "RunSummary", "EvalJob", "run_id_for", "DecodedItems",
           "DecodedImages", "forward_logits", "RunPlan", "plan_run", "plan_items"]


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
    status: str  # done | stopped (Ctrl-C, SIGTERM, the app's Stop: resumable) | failed (Ray) | skipped (complete)
    written: int


@dataclass
class EvalJob:
    """One model's share of an evaluation: its run, transform and the images still to do."""

    loaded: object
    cfg: PreprocessCfg
    head: object
    run_id: str
    todo: set
    forward: Callable | None = None  # compiled forward (logits of a batch) when compile=True
    channels_last: bool = False
    pad_to: int | None = None  # compiled forward: the one batch size it runs (a partial batch is padded)
    timings: dict = field(default_factory=lambda: {"preprocess_s": 0.0, "forward_s": 0.0, "rows_s": 0.0})


class DecodedItems:
    """`pil` backend: decodes each image once and prepares it for every model (one batch feeds them all)."""

    def __init__(self, adapter, items, cfgs: dict[str, PreprocessCfg]) -> None:
        self.adapter, self.items, self.cfgs = adapter, items, cfgs

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        image, error = _decode(self.adapter, self.items[index])
        if image is None:
            return index, None, error
        return index, {name: to_model_tensor(crop_for_model(image, cfg), cfg) for name, cfg in self.cfgs.items()}, None


class DecodedImages:
    """`tensor` backend: decodes each image once into a CHW uint8 tensor; models crop it on the device."""

    def __init__(self, adapter, items) -> None:
        self.adapter, self.items = adapter, items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        from core.models.tensor_preprocess import to_uint8_tensor

        image, error = _decode(self.adapter, self.items[index])
        return (index, None, error) if image is None else (index, to_uint8_tensor(image), None)


def _decode(adapter, item):
    from core.errors import UserError
    from core.images import decode_image

    try:
        return decode_image(adapter.read_bytes(item), item.image_id, max_bytes=1 << 31).image, None
    except (UserError, OSError) as error:
        return None, str(error)


def _collate(batch):
    return batch


def _one_thread(worker_id: int) -> None:
    """Decoding workers run one thread each (torch's default pool per worker oversubscribes the cores), and
    leave shutdown to the main process: SIGTERM or Ctrl-C sent to the whole process group (`timeout`,
    systemd, a container stop, a job runner) reaches the workers too, and a worker killed by it makes the
    DataLoader raise, so the run would end `failed`. Ignoring both here lets the main process finish its
    batch and stop the run as resumable; the loader still ends its workers when it closes, and a worker
    whose main process is gone exits by itself (torch's watchdog)."""
    import signal

    import torch

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)


def run_id_for(**parts) -> str:
    """A run's id: `core.store.content_key` of its parts."""
    from core.store import content_key

    return content_key(parts)


def plan_items(benchmark: str, root, *, variant: str = "", limit: int | None = None, seed: int = 0):
    """The benchmark's items to evaluate (validated folder; the `--limit/--seed` sample when asked):
    (bench, resolved root, items, data fingerprint, sample size or None, class subset)."""
    from pathlib import Path

    import numpy as np

    from core.data import get_benchmark, load_items
    from core.data.base import data_identity, fingerprint
    from core.errors import UserError
    from core.models.preprocess import parse_variant

    bench = get_benchmark(benchmark)
    parse_variant(variant)  # a typo fails before any model loads
    root = Path(root).expanduser().resolve()
    items = load_items(bench, root)
    data_fingerprint = fingerprint(items, identity=data_identity(bench.adapter, root))  # revisions never share a key
    if limit is not None and limit < 1:
        raise UserError(f"Expected --limit >= 1, got {limit}.")
    sample = limit if limit is not None and limit < len(items) else None  # a limit above the size is no sample
    if sample is not None:
        chosen = np.sort(np.random.default_rng(seed).choice(len(items), size=sample, replace=False))
        items = [items[i] for i in chosen]
    return bench, root, items, data_fingerprint, sample, bench.adapter.class_subset(root)


@dataclass
class RunPlan:
    """One model's run on a benchmark, before anything is computed: its transform, key and `runs` row."""

    model: object  # core.models.resolved.ResolvedModel
    cfg: PreprocessCfg
    image_size: int | None
    run_id: str
    info: object  # core.store.RunInfo
    loaded: object = None  # set only when the weights had to be downloaded first

    @property
    def spec(self):
        return self.model.spec


def plan_run(model, bench, root, *, benchmark: str, variant: str, protocol: str, resize: str, items,
             data_fingerprint: str, subset, sample: int | None, seed: int, device: str,
             decode: str = "pil") -> RunPlan:
    """What identifies one model's run (run key, `RunInfo`) from its `ResolvedModel`; loads the model only
    when its weights need a download (`load_model` raises `WeightsUnavailable` with the fix otherwise).
    Shared by the single-process and the Ray paths, so both write the same run keys."""
    import json

    from core.run.decode import decode_key
    from core.store import RunInfo, packages_json

    keyed_resize = {"resize": resize} if resize != "pil" else {}  # the default keeps today's run keys
    decoder = decode_key(decode, device)  # None for pil: today's run keys
    keyed_resize |= {"decode": decoder} if decoder else {}
    spec = model.spec
    cfg = model.preprocess(protocol, variant=variant, raw_input=bench.paper_raw_input)
    image_size = model.image_size(variant)
    loaded = None
    if not model.weights.available:  # raises WeightsUnavailable with what was tried and the fix,
        loaded = model.load(device=device, image_size=image_size)  # or downloads when allowed
        if spec.head == "zero_shot":  # the head key follows the downloaded weights' identity
            from core.models.resolved import resolve_model

            model = resolve_model(spec)
    weights = loaded.weights_key if loaded is not None else model.weights_key
    run_id = run_id_for(model=spec.name, weights=weights, benchmark=benchmark, variant=variant,
                        protocol=protocol, preprocess=cfg.key(), head=model.head_key, data=data_fingerprint,
                        sample=sample, seed=seed if sample is not None else None, **keyed_resize)
    preprocess = (dataclasses.asdict(cfg) | ({"resize_backend": resize} if resize != "pil" else {})
                  | ({"decode_backend": decoder} if decoder else {}))
    info = RunInfo(run_id, spec.name, benchmark, variant, protocol, len(items),
                   class_subset=json.dumps(subset) if subset else None, convention=bench.convention,
                   model_spec=json.dumps(dataclasses.asdict(spec), sort_keys=True), weights_key=weights,
                   preprocess_key=cfg.key() + (f"+{resize}" if resize != "pil" else "") + (f"+{decoder}" if decoder else ""),
                   preprocess=json.dumps(preprocess), head_key=model.head_key,
                   data_root=str(root), data_fingerprint=data_fingerprint,
                   data_revision=bench.adapter.revision(root), sample_limit=sample,
                   sample_seed=seed if sample is not None else None,
                   store_logits=bench.store_logits, packages=packages_json(), device=device)
    return RunPlan(model, cfg, image_size, run_id, info, loaded)


def evaluate_batch(jobs: dict[str, EvalJob], bench, subset, batch: Sequence, items: Sequence, *,
                   store_logits: bool = True, decode_device: str | None = None) -> dict:
    """One loader batch through every model: {model: RowBlock} of the images each model still needs.

    `batch` holds what a loader returns, (position in `items`, decoded image, per-model tensors or encoded
    JPEG bytes (`decode_device`: the `device` decode backend), error); unreadable images become rows with
    their error (a block of their own, without logits). Runs `core.run.pipeline`'s four steps one after the
    other; writes nothing: the caller decides where the blocks go (the results store, a shard file, another
    machine). Returns {model: [RowBlock, …]}.
    """
    from core.run.pipeline import build_rows, forward_batch, logits_to_host, prepare_batch

    prepared = prepare_batch(jobs, batch, items, decode_device=decode_device)
    host, event = logits_to_host(forward_batch(jobs, prepared))
    return build_rows(jobs, bench, subset, prepared, host, event=event, store_logits=store_logits)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def evaluate(model_names: Sequence[str], benchmark: str, root, *, variant: str = "", protocol: str = "paper",
             resize: str = "pil", limit: int | None = None, seed: int = 0, batch_size: int | None = None,
             workers: int | None = None, store=None, device: str | None = None, compile: bool = False,
             progress=None, should_stop=None, say=print, stats: dict | None = None,
             decode: str = "pil", overlap: bool = True) -> list[RunSummary]:
    """Predict every image of `benchmark` at `root` with each model and store per-image rows.

    Resumable: rows already in the store are skipped, and rows are committed in whole batches, so an
    interrupted run (Ctrl-C, SIGTERM, SIGKILL) continues where it stopped. `limit`/`seed` draw a
    reproducible random sample (part of the run key), and so does a `resize` backend other than
    `pil`. `should_stop()` is checked after every batch. `stats`, when given, receives timings per
    stage (decode wait, preprocess, forward, rows, store) and the compile time. `decode="device"` decodes
    JPEGs in batches on the device (with `resize="tensor"`; keyed apart); `overlap=False` runs each batch's
    stages one after the other (same rows; for comparison).
    """
    import torch

    from core.errors import UserError
    from core.models.load import best_device
    from core.models.resolved import resolve_model
    from core.models.tensor_preprocess import RESIZE_BACKENDS
    from core.run.decode import DECODE_BACKENDS
    from core.store import ResultsStore

    began_all = time.perf_counter()
    store = store or ResultsStore()
    device = device or best_device()
    if resize not in RESIZE_BACKENDS:
        raise UserError(f"Expected --resize in {', '.join(RESIZE_BACKENDS)}, got {resize!r}.")
    if decode not in DECODE_BACKENDS:
        raise UserError(f"Expected --decode in {', '.join(DECODE_BACKENDS)}, got {decode!r}.")
    if decode == "device" and resize != "tensor":
        raise UserError("--decode device decodes on the device, where only the tensor resize runs: "
                        "add --resize tensor (or keep the default --decode pil).")
    cuda = device.startswith("cuda")
    batch_size = batch_size or (256 if cuda else 32)
    bench, root, items, data_fingerprint, sample, subset = plan_items(benchmark, root, variant=variant,
                                                                      limit=limit, seed=seed)
    jobs: dict[str, EvalJob] = {}
    summaries: list[RunSummary] = []
    for name in model_names:
        plan = plan_run(resolve_model(name), bench, root, benchmark=benchmark, variant=variant, protocol=protocol,
                        resize=resize, items=items, data_fingerprint=data_fingerprint, subset=subset, sample=sample,
                        seed=seed, device=device, decode=decode)
        spec, cfg, run_id, info, loaded = plan.spec, plan.cfg, plan.run_id, plan.info, plan.loaded
        if store.run_status(run_id) == "done":  # a finished run loads no model
            say(f"{name}: {bench.label} already complete in the store (run {run_id}); nothing to do.")
            summaries.append(RunSummary(run_id, name, "skipped", 0))
            continue
        head = plan.model.load_head()
        if spec.head == "zero_shot" and head is None:
            raise UserError(f"{name} needs its zero-shot head first: python -m core zero-shot-head {name}")
        loaded = loaded or plan.model.load(device=device, image_size=plan.image_size)
        if head is not None:
            head = head.to(loaded.device)  # once, not per batch
        store.start_run(info)
        done = store.done_image_ids(run_id)
        jobs[name] = EvalJob(loaded, cfg, head, run_id, {item.image_id for item in items} - done)
        if done:
            say(f"{name}: resuming, {len(done):,} of {len(items):,} images already stored.")
    pending = [item for item in items if any(item.image_id in job.todo for job in jobs.values())]
    if not pending:
        for name, job in jobs.items():
            store.finish_run(job.run_id, "done")
            summaries.append(RunSummary(job.run_id, name, "done", 0))
        _fit_temperatures(store, summaries, bench, variant, subset, say)
        return summaries

    compile_s = _prepare(jobs, batch_size, cuda=cuda, compile=compile, say=say)
    workers = (min(2, os.cpu_count() or 1) if not cuda else min(16, os.cpu_count() or 1)) if workers is None else workers
    dataset = _dataset(bench.adapter, pending, jobs, resize=resize, decode=decode)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=_collate,
                                         pin_memory=cuda and resize == "pil", worker_init_fn=_one_thread,
                                         prefetch_factor=4 if workers else None, persistent_workers=False)
    total = len(pending)
    say(f"{bench.label}: {total:,} images × {len(jobs)} model(s) on {device}; "
        + _expected(jobs, total, device, batch_size=batch_size, workers=workers))
    written = {name: 0 for name in jobs}
    started, counts = time.perf_counter(), {"done": 0, "status": "done"}
    writer = store.writer()

    def deliver(blocks: dict, size: int) -> bool:
        """One batch's blocks, in order: to the store's writer; True once the run should stop."""
        for name, parts in blocks.items():
            for part in parts:
                writer.put(part)
                written[name] += len(part)
                jobs[name].todo.difference_update(part.columns["image_id"])
        counts["done"] += size
        rate = counts["done"] / max(time.perf_counter() - started, 1e-9)
        if progress:
            progress(EvalProgress(counts["done"], total, rate, (total - counts["done"]) / max(rate, 1e-9)))
        if should_stop and should_stop():
            counts["status"] = "stopped"
            return True
        return False

    try:
        from core.run.pipeline import run_batches

        waited = run_batches(jobs, bench, subset, loader, pending, deliver=deliver, store_logits=bench.store_logits,
                             decode_device=device if decode == "device" else None,
                             overlap=overlap)["decode_wait_s"]
        writer.close()  # every row computed so far is committed before a run is marked
    except BaseException as error:
        try:
            writer.close()  # whole batches computed before the interruption are kept
        except Exception:
            pass
        for job in jobs.values():
            store.finish_run(job.run_id, "stopped" if isinstance(error, KeyboardInterrupt) else "failed",
                             message=str(error)[:500])
        raise
    loop_s = time.perf_counter() - started
    done_images, status = counts["done"], counts["status"]
    rate = done_images / max(loop_s, 1e-9)
    for name, job in jobs.items():
        final = status if job.todo or status == "stopped" else "done"
        store.finish_run(job.run_id, final, images_per_s=rate, device=device)
        summaries.append(RunSummary(job.run_id, name, final, written[name]))
    _fit_temperatures(store, summaries, bench, variant, subset, say)
    if stats is not None:
        stats.update(images=done_images, loop_s=loop_s, total_s=time.perf_counter() - began_all, compile_s=compile_s,
                     decode_wait_s=waited, store_rows=writer.stats.rows, store_commits=writer.stats.commits,
                     store_s=writer.stats.seconds,
                     models={name: dict(job.timings) for name, job in jobs.items()})
    return summaries


def _dataset(adapter, pending, jobs: dict, *, resize: str, decode: str):
    """What the loader workers do per image: decode and crop for every model (`pil` resize), decode only
    (`tensor`), or read bytes only (`device` decode, `core.run.decode`)."""
    if decode == "device":
        from core.run.decode import EncodedImages

        return EncodedImages(adapter, pending)
    if resize == "pil":
        return DecodedItems(adapter, pending, {name: job.cfg for name, job in jobs.items()})
    return DecodedImages(adapter, pending)


def _fit_temperatures(store, summaries, bench, variant: str, subset, say) -> None:
    """Temperature scaling of the runs just finished, fitted once and stored (issue 7); never fails a run."""
    from core.analysis.temperature import fit_after_evaluation

    fit_after_evaluation(store, summaries, benchmark=bench.key, variant=variant, class_subset=subset,
                         store_logits=bench.store_logits, say=say)


def _prepare(jobs: dict[str, EvalJob], batch_size: int, *, cuda: bool, compile: bool, say) -> float:
    """CUDA: channels_last weights and inputs; `compile`: torch.compile each model's forward and run it
    once on a dummy batch, so its one-off cost is measured apart. Returns the compile seconds."""
    import torch

    seconds = 0.0
    for name, job in jobs.items():
        if cuda:
            job.loaded.module.to(memory_format=torch.channels_last)
            job.channels_last = True
        if compile:
            loaded, head = job.loaded, job.head
            job.forward = torch.compile(lambda x, loaded=loaded, head=head: forward_logits(loaded, x, head))
            job.pad_to = batch_size  # static shapes: a partial last batch is padded, not recompiled
            size = job.cfg.input_size if job.cfg.resize_mode != "none" else 224
            dummy = torch.zeros(batch_size, 3, size, size, device=loaded.device)
            if job.channels_last:
                dummy = dummy.contiguous(memory_format=torch.channels_last)
            began = time.perf_counter()
            with torch.inference_mode(), autocast(loaded.device):
                job.forward(dummy)
            _sync(loaded.device)
            seconds += time.perf_counter() - began
    if compile:
        say(f"torch.compile: {seconds:.1f} s for {len(jobs)} model(s) (once per process).")
    return seconds


def _expected(jobs: dict, total: int, device: str, *, batch_size: int, workers: int) -> str:
    """Time one small random batch per model to tell the user how long the run will take.

    The timed batch has the shape of a warm-up batch run just before it: the first batch of a new shape pays
    for kernel selection (on CUDA, seconds), which made a 20 s run on an H200 announce 19 min. On CUDA the
    batch is larger (per-image time there falls with the batch size), and decoding is shared by the workers."""
    import torch

    cuda = str(device).startswith("cuda")
    n = max(1, min(batch_size, 64 if cuda else 4))
    seconds = 0.0
    for job in jobs.values():
        size = job.cfg.input_size if job.cfg.resize_mode != "none" else 224
        batch = torch.randn(n, 3, size, size, device=job.loaded.device)
        if cuda:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast(job.loaded.device):
            forward_logits(job.loaded, batch, job.head)  # warm-up, same shape
            _sync(device)
            began = time.perf_counter()
            forward_logits(job.loaded, batch, job.head)
            _sync(device)
        seconds += (time.perf_counter() - began) / n * total
    seconds += 0.008 * total / max(1, workers)  # decoding (~130 images/s per worker), partly hidden by the models
    return f"expected about {seconds / 60:.0f} min." if seconds >= 120 else f"expected about {seconds:.0f} s."
