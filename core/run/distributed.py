"""Dataset evaluation on a Ray cluster (`python -m core evaluate … --ray auto|local|ADDRESS`).

The images still missing from the store are split into blocks of `batch_size` images. Ray Data
decodes each block on CPU tasks (`_decode_block`: read, decode, each model's PIL crop, as uint8
arrays; with `--resize tensor` the decoded image only, cropped on the actor's device), and an actor pool (`_ModelActor`, `ActorPoolStrategy`, one GPU per actor where the cluster
has GPUs) runs every selected model on it with the single-process path's own per-batch step
(`core.run.evaluation.evaluate_batch`), so rows are built by the same code. Each actor returns its block
as one Parquet shard (`core.store.shard_table`); the driver writes it under the run's folder
(`cache/ray-runs/<key>/`) and folds finished shards into the DuckDB store about once a second
(`ResultsStore.fold_shards`, idempotent). Killing a worker, the cluster or the driver loses at most
the blocks in flight: a worker that dies is restarted by Ray and its block redone, and a restarted
run first folds the shards already on disk, then evaluates only the images still missing.

Dataset paths must be readable from every node (a shared filesystem): `_check_visible` reads a few
images on each node before anything else starts and names the nodes that cannot.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from core.errors import UserError

__all__ = ["evaluate_ray", "RayUnavailable", "DatasetNotShared", "connect", "shard_folder"]


class RayUnavailable(UserError):
    """Ray could not be started or the cluster could not be reached."""


class DatasetNotShared(UserError):
    """The dataset folder is not readable from every node of the cluster."""


@dataclass(frozen=True)
class _ModelPlan:
    """What an actor needs to run one model: no loaded weights, only what identifies them."""

    name: str
    spec: object
    cfg: object
    image_size: int | None
    run_id: str
    weights_key: str
    head: object  # zero-shot head tensor (computed by the driver) or None


# --- connecting -------------------------------------------------------------------------------

def connect(mode: str, *, num_cpus: int | None = None, object_store_mb: int | None = None) -> bool:
    """Start or join Ray. `local`: a new Ray on this machine; `auto`: the cluster `ray start` made here
    (or `RAY_ADDRESS`); anything else: that cluster's address. Returns True when this call started
    Ray (the caller then shuts it down); an already initialised Ray is reused as it is."""
    import ray

    if ray.is_initialized():
        return False
    previous = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    options = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    try:
        if mode == "local":
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1,
                     object_store_memory=object_store_mb * 2**20 if object_store_mb else None,
                     runtime_env={"env_vars": _worker_env()}, **options)
        else:
            from core.config import PROJECT_ROOT

            _check_reachable(mode)
            # Other machines get this checkout's `core` package; weights, caches and data stay theirs.
            ray.init(address=mode, runtime_env={"py_modules": [str(Path(PROJECT_ROOT) / "core")],
                                                "env_vars": {"PYTHONUNBUFFERED": "1"}}, **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = "this machine" if mode == "local" else f"the cluster at {mode!r}"
        fix = ("Start one with `ray start --head` (and `ray start --address=HEAD:6379` on the other machines), "
               "or use --ray local." if mode != "local" else "Check that no other Ray uses this machine's ports.")
        raise RayUnavailable(f"Could not start or reach Ray on {where} ({error}). {fix}") from None
    finally:
        if previous is not None:  # ray.init installs a SIGTERM handler that exits; keep the caller's
            signal.signal(signal.SIGTERM, previous)
    return True


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A HOST:PORT that answers no TCP connection fails in seconds (Ray itself retries for a minute or more)."""
    import socket

    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected auto, local or HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise ConnectionError(f"nothing answers at {host}:{port}: {error.strerror or error}") from None


def _worker_env() -> dict:
    """Environment a local Ray's workers need: this checkout on the path, the same caches and weights."""
    from core.config import PROJECT_ROOT

    path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]))
    keep = {name: value for name, value in os.environ.items()
            if name.startswith(("BAE_", "HF_", "TORCH_", "XDG_CACHE")) and name != "BAE_VENV"}
    return {"PYTHONPATH": path, **keep}


def _cluster_shape() -> tuple[int, int]:
    import ray

    resources = ray.cluster_resources()
    return int(resources.get("CPU", 1)), int(resources.get("GPU", 0))


# --- checks before the run ----------------------------------------------------------------------

def _probe_paths(root: str, paths: list[str], read) -> list[str]:
    problems = []
    if not os.path.isdir(root):
        return [f"{root} is not a folder there"]
    for path in paths:
        try:
            read(path)
        except OSError as error:
            problems.append(f"{path}: {error.strerror or error}")
    return problems


def _check_visible(bench_key: str, root: Path, items: Sequence, *, timeout_s: float = 120.0) -> None:
    """Read the first, middle and last image on every alive node; raise `DatasetNotShared` naming the
    nodes that cannot (before any model loads)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    sample = [items[0], items[len(items) // 2], items[-1]]

    @ray.remote(num_cpus=0, max_retries=0)
    def probe(bench_key, root, sample):
        import socket

        from core.data import get_benchmark

        adapter = get_benchmark(bench_key).adapter
        problems = []
        if not os.path.isdir(root):
            problems.append(f"{root} does not exist or is not a folder there")
        else:
            for item in sample:
                try:
                    adapter.read_bytes(item)
                except OSError as error:
                    problems.append(f"{item.image_id}: {error.strerror or error}")
        return socket.gethostname(), problems

    nodes = [node for node in ray.nodes() if node.get("Alive")]
    refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
            .remote(bench_key, str(root), sample) for node in nodes]
    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
    failing = []
    for node, ref in zip(nodes, refs):
        if ref not in ready:
            failing.append(f"{node.get('NodeManagerAddress', '?')}: no answer within {timeout_s:.0f} s")
            continue
        host, problems = ray.get(ref)
        if problems:
            failing.append(f"{host} ({node.get('NodeManagerAddress', '?')}): " + "; ".join(problems[:3]))
    if failing:
        raise DatasetNotShared(
            f"The dataset folder {root} is not readable on {len(failing)} of {len(nodes)} Ray node(s): "
            + " | ".join(failing[:5]) + ". Every node reads images itself: put the dataset on a filesystem "
            "mounted at the same path on every machine (NFS, a cluster filesystem, or a copy at that path), "
            "then start again. Nothing was computed.")


# --- the workers ----------------------------------------------------------------------------------

def _decode_block(batch: dict, *, bench_key: str, items: Sequence, blocks: Sequence, cfgs: dict,
                  resize: str = "pil") -> dict:
    """Ray Data task: read and decode one block's images and make each model's PIL crop (uint8 HWC), or with
    the `tensor` resize only decode (one uint8 HWC array per image; the actor crops on its device).
    The payload is pickled by us, so a block travels as one binary value whatever its images' sizes."""
    import numpy as np

    from core.data import get_benchmark
    from core.run.evaluation import _decode
    from core.models.preprocess import crop_for_model

    adapter = get_benchmark(bench_key).adapter
    out_blocks, payloads = [], []
    for block in batch["block"]:
        start, stop = blocks[int(block)]
        decoded = []
        for index in range(start, stop):
            image, error = _decode(adapter, items[index])
            if image is None:
                decoded.append((index, None, error))
            elif resize == "tensor":
                decoded.append((index, np.asarray(image), None))
            else:
                decoded.append((index, {name: np.asarray(crop_for_model(image, cfg)) for name, cfg in cfgs.items()},
                                None))
        out_blocks.append(int(block))
        payloads.append(pickle.dumps(decoded, protocol=pickle.HIGHEST_PROTOCOL))
    return {"block": np.array(out_blocks, dtype=np.int64), "payload": np.array(payloads, dtype=object)}


class _ModelActor:
    """Ray Data actor: loads every model once, then turns decoded blocks into Parquet shards (bytes)."""

    def __init__(self, *, plans: Sequence[_ModelPlan], todo: dict, bench_key: str, subset, items: Sequence,
                 store_logits: bool, threads: int, compile: bool = False, batch_size: int = 1) -> None:
        import torch

        from core.data import get_benchmark
        from core.run.evaluation import EvalJob, _prepare
        from core.models.load import load_model

        torch.set_num_threads(max(1, threads))
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.bench, self.subset, self.items, self.store_logits = get_benchmark(bench_key), subset, items, store_logits
        self.jobs, self.cfgs = {}, {}
        for plan in plans:
            loaded = load_model(plan.spec, device=device, image_size=plan.image_size)
            if loaded.weights_key != plan.weights_key:
                import socket

                raise UserError(f"{plan.name}: the weights on Ray node {socket.gethostname()} ({loaded.weights_key}) "
                                f"differ from the driver's ({plan.weights_key}); results would mix two models. "
                                "Put the same weight files on every node (copy the Hugging Face cache).")
            head = plan.head.to(device) if plan.head is not None else None
            self.jobs[plan.name] = EvalJob(loaded, plan.cfg, head, plan.run_id, set(todo[plan.name]))
            self.cfgs[plan.name] = plan.cfg
        if device.startswith("cuda") or compile:
            _prepare(self.jobs, batch_size, cuda=device.startswith("cuda"), compile=compile, say=lambda message: None)

    def __call__(self, batch: dict) -> dict:
        import io

        import numpy as np
        import pyarrow.parquet as pq

        from core.run.evaluation import evaluate_batch
        from core.store import shard_table

        shards, counts = [], []
        for payload in batch["payload"]:
            decoded = pickle.loads(payload)
            ready = [(index, _model_input(data, self.cfgs), error) for index, data, error in decoded]
            parts = [part for blocks in evaluate_batch(self.jobs, self.bench, self.subset, ready, self.items,
                                                       store_logits=self.store_logits).values() for part in blocks]
            buffer = io.BytesIO()
            table = shard_table(parts)
            pq.write_table(table, buffer, compression="none")
            shards.append(buffer.getvalue())
            counts.append(table.num_rows)
        return {"block": np.asarray(batch["block"], dtype=np.int64), "shard": np.array(shards, dtype=object),
                "rows": np.array(counts, dtype=np.int64)}


def _model_input(data, cfgs: dict):
    """What the per-batch step takes from a decoded block entry: per-model tensors (pil resize: the decode
    task's crops) or one CHW uint8 image tensor (tensor resize: cropped on the actor's device)."""
    import torch
    from PIL import Image

    from core.models.preprocess import to_model_tensor

    if data is None:
        return None
    if isinstance(data, dict):
        return {name: to_model_tensor(Image.fromarray(data[name]), cfgs[name]) for name in data}
    return torch.from_numpy(data).permute(2, 0, 1)


# --- the driver -----------------------------------------------------------------------------------

def shard_folder(run_ids: Sequence[str]) -> Path:
    """Where the shards of one evaluation (this set of runs) are written: `cache/ray-runs/<key>/`."""
    from core.config import cache_dir

    key = hashlib.sha256("|".join(sorted(run_ids)).encode()).hexdigest()[:16]
    return cache_dir() / "ray-runs" / key


def _write_shard(folder: Path, data: bytes, block_ids: Sequence[str]) -> Path:
    """Atomically (temporary name, then rename): a shard on disk is always whole."""
    name = hashlib.sha256("\n".join(block_ids).encode()).hexdigest()[:20]
    path = folder / f"block-{name}.parquet"
    temporary = folder / f".{path.name}.{os.getpid()}.tmp"
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return path


def _unwrap(error: BaseException) -> BaseException:
    """The user-facing error inside a Ray task/actor failure, if there is one.

    A failure in a task comes back as `RayTaskError` whose `cause` is our exception; a failure in an
    actor's constructor comes back (through Ray Data) as `ActorDiedError`, which carries only the
    remote traceback as text: the `core.errors.<Class>: message` line of that text is rebuilt."""
    import re

    from core import errors

    seen, current = 0, error
    while current is not None and seen < 8:
        if isinstance(current, UserError):
            return current
        cause = getattr(current, "cause", None)
        current = cause if isinstance(cause, BaseException) else current.__cause__ or current.__context__
        seen += 1
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    found = re.findall(r"core\.errors\.(\w+): (.+)", text)
    if found:
        name, message = found[-1]
        kind = getattr(errors, name, UserError)
        return (kind if isinstance(kind, type) and issubclass(kind, UserError) else UserError)(message.strip())
    return error


def evaluate_ray(model_names: Sequence[str], benchmark: str, root, *, ray: str = "local", variant: str = "",
                 protocol: str = "paper", resize: str = "pil", compile: bool = False, limit: int | None = None,
                 seed: int = 0,
                 batch_size: int | None = None, store=None, num_cpus: int | None = None,
                 num_actors: int | None = None, object_store_mb: int | None = None, fold_every_s: float = 1.0,
                 progress=None, should_stop=None, say=print, stats: dict | None = None):
    """`core.run.evaluation.evaluate` on a Ray cluster: the same run keys and, row for row, the same rows.

    Args:
        ray: `local` (start Ray here), `auto` (the cluster `ray start` made) or a cluster address.
        batch_size: images per block (and per forward pass); default 32, or 256 where the cluster has GPUs.
        num_cpus: `local` only: CPUs Ray may use (default: all).
        num_actors: model actors (default: one per GPU; CPU-only, one per 4 CPUs beyond the one left
            for reading and decoding).
        fold_every_s: how often finished shards are folded into the store.

    Returns the same `RunSummary` list as `evaluate`; `stats` receives blocks, shards, fold time.
    """
    from core.models.resolved import resolve_model
    from core.run.evaluation import EvalProgress, RunSummary, plan_items, plan_run
    from core.store import ResultsStore
    from core.analysis.temperature import fit_after_evaluation

    began_all = time.perf_counter()
    mode = ray  # the name `ray` is the module below
    store = store or ResultsStore()
    from core.models.tensor_preprocess import RESIZE_BACKENDS

    if resize not in RESIZE_BACKENDS:
        raise UserError(f"Expected --resize in {', '.join(RESIZE_BACKENDS)}, got {resize!r}.")
    bench, root, items, data_fingerprint, sample, subset = plan_items(benchmark, root, variant=variant,
                                                                      limit=limit, seed=seed)
    plans: list[_ModelPlan] = []
    summaries: list[RunSummary] = []
    for name in model_names:
        plan = plan_run(resolve_model(name), bench, root, benchmark=benchmark, variant=variant, protocol=protocol,
                        resize=resize, items=items, data_fingerprint=data_fingerprint, subset=subset,
                        sample=sample, seed=seed, device="cpu")  # the driver loads a model only to download it
        if store.run_status(plan.run_id) == "done":
            say(f"{name}: {bench.label} already complete in the store (run {plan.run_id}); nothing to do.")
            summaries.append(RunSummary(plan.run_id, name, "skipped", 0))
            continue
        head = plan.model.load_head()
        if plan.spec.head == "zero_shot" and head is None:
            raise UserError(f"{name} needs its zero-shot head first: python -m core zero-shot-head {name}")
        head = head.cpu() if head is not None else None
        plans.append(_ModelPlan(name, plan.spec, plan.cfg, plan.image_size, plan.run_id, plan.info.weights_key, head))
        store.start_run(dataclasses.replace(plan.info, device="ray"))
    if not plans:
        return summaries

    folder = shard_folder([plan.run_id for plan in plans])
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob(".*.tmp"):  # half-written by a driver that was killed
        leftover.unlink(missing_ok=True)
    earlier = sorted(folder.glob("block-*.parquet"))
    if earlier:  # a driver that was stopped or killed wrote these; they may not all be in the store yet
        folded = store.fold_shards(earlier)
        say(f"Folded {len(earlier)} shard(s) left by an earlier run ({folded:,} new rows).")
    todo = {}
    for plan in plans:
        done = store.done_image_ids(plan.run_id)
        todo[plan.name] = [item.image_id for item in items if item.image_id not in done]
        if done:
            say(f"{plan.name}: resuming, {len(done):,} of {len(items):,} images already stored.")
    needed = set().union(*todo.values())
    pending = [item for item in items if item.image_id in needed]
    total_rows = sum(len(ids) for ids in todo.values())
    if not pending:
        summaries += _finish(store, plans, todo, folder, "done", 0.0, {plan.name: 0 for plan in plans})
        fit_after_evaluation(store, summaries, benchmark=bench.key, variant=variant, class_subset=subset,
                             store_logits=bench.store_logits, say=say)
        return summaries

    status, written, folded_rows, owned = "done", {plan.name: 0 for plan in plans}, 0, False
    started = time.perf_counter()
    fold_seconds, shards_written = 0.0, 0
    try:
        import ray.data

        owned = connect(mode, num_cpus=num_cpus, object_store_mb=object_store_mb)

        cpus, gpus = _cluster_shape()
        batch_size = batch_size or (256 if gpus else 32)
        _check_visible(bench.key, root, pending)
        blocks = [(start, min(start + batch_size, len(pending))) for start in range(0, len(pending), batch_size)]
        if gpus:
            actors, actor_cpus, actor_gpus = num_actors or gpus, 1, 1
            threads = actor_cpus
        else:  # leave a CPU for reading: a pool that takes every CPU starves the decode tasks and hangs
            actor_cpus = max(1, min(4, cpus - 1))
            actors, actor_gpus = num_actors or max(1, (cpus - 1) // 4), 0
            # …but compute on every CPU between decodes, as the single-process path's torch does: a
            # reservation schedules tasks, it does not pin threads (one thread on 2 CPUs: +60% time)
            threads = max(actor_cpus, cpus // actors)
        say(f"{bench.label}: {len(pending):,} images × {len(plans)} model(s) on Ray ({cpus} CPU, {gpus} GPU): "
            f"{len(blocks)} block(s) of {batch_size}, {actors} model actor(s).")
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        context.max_consecutive_actor_init_deaths = 1  # a model that cannot load on a node fails the run, no retry loop
        cfgs = {plan.name: plan.cfg for plan in plans}
        dataset = (ray.data.from_items([{"block": k} for k in range(len(blocks))], override_num_blocks=len(blocks))
                   # memory: what a block's decoded images and crops take (~2 MB an image); declaring it also
                   # keeps decoding on CPU tasks of its own instead of fused into the model actors
                   .map_batches(_decode_block, batch_size=1, num_cpus=1, memory=batch_size * 2 * 2**20,
                                batch_format="numpy",
                                fn_kwargs={"bench_key": bench.key, "items": pending, "blocks": blocks, "cfgs": cfgs,
                                           "resize": resize})
                   .map_batches(_ModelActor, batch_size=1, batch_format="numpy",
                                compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=actor_cpus,
                                num_gpus=actor_gpus,
                                fn_constructor_kwargs={"plans": plans, "todo": todo, "bench_key": bench.key,
                                                       "subset": subset, "items": pending,
                                                       "store_logits": bench.store_logits, "threads": threads,
                                                       "compile": compile, "batch_size": batch_size}))
        unfolded: list[Path] = []
        last_fold, done_images = time.monotonic(), 0
        for row in dataset.iter_rows():
            start, stop = blocks[int(row["block"])]
            block_ids = [item.image_id for item in pending[start:stop]]
            unfolded.append(_write_shard(folder, row["shard"], block_ids))
            shards_written += 1
            done_images += stop - start
            if time.monotonic() - last_fold >= fold_every_s:
                began = time.perf_counter()
                folded_rows += store.fold_shards(unfolded)
                fold_seconds += time.perf_counter() - began
                unfolded, last_fold = [], time.monotonic()
            elapsed = time.perf_counter() - started
            rate = done_images / max(elapsed, 1e-9)
            if progress:
                progress(EvalProgress(done_images, len(pending), rate, (len(pending) - done_images) / max(rate, 1e-9),
                                      message=f"{folded_rows:,} of {total_rows:,} rows folded"))
            if should_stop and should_stop():
                status = "stopped"
                break
        began = time.perf_counter()
        folded_rows += store.fold_shards(unfolded)
        fold_seconds += time.perf_counter() - began
    except BaseException as error:
        _fold_quietly(store, folder)  # whatever finished before the interruption is kept
        cause = _unwrap(error)
        run_status = "stopped" if isinstance(error, KeyboardInterrupt) else "failed"
        for plan in plans:
            store.finish_run(plan.run_id, run_status, message=str(cause)[:500])
        if owned:
            _shutdown()
        if isinstance(error, (KeyboardInterrupt, UserError)):
            raise
        if isinstance(cause, UserError):
            raise type(cause)(str(cause)) from None
        if type(error).__module__.startswith("ray"):
            raise UserError(f"A Ray worker failed: {cause}. Rows of finished blocks are kept; run the same command "
                            "again to redo only the missing ones.") from error
        raise
    if owned:
        _shutdown()
    loop_s = time.perf_counter() - started
    rate = len(pending) / max(loop_s, 1e-9) if status == "done" else float("nan")
    remaining = {plan.name: set(todo[plan.name]) - store.done_image_ids(plan.run_id) for plan in plans}
    for plan in plans:
        written[plan.name] = len(todo[plan.name]) - len(remaining[plan.name])
    summaries += _finish(store, plans, {name: list(ids) for name, ids in remaining.items()}, folder, status, rate,
                         written)
    fit_after_evaluation(store, summaries, benchmark=bench.key, variant=variant, class_subset=subset,
                         store_logits=bench.store_logits, say=say)  # issue 7: once per run, never fails it
    if stats is not None:
        stats.update(images=len(pending), loop_s=loop_s, total_s=time.perf_counter() - began_all, shards=shards_written,
                     fold_s=fold_seconds, folded_rows=folded_rows, blocks=len(blocks), actors=actors)
    return summaries


def _finish(store, plans, remaining: dict, folder: Path, status: str, rate: float, written: dict) -> list:
    """Mark each run; once every run is done, the shards are redundant with the store and are removed."""
    import shutil

    from core.run.evaluation import RunSummary

    summaries = []
    for plan in plans:
        final = "done" if not remaining[plan.name] and status == "done" else ("stopped" if status == "stopped"
                                                                             else "failed")
        store.finish_run(plan.run_id, final, images_per_s=rate if rate == rate else None, device="ray",
                         message=None if final == "done" else f"{len(remaining[plan.name]):,} images missing")
        summaries.append(RunSummary(plan.run_id, plan.name, final, written[plan.name]))
    if all(summary.status == "done" for summary in summaries):
        shutil.rmtree(folder, ignore_errors=True)
    return summaries


def _fold_quietly(store, folder: Path) -> None:
    try:
        store.fold_shards(sorted(folder.glob("block-*.parquet")))
    except Exception:
        pass  # the next run folds them


def _shutdown() -> None:
    import ray

    try:
        ray.shutdown()
    except Exception:
        pass
