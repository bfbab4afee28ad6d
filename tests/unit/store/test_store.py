"""core.store: schema checks, idempotent batches, old `cancelled` runs read as `stopped`, resuming after SIGKILL,
readers during writes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.store import ResultsStore, RunInfo, SchemaMismatch
from tests.conftest import shared_data

ROOT = Path(__file__).resolve().parents[3]


def _info(run_id: str = "r1", n: int = 2) -> RunInfo:
    return RunInfo(run_id, "tiny", "cue-conflict", "", "paper", n)


def test_batches_are_idempotent_and_logits_round_trip(tmp_path):
    store = ResultsStore(tmp_path / "results.duckdb")
    assert store.start_run(_info()) == "new"
    rows = [{"run_id": "r1", "image_id": f"a/{i}.png", "label": i, "labels": [i], "pred": i, "top5": [i, 1, 2, 3, 4],
             "top5_prob": [0.5, 0.2, 0.1, 0.1, 0.1], "conf": 0.5, "correct": True} for i in range(2)]
    logits = np.arange(2 * 1000, dtype=np.float32).reshape(2, 1000) / 100
    blobs = [("r1", f"a/{i}.png", logits[i].astype(np.float16).tobytes()) for i in range(2)]
    store.write_batch(rows, blobs)
    store.write_batch(rows, blobs)  # a retried batch duplicates nothing
    assert len(store.predictions("r1")) == 2
    ids, stored = store.logits("r1")
    assert ids == ["a/0.png", "a/1.png"]
    np.testing.assert_allclose(stored, logits.astype(np.float16).astype(np.float32))
    store.finish_run("r1", "done", images_per_s=12.5)
    run = store.runs().iloc[0]
    assert (run.status, run.done, run.accuracy, run.images_per_s) == ("done", 2, 1.0, 12.5)
    assert store.start_run(_info()) == "done"


def test_a_run_an_older_version_marked_cancelled_reads_as_stopped_and_resumes(tmp_path):
    import duckdb

    store = ResultsStore(tmp_path / "results.duckdb")
    store.start_run(_info("r1", 4))
    store.write_batch([{"run_id": "r1", "image_id": f"a/{i}.png", "label": 0, "pred": 0, "correct": True}
                       for i in range(2)])
    with duckdb.connect(str(store.path)) as connection:  # what a user's stop wrote before issue 17
        connection.execute("UPDATE runs SET status = 'cancelled' WHERE run_id = 'r1'")
    assert list(store.runs().status) == ["stopped"] and store.run_status("r1") == "stopped"
    assert store.start_run(_info("r1", 4)) == "stopped"  # resumed: running again, its rows kept
    assert store.run_status("r1") == "running" and store.done_image_ids("r1") == {"a/0.png", "a/1.png"}


def _block(run_id: str, ids: list[str], logits: np.ndarray):
    from core.store import RowBlock

    n = len(ids)
    return RowBlock({"run_id": [run_id] * n, "image_id": ids, "label": np.zeros(n, dtype=np.int32),
                     "pred": logits.argmax(axis=1).astype(np.int32), "correct": logits.argmax(axis=1) == 0}, logits)


def test_logits_live_in_parquet_files_and_only_committed_rows_count(tmp_path):
    import duckdb
    import pyarrow as pa

    store = ResultsStore(tmp_path / "results.duckdb")
    store.start_run(_info("r1", 4))
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 1000)).astype(np.float16)
    ids = [f"img/{i}.png" for i in range(4)]
    store.write_blocks([_block("r1", ids[:2], logits[:2])])
    store.write_blocks([_block("r1", ids[2:3], logits[2:3])])
    assert len(list(store.logits_root.rglob("*.parquet"))) == 2
    # a crash after the logits file but before the commit: the file exists, its row does not
    store._write_logit_files(pa.table({"run_id": ["r1"], "image_id": [ids[3]], "logits": [logits[3].tobytes()]}))
    # a resumed run computing image 1 again writes its logits a second time
    store._write_logit_files(pa.table({"run_id": ["r1"], "image_id": [ids[1]], "logits": [logits[1].tobytes()]}))
    # a store written before logits moved out of DuckDB keeps them in its `logits` table
    store.start_run(_info("old", 1))
    store.write_blocks([_block("old", ["x.png"], logits[:1]).__class__(
        {"run_id": ["old"], "image_id": ["x.png"], "label": np.zeros(1, dtype=np.int32)}, None)])
    with duckdb.connect(str(store.path)) as connection:
        connection.execute("INSERT INTO logits VALUES ('old', 'x.png', ?)", [logits[0].tobytes()])

    found_ids, found = store.logits("r1")
    assert found_ids == ids[:3]  # the uncommitted image is left out, the recomputed one counted once
    np.testing.assert_array_equal(found, logits[:3].astype(np.float32))
    old_ids, old = store.logits("old")
    assert old_ids == ["x.png"] and np.array_equal(old[0], logits[0].astype(np.float32))

    store._compact_logits("r1", max_files=1)  # what finishing a run with many files does
    assert len(store._logit_files("r1")) == 1
    assert store.logits("r1")[0] == ids[:3]
    np.testing.assert_array_equal(store.logits("r1")[1], logits[:3].astype(np.float32))
    store.delete_run("r1")
    assert store.logits("r1")[0] == [] and not store._logits_dir("r1").exists()


def test_schema_version_is_checked(tmp_path):
    path = tmp_path / "results.duckdb"
    ResultsStore(path).start_run(_info())
    import duckdb

    with duckdb.connect(str(path)) as connection:
        connection.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(SchemaMismatch, match="schema version 999"):
        ResultsStore(path).runs()
    with pytest.raises(SchemaMismatch, match="Move the file aside"):
        ResultsStore(path).start_run(_info("r2"))


def test_empty_store_reads_as_empty(tmp_path):
    assert ResultsStore(tmp_path / "none.duckdb").runs().empty


def _evaluate(db: Path, limit: int, model: str = "tiny_convnext") -> subprocess.Popen:
    cue = shared_data("cue-conflict")
    command = [sys.executable, "-m", "core", "evaluate", "--models", model, "--benchmark", "cue-conflict",
               "--data", str(cue), "--limit", str(limit), "--seed", "3", "--batch-size", "8", "--workers", "0"]
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, "BAE_RESULTS_DB": str(db)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _count(store: ResultsStore) -> int:
    frame = store.query("SELECT count(*) AS n FROM predictions")
    return 0 if frame.empty else int(frame.n[0])


def _rows(store: ResultsStore):
    frame = store.query("SELECT image_id, pred, top5, top5_prob, decision16, probs16 FROM predictions ORDER BY image_id")
    (run_id,) = store.runs()["run_id"]
    return frame, store.logits(run_id)


def test_sigkill_mid_run_then_resume_equals_an_uninterrupted_run(tmp_path, tiny_models_toml):
    limit = 480
    killed_db, clean_db = tmp_path / "killed.duckdb", tmp_path / "clean.duckdb"
    process = _evaluate(killed_db, limit)
    store = ResultsStore(killed_db, timeout_s=120)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not killed_db.exists() or _count(store) < 16):
        time.sleep(0.02)
    process.kill()
    process.wait()
    at_kill = _count(store)
    assert 16 <= at_kill < limit, f"kill came too late or never ({at_kill} rows)"
    assert at_kill % 8 == 0  # whole batches only
    resumed = _evaluate(killed_db, limit)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resuming" in err

    clean = _evaluate(clean_db, limit)
    out, err = clean.communicate(timeout=300)
    assert clean.returncode == 0, err
    (a, a_logits), (b, b_logits) = _rows(store), _rows(ResultsStore(clean_db))
    assert len(a) == len(b) == limit
    assert list(a.image_id) == list(b.image_id)
    assert list(a.pred) == list(b.pred) and list(a.decision16) == list(b.decision16)
    np.testing.assert_allclose(np.stack(a.top5_prob), np.stack(b.top5_prob), atol=1e-5)
    assert a_logits[0] == b_logits[0] == list(a.image_id)  # every committed row has its logits, once
    np.testing.assert_allclose(a_logits[1], b_logits[1], atol=1e-6)
    runs = store.runs()
    assert list(runs.status) == ["done"] and int(runs.done[0]) == limit


def test_a_reader_during_a_write_sees_whole_batches_only(tmp_path, tiny_models_toml):
    db, limit = tmp_path / "live.duckdb", 240
    process = _evaluate(db, limit, model="tiny_vit")
    reader = ResultsStore(db, timeout_s=60)
    seen = []
    while process.poll() is None:
        if db.exists():
            seen.append(_count(reader))  # never raises: retries while the writer holds the file
            reader.runs()
        time.sleep(0.01)
    assert process.returncode == 0, process.stderr.read()
    seen.append(_count(reader))
    assert seen[-1] == limit
    assert all(count % 8 == 0 for count in seen), sorted(set(seen))
    assert len(set(seen)) > 2, "the reader never saw the run in progress"


def test_a_second_writer_waits_and_says_so(tmp_path):
    store = ResultsStore(tmp_path / "results.duckdb")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from core.store import ResultsStore; s = ResultsStore(sys.argv[1])\n"
        "with s.writer_lock():\n    print('held', flush=True); time.sleep(2)"), str(store.path)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    messages = []
    began = time.monotonic()
    with store.writer_lock(on_wait=messages.append):
        waited = time.monotonic() - began
    holder.wait()
    assert messages and "waiting" in messages[0] and f"pid {holder.pid}" in messages[0]
    assert waited > 0.5


def test_pins_keep_order_notes_and_survive_a_new_store_object(tmp_path):
    path = tmp_path / "results.duckdb"
    store = ResultsStore(path)
    assert store.pins().empty  # no file yet
    ResultsStore(path).start_run(_info())  # a store written before any pin
    assert ResultsStore(path).pins().empty
    first = store.add_pin("robustness", "Robustness", {"robustness_models": ["vit_sup"]}, chart='{"mark": "bar"}',
                          table_csv="a,b\n1,2\n", provenance={"runs": ["r1"]}, note="first")
    second = store.add_pin("calibration", "Calibration", {"calibration_bins": 10})
    third = store.add_pin("pug", "PUG", {})
    reopened = ResultsStore(path)  # a restart: nothing but the file
    assert list(reopened.pins()["pin_id"]) == [first, second, third]
    reopened.move_pin(third, -1)
    reopened.move_pin(first, -1)  # already first: no-op
    assert list(reopened.pins()["pin_id"]) == [first, third, second]
    reopened.update_pin_note(second, "edited")
    reopened.delete_pin(first)
    pins = ResultsStore(path).pins()
    assert list(pins["pin_id"]) == [third, second]
    assert pins.set_index("pin_id").at[second, "note"] == "edited"
    assert '"calibration_bins": 10' in pins.set_index("pin_id").at[second, "state"]
