"""The per-batch step of an evaluation, in four parts, and the loop that overlaps them.

    prepare_batch   decode (the `device` backend) and crop each model's inputs    the device (a side stream)
    forward_batch   every model's logits, left on the device                      the device
    logits_to_host  a non-blocking copy into pinned memory, with an event          the device
    build_rows      the rows (`core.run.rows.result_columns`) once the copy lands  a CPU thread

`core.run.evaluation.evaluate_batch` runs them one after the other (the Ray actors use it); `run_batches`
with `overlap=True` pipelines them: while batch i's forwards run, batch i+1 is fetched from the loader and
prepared on a second CUDA stream, and batch i−1's rows are built on a CPU thread. The hot loop calls no
`.cpu()` or `.item()`. Both orders compute the same numbers from the same inputs, so they store the same
rows and logits (tests/unit/run/test_pipeline.py). With `compile`, a partial last batch is padded to the
compiled batch size (static shapes) and its padding rows dropped.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Sequence

__all__ = ["HARD_LABELS", "Prepared", "prepare_batch", "forward_batch", "logits_to_host", "build_rows", "run_batches"]

HARD_LABELS = ("imagenet-hard", "pug-imagenet")
"""Benchmarks whose images count as correct for any of several labels."""


@dataclass
class Prepared:
    """One loader batch made ready for the models: per model, the failed items with their errors, the items it
    still needs and their normalised input batch on its device."""

    size: int
    failed: dict = field(default_factory=dict)
    ready: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    event: object = None  # CUDA: recorded on the stream that prepared the inputs


def prepare_batch(jobs: dict, batch: Sequence, items: Sequence, *, decode_device: str | None = None,
                  sync: bool = True) -> Prepared:
    """Decode what is still encoded (`decode_device`: the `device` backend), then each model's inputs: the
    workers' tensors stacked (`pil` resize) or crops made once per distinct transform (`tensor` resize)."""
    import torch

    from core.models.tensor_preprocess import preprocess_batch

    began = time.perf_counter()
    if decode_device is not None:
        from core.run.decode import decode_payloads

        batch = decode_payloads(batch, items, device=decode_device)
    decode_s = time.perf_counter() - began
    prepared = Prepared(len(batch))
    crops: dict[str, object] = {}
    for name, job in jobs.items():
        began = time.perf_counter()
        failed = [(items[i], error) for i, data, error in batch if data is None and items[i].image_id in job.todo]
        ready = [(items[i], data) for i, data, error in batch if data is not None and items[i].image_id in job.todo]
        if failed:
            prepared.failed[name] = failed
        if ready:
            device = job.loaded.device
            if isinstance(ready[0][1], dict):  # pil resize: the workers made each model's tensor
                inputs = torch.stack([data[name] for _, data in ready]).to(device, non_blocking=True)
                if job.channels_last:
                    inputs = inputs.contiguous(memory_format=torch.channels_last)
            else:
                key = f"{job.cfg.key()}|{device}|{len(ready)}|{job.channels_last}"
                if key not in crops:
                    crops[key] = preprocess_batch([data for _, data in ready], job.cfg, device=device,
                                                  channels_last=job.channels_last)
                inputs = crops[key]
            prepared.ready[name] = [item for item, _ in ready]
            prepared.inputs[name] = inputs
            if sync:
                _sync(device)
        job.timings["preprocess_s"] += time.perf_counter() - began + decode_s / max(1, len(jobs))
    return prepared


def forward_batch(jobs: dict, prepared: Prepared, *, sync: bool = True) -> dict:
    """{model: float32 logits on its device} for the items each model needs; nothing leaves the device."""
    import torch

    from core.models.load import autocast
    from core.run.inference import forward_logits

    out = {}
    for name, inputs in prepared.inputs.items():
        job = jobs[name]
        began = time.perf_counter()
        count = inputs.shape[0]
        if job.pad_to and count < job.pad_to:  # compiled for one batch size: pad, drop the padding after
            padding = inputs.new_zeros((job.pad_to - count, *inputs.shape[1:]))
            inputs = torch.cat([inputs, padding])
            if job.channels_last:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast(job.loaded.device):
            logits = (job.forward or (lambda x: forward_logits(job.loaded, x, job.head)))(inputs)
            out[name] = logits[:count].float()
        if sync:
            _sync(job.loaded.device)
        job.timings["forward_s"] += time.perf_counter() - began
    return out


def logits_to_host(logits: dict):
    """({model: CPU tensor}, CUDA event or None): on CUDA a non-blocking copy into pinned memory; the event
    says when it has landed (`build_rows` waits for it on its own thread)."""
    import torch

    if not any(tensor.is_cuda for tensor in logits.values()):
        return logits, None
    host = {}
    for name, tensor in logits.items():
        host[name] = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
        host[name].copy_(tensor, non_blocking=True)
    event = torch.cuda.Event()
    event.record()
    return host, event


def build_rows(jobs: dict, bench, subset, prepared: Prepared, host_logits: dict, *, event=None,
               store_logits: bool = True) -> dict:
    """{model: [RowBlock, …]}: failed items as rows with their error (no logits), the others with their results."""
    import numpy as np

    from core.run.rows import item_columns, result_columns
    from core.store import RowBlock

    if event is not None:
        event.synchronize()
    blocks = {}
    for name, job in jobs.items():
        began = time.perf_counter()
        parts = []
        if name in prepared.failed:
            failed = prepared.failed[name]
            columns = item_columns(job.run_id, [item for item, _ in failed])
            columns["error"] = [error for _, error in failed]
            parts.append(RowBlock(columns))
        if name in prepared.ready:
            chosen = prepared.ready[name]
            logits = host_logits[name].numpy()
            columns = item_columns(job.run_id, chosen)
            columns.update(result_columns(
                logits, labels=columns["label"], class_subset=subset,
                accepted=[item.labels or (item.label,) for item in chosen] if bench.key in HARD_LABELS else None,
                shapes=[item.shape for item in chosen] if bench.adapter.classes == "in16" else None))
            parts.append(RowBlock(columns, logits.astype(np.float16) if store_logits else None))
        if parts:
            blocks[name] = parts
        job.timings["rows_s"] += time.perf_counter() - began
    return blocks


def run_batches(jobs: dict, bench, subset, loader, items: Sequence, *, deliver: Callable[[dict, int], bool],
                decode_device: str | None = None, store_logits: bool = True, overlap: bool = True) -> dict:
    """Every loader batch through prepare → forward → host copy → rows; `deliver(blocks, batch size)` receives
    each batch's blocks in order and returns True to stop (a batch already in flight is then dropped, as if it
    had not started: resuming computes it again). Returns {"decode_wait_s": seconds spent waiting on the loader}.

    `overlap=False` runs each batch to the end before fetching the next (what `evaluate_batch` does)."""
    import torch

    timing = {"decode_wait_s": 0.0}
    iterator = iter(loader)
    cuda = any(str(job.loaded.device).startswith("cuda") for job in jobs.values())
    side = torch.cuda.Stream() if cuda and overlap else None

    def fetch() -> Prepared | None:
        began = time.perf_counter()
        batch = next(iterator, None)
        timing["decode_wait_s"] += time.perf_counter() - began
        if batch is None:
            return None
        with torch.cuda.stream(side) if side is not None else nullcontext():
            prepared = prepare_batch(jobs, batch, items, decode_device=decode_device, sync=not overlap)
            if side is not None:
                prepared.event = torch.cuda.Event()
                prepared.event.record(side)
        return prepared

    if not overlap:
        while (prepared := fetch()) is not None:
            host, event = logits_to_host(forward_batch(jobs, prepared))
            if deliver(build_rows(jobs, bench, subset, prepared, host, event=event, store_logits=store_logits),
                       prepared.size):
                break
        return timing

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bae-rows") as rows:
        in_flight = None  # (future of the previous batch's blocks, its size)
        prepared = fetch()
        while prepared is not None:
            if prepared.event is not None:  # the forwards wait for the side stream's crops, not the host
                current = torch.cuda.current_stream()
                current.wait_event(prepared.event)
                for inputs in prepared.inputs.values():
                    inputs.record_stream(current)
            host, event = logits_to_host(forward_batch(jobs, prepared, sync=False))
            future = rows.submit(build_rows, jobs, bench, subset, prepared, host, event=event,
                                 store_logits=store_logits)
            upcoming = fetch()  # the loader and the next crops, while the device runs this batch
            if in_flight is not None and deliver(in_flight[0].result(), in_flight[1]):
                future.cancel() or future.result()  # dropped: it was not handed to the store
                return timing
            in_flight, prepared = (future, prepared.size), upcoming
        if in_flight is not None:
            deliver(in_flight[0].result(), in_flight[1])
    return timing


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()
