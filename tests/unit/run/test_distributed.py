"""core.run.distributed (`evaluate --ray local`): the same rows as the single-process path, row for row;
a worker killed mid-block, a stopped driver, shards folded twice; a dataset or weights that workers
cannot read. One local Ray (2 CPUs, no dashboard, small object store) serves the whole module."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data import BENCHMARKS, load_items
from core.run.distributed import DatasetNotShared, evaluate_ray
from core.errors import UserError, WeightsUnavailable
from core.run.evaluation import evaluate
from core.store import ResultsStore, RowBlock, shard_table
from tests.conftest import shared_data

pytestmark = pytest.mark.ray

LIMIT, SEED, BATCH = 192, 0, 32  # six blocks of 32 images


def _quiet(_message: str) -> None:
    pass


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    from core.run.distributed import _worker_env

    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=150 * 2**20,
             log_to_driver=False, configure_logging=False, runtime_env={"env_vars": _worker_env()})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def cue_copy(tmp_path_factory):
    """The cue-conflict set as links to the shared files, with one sampled image replaced by bytes that
    are no image: both paths must store an error row for it."""
    root = tmp_path_factory.mktemp("cue") / "cue-conflict"
    for folder in sorted(shared_data("cue-conflict").iterdir()):
        if folder.is_dir():
            (root / folder.name).mkdir(parents=True)
            for path in folder.iterdir():
                (root / folder.name / path.name).symlink_to(path)
    items = load_items(BENCHMARKS["cue-conflict"], root)
    chosen = np.sort(np.random.default_rng(SEED).choice(len(items), size=LIMIT, replace=False))
    broken = Path(items[chosen[40]].path)
    broken.unlink()
    broken.write_bytes(b"not an image" * 100)
    return root, items[chosen[40]].image_id


@pytest.fixture(scope="module")
def reference(cue_copy, tmp_path_factory):
    """The single-process run of the same sample: what every Ray run must equal."""
    root, _ = cue_copy
    store = ResultsStore(tmp_path_factory.mktemp("single") / "results.duckdb")
    summaries = evaluate(["effnet_lite0"], "cue-conflict", root, limit=LIMIT, seed=SEED, batch_size=BATCH,
                         store=store, say=_quiet)
    return store, summaries[0].run_id


def _assert_same_rows(store: ResultsStore, reference, run_id: str) -> None:
    reference_store, reference_id = reference
    assert run_id == reference_id  # the same run key
    expected, found = reference_store.predictions(reference_id), store.predictions(run_id)
    assert len(found) == LIMIT
    pd.testing.assert_frame_equal(found, expected)
    expected_ids, expected_logits = reference_store.logits(reference_id)
    found_ids, found_logits = store.logits(run_id)
    assert found_ids == expected_ids and np.array_equal(found_logits, expected_logits)
    counts = store.query("SELECT count(*) AS n, count(DISTINCT image_id) AS distinct_ids FROM predictions")
    assert counts["n"][0] == counts["distinct_ids"][0] == LIMIT  # nothing duplicated


@pytest.fixture
def shards(tmp_path, monkeypatch) -> Path:
    """A cache folder of the test's own, so each test's shard folder starts empty."""
    monkeypatch.setenv("BAE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_ray_local_equals_the_single_process_run(ray_local, cue_copy, reference, shards, tmp_path):
    root, broken_id = cue_copy
    store, updates = ResultsStore(tmp_path / "results.duckdb"), []
    summaries = evaluate_ray(["effnet_lite0"], "cue-conflict", root, ray="local", limit=LIMIT, seed=SEED,
                             batch_size=BATCH, store=store, progress=updates.append, say=_quiet)
    assert [(s.status, s.written) for s in summaries] == [("done", LIMIT)]
    _assert_same_rows(store, reference, summaries[0].run_id)
    rows = store.predictions(summaries[0].run_id).set_index("image_id")
    # the unreadable image is an error row with the decoder's message, every other image a prediction
    assert isinstance(rows.loc[broken_id, "error"], str) and rows.loc[broken_id, "error"]
    assert rows.drop(index=broken_id)["error"].isna().all() and pd.isna(rows.loc[broken_id, "pred"])
    assert updates[-1].done == updates[-1].total == LIMIT and updates[-1].images_per_s > 0
    runs = store.runs()
    assert list(runs["status"]) == ["done"] and list(runs["device"]) == ["ray"]
    assert not list((shards / "ray-runs").glob("*/block-*"))  # folded, then removed once the run is done


def test_ray_local_tensor_resize_equals_the_single_process_tensor_run(ray_local, cue_copy, shards, tmp_path):
    """`--resize tensor` on Ray: decode tasks send decoded images, actors crop them with the same per-batch
    step; the run key and every row and logit equal the single-process `--resize tensor` run."""
    root, broken_id = cue_copy
    single = ResultsStore(tmp_path / "single.duckdb")
    expected = evaluate(["effnet_lite0"], "cue-conflict", root, resize="tensor", limit=LIMIT, seed=SEED,
                        batch_size=BATCH, store=single, say=_quiet)[0]
    store = ResultsStore(tmp_path / "results.duckdb")
    summaries = evaluate_ray(["effnet_lite0"], "cue-conflict", root, ray="local", resize="tensor", limit=LIMIT,
                             seed=SEED, batch_size=BATCH, store=store, say=_quiet)
    assert [(s.status, s.written) for s in summaries] == [("done", LIMIT)]
    _assert_same_rows(store, (single, expected.run_id), summaries[0].run_id)
    assert isinstance(store.predictions(expected.run_id).set_index("image_id").loc[broken_id, "error"], str)


def _model_actor_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "_ModelActor" in command and "MapWorker" in command:
                pids.append(int(entry.name))
    return pids


def test_a_worker_killed_mid_run_has_its_block_redone_without_duplicates(ray_local, cue_copy, reference, shards,
                                                                           tmp_path):
    """SIGKILL the model actor's process once the first shard is on disk (its next block is in flight):
    Ray restarts the actor, the lost block is computed again, and the store equals the reference."""
    root, _ = cue_copy
    store = ResultsStore(tmp_path / "results.duckdb")
    killed: list[int] = []

    def kill_after_first_shard():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            if list((shards / "ray-runs").glob("*/block-*.parquet")):
                for pid in _model_actor_pids():
                    os.kill(pid, signal.SIGKILL)  # the actor process this test's Ray started
                    killed.append(pid)
            time.sleep(0.05)

    watcher = threading.Thread(target=kill_after_first_shard, daemon=True)
    watcher.start()
    summaries = evaluate_ray(["effnet_lite0"], "cue-conflict", root, ray="local", limit=LIMIT, seed=SEED,
                             batch_size=BATCH, store=store, fold_every_s=0.0, say=_quiet)
    watcher.join(timeout=1)
    assert killed, "the model actor was never found to kill"
    assert summaries[0].status == "done"
    _assert_same_rows(store, reference, summaries[0].run_id)


def test_a_stopped_driver_resumes_with_only_the_missing_blocks(ray_local, cue_copy, reference, shards, tmp_path):
    root, _ = cue_copy
    store, messages = ResultsStore(tmp_path / "results.duckdb"), []
    first = evaluate_ray(["effnet_lite0"], "cue-conflict", root, ray="local", limit=LIMIT, seed=SEED,
                         batch_size=BATCH, store=store, fold_every_s=0.0, should_stop=lambda: True, say=_quiet)
    assert first[0].status == "stopped" and 0 < first[0].written < LIMIT
    stored = len(store.predictions(first[0].run_id))
    assert stored == first[0].written and stored % BATCH == 0  # whole blocks only
    second = evaluate_ray(["effnet_lite0"], "cue-conflict", root, ray="local", limit=LIMIT, seed=SEED,
                          batch_size=BATCH, store=store, say=messages.append)
    assert second[0].status == "done" and second[0].written == LIMIT - stored  # only the missing blocks
    assert any("resuming" in message for message in messages)
    _assert_same_rows(store, reference, second[0].run_id)


def test_folding_the_same_shard_twice_changes_nothing(tmp_path, rng):
    """A shard holds what `write_blocks` stores: folding it equals writing the block directly, and a
    second fold (or a shard overlapping stored rows) adds nothing."""
    import pyarrow.parquet as pq

    n = 40
    logits = rng.normal(size=(n, 1000)).astype(np.float32)
    from core.run.rows import result_columns

    columns = {"run_id": ["r"] * n, "image_id": [f"img{i:03d}" for i in range(n)], "path": [f"/d/{i}" for i in range(n)],
               "label": rng.integers(0, 1000, n).astype(np.int32), "labels": [[] for _ in range(n)],
               "condition": [None] * n, "shape": [None] * n, "texture": [None] * n}
    columns.update(result_columns(logits, labels=columns["label"]))
    block = RowBlock(columns, logits.astype(np.float16))
    failed = RowBlock({"run_id": ["r"], "image_id": ["broken"], "path": ["/d/broken"], "label": np.array([3], np.int32),
                       "labels": [[]], "condition": [None], "shape": [None], "texture": [None],
                       "error": ["could not be decoded"]})
    shard = tmp_path / "block.parquet"
    pq.write_table(shard_table([block, failed]), shard)

    direct = ResultsStore(tmp_path / "direct.duckdb")
    direct.write_blocks([block, failed])
    folded = ResultsStore(tmp_path / "folded.duckdb")
    assert folded.fold_shards([shard]) == n + 1
    before = (folded.predictions("r"), folded.logits("r"))
    assert folded.fold_shards([shard]) == 0
    assert folded.fold_shards([shard, shard]) == 0
    after = (folded.predictions("r"), folded.logits("r"))
    pd.testing.assert_frame_equal(after[0], before[0])
    assert after[1][0] == before[1][0] and np.array_equal(after[1][1], before[1][1])
    pd.testing.assert_frame_equal(after[0], direct.predictions("r"))
    assert np.array_equal(after[1][1], direct.logits("r")[1]) and len(after[1][0]) == n  # no logits for the error row
    # one logits file per shard, rewritten (not added to) by a second fold
    assert sum(pq.read_metadata(path).num_rows for path in folded._logit_files("r")) == n


def test_a_dataset_folder_the_workers_cannot_read_fails_fast(ray_local, cue_copy, shards, tmp_path, monkeypatch):
    """The driver lists the folder, then it disappears for the workers (as a path that exists only on
    the driver's machine would): the run stops before any model loads, naming the folder and the fix."""
    root, _ = cue_copy
    local = tmp_path / "only-here" / "cue-conflict"
    shutil.copytree(root, local, symlinks=True)
    from core.run import evaluation

    real_plan_items = evaluation.plan_items

    def listed_then_hidden(*args, **kwargs):
        planned = real_plan_items(*args, **kwargs)
        local.rename(local.with_name("moved"))
        return planned

    monkeypatch.setattr(evaluation, "plan_items", listed_then_hidden)  # evaluate_ray imports it when called
    store = ResultsStore(tmp_path / "results.duckdb")
    began = time.perf_counter()
    with pytest.raises(DatasetNotShared) as raised:
        evaluate_ray(["effnet_lite0"], "cue-conflict", local, ray="local", limit=64, seed=SEED, batch_size=BATCH,
                     store=store, say=_quiet)
    message = str(raised.value)
    assert str(local) in message and "every machine" in message and "Nothing was computed" in message
    assert time.perf_counter() - began < 120
    assert store.query("SELECT count(*) AS n FROM predictions")["n"][0] == 0
    assert list(store.runs()["status"]) == ["failed"]


def test_weights_missing_on_a_worker_is_one_clear_message(ray_local, cue_copy, shards, tmp_path, monkeypatch,
                                                          tiny_models_toml):
    """The driver finds the checkpoint, the workers do not (as on a node without the file): the run
    ends with the loader's message, not a hang or a Ray traceback."""
    from core.run import evaluation

    root, _ = cue_copy
    gone = tmp_path / "elsewhere.pth"
    real_plan_run = evaluation.plan_run

    def planned_elsewhere(model, *args, **kwargs):
        plan = real_plan_run(model, *args, **kwargs)
        moved = dataclasses.replace(plan.model, spec=dataclasses.replace(plan.spec, source=str(gone)))
        return dataclasses.replace(plan, model=moved)

    monkeypatch.setattr(evaluation, "plan_run", planned_elsewhere)
    store = ResultsStore(tmp_path / "results.duckdb")
    with pytest.raises(UserError) as raised:
        evaluate_ray(["tiny_convnext"], "cue-conflict", root, ray="local", limit=32, seed=SEED, batch_size=BATCH,
                     store=store, say=_quiet)
    message = str(raised.value)
    assert isinstance(raised.value, WeightsUnavailable)
    assert "tiny_convnext" in message and str(gone) in message and "Traceback" not in message
    assert list(store.runs()["status"]) == ["failed"]


def test_the_command_line_runs_on_ray(ray_local, cue_copy, shards, tmp_path, monkeypatch, capsys):
    """`python -m core evaluate --ray local` (here reusing the module's Ray) stores its sample and says so."""
    from core.cli import main

    root, _ = cue_copy
    monkeypatch.setenv("BAE_RESULTS_DB", str(tmp_path / "results.duckdb"))
    code = main(["evaluate", "--models", "effnet_lite0", "--benchmark", "cue-conflict", "--data", str(root),
                 "--limit", "32", "--seed", "1", "--ray", "local"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "effnet_lite0: done, 32 new rows" in captured.out and "on Ray (2 CPU, 0 GPU)" in captured.err
    runs = ResultsStore(tmp_path / "results.duckdb").runs()
    assert list(runs["done"]) == [32] and list(runs["status"]) == ["done"]


def test_an_address_where_no_cluster_answers_is_a_clear_message_in_seconds(monkeypatch):
    ray = pytest.importorskip("ray")
    from core.run.distributed import RayUnavailable, connect

    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a fresh process
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    began = time.perf_counter()
    with pytest.raises(RayUnavailable) as raised:
        connect(f"127.0.0.1:{port}")
    assert f"127.0.0.1:{port}" in str(raised.value) and "ray start --head" in str(raised.value)
    assert time.perf_counter() - began < 30
    with pytest.raises(RayUnavailable, match="HOST:PORT"):
        connect("not-an-address")
