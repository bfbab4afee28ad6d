"""views._reads on a real results store: reads keyed by run, a running run's new rows seen, one compute per key."""

from __future__ import annotations

import threading
import time

import pytest

from core.store import ResultsStore, RunInfo
from views import _reads as reads


def _rows(run_id: str, start: int, stop: int, *, correct: bool = True) -> list[dict]:
    return [{"run_id": run_id, "image_id": f"a/{i:04d}.png", "label": i, "labels": [], "pred": i if correct else 0,
             "top5": [i, 1, 2, 3, 4], "top5_prob": [0.5, 0.2, 0.1, 0.1, 0.1], "conf": 0.5, "correct": correct}
            for i in range(start, stop)]


@pytest.fixture
def store(tmp_path, monkeypatch):
    """Run A finished (4 images, all correct); run B running (2 images so far, all wrong)."""
    monkeypatch.setenv("BAE_RESULTS_DB", str(tmp_path / "results.duckdb"))
    store = ResultsStore(tmp_path / "results.duckdb")
    for run_id, n in (("A", 4), ("B", 10)):
        store.start_run(RunInfo(run_id, "tiny", "cue-conflict", "", "paper", n))
    store.write_batch(_rows("A", 0, 4))
    store.finish_run("A", "done")
    store.write_batch(_rows("B", 0, 2, correct=False))
    reads._snapshot().refresh_s = 0.0  # the app waits up to 3 s before it reads a running run's list again
    return store


def test_a_commit_to_run_b_leaves_run_a_cached_and_a_view_of_b_sees_new_rows(store):
    a = reads.predictions(("A",), ("image_id", "pred"))
    both = reads.accuracy_counts(("A", "B"), False, False)
    assert len(a) == 4 and dict(zip(both["run_id"], both["n"])) == {"A": 4, "B": 2}
    computed = reads._predictions.cache.computed
    key_a = reads.keys_of(["A"])[0]
    time.sleep(0.01)
    store.write_batch(_rows("B", 2, 5, correct=False))  # the evaluation commits to B
    assert reads.keys_of(["A"])[0] == key_a and reads.keys_of(["B"])[0][2] == 5
    again = reads.predictions(("A",), ("image_id", "pred"))
    assert reads._predictions.cache.computed == computed  # run A's rows: from the cache, not read again
    assert again.equals(a)
    assert ((key_a, False, False)) in reads._COUNTS  # A's count stays cached beside B's new one
    both = reads.accuracy_counts(("A", "B"), False, False)
    assert dict(zip(both["run_id"], both["n"])) == {"A": 4, "B": 5}  # the view including B sees its new rows
    assert dict(zip(both["run_id"], both["correct"])) == {"A": 4, "B": 0}
    assert len(reads.predictions(("B",), ("image_id",))) == 5


def test_a_finished_run_is_keyed_apart_from_its_running_self(store):
    store.write_batch(_rows("B", 2, 10, correct=False))
    running = reads.keys_of(["B"])[0]
    store.finish_run("B", "done")
    done = reads.keys_of(["B"])[0]
    assert running[:3] == ("B", "running", 10) and done[:3] == ("B", "done", 10)
    assert [key[0] for key in reads.done_runs_key()] == ["A", "B"]


def test_two_sessions_missing_one_key_read_it_once(store, monkeypatch):
    calls = []
    original = ResultsStore.query

    def slow_query(self, sql, parameters=None):
        if "FROM predictions WHERE run_id IN" in sql:
            calls.append(sql)
            time.sleep(0.3)  # the second session arrives while the first reads
        return original(self, sql, parameters)

    monkeypatch.setattr(ResultsStore, "query", slow_query)
    results, barrier = [], threading.Barrier(2)

    def session():
        barrier.wait()
        results.append(reads.predictions(("A",), ("image_id", "label")))

    threads = [threading.Thread(target=session) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(results) == 2 and all(len(frame) == 4 for frame in results)
    results[0]["label"] = -1  # each session gets its own copy
    assert sorted(results[1]["label"]) == [0, 1, 2, 3]


def test_a_thumbnail_is_encoded_once_per_file_version_and_bad_files_give_none(tmp_path):
    import os

    from PIL import Image

    path = tmp_path / "photo.png"
    Image.new("RGB", (640, 320), (200, 30, 30)).save(path)
    before = reads._THUMBNAILS.computed
    first = reads.thumbnail(str(path))
    assert reads.thumbnail(str(path)) is first and reads._THUMBNAILS.computed == before + 1
    with Image.open(__import__("io").BytesIO(first)) as small:
        assert small.format == "JPEG" and small.size == (160, 80)
        assert abs(small.getpixel((80, 40))[0] - 200) < 8  # the image, not a blank
    Image.new("RGB", (320, 320), (10, 10, 240)).save(path)  # the file changed: a new thumbnail
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    second = reads.thumbnail(str(path))
    with Image.open(__import__("io").BytesIO(second)) as small:
        assert small.size == (160, 160) and small.getpixel((80, 80))[2] > 200
    (tmp_path / "broken.png").write_bytes(b"not an image")
    assert reads.thumbnail(str(tmp_path / "broken.png")) is None
    assert reads.thumbnail(str(tmp_path / "gone.png")) is None


def test_stored_paths_take_the_first_run_that_stored_each_image(store):
    rows = _rows("C", 0, 3)
    for row in rows:
        row["path"] = f"/data/{row['image_id']}"
    store.start_run(RunInfo("C", "tiny", "cue-conflict", "", "paper", 3))
    store.write_batch(rows)
    store.finish_run("C", "done")
    found = reads.stored_paths(("A", "C"), ("a/0000.png", "a/0002.png", "a/0009.png"))
    assert found == {"a/0000.png": "/data/a/0000.png", "a/0002.png": "/data/a/0002.png"}


def test_a_finished_cue_conflict_run_recomputes_only_the_shape_bias_evidence(store, monkeypatch):
    from core.analysis import evidence

    computed = []
    real = evidence.collect_section

    def counting(store_, name, used, **kwargs):
        computed.append(name)
        return real(store_, name, used, **kwargs)

    monkeypatch.setattr(evidence, "collect_section", counting)
    first = reads.findings_results(reads.findings_key())
    assert sorted(computed) == sorted(evidence.SECTIONS)
    assert next(r for r in first if r.claim.key == "shape_bias").verdict == "not measured"

    computed.clear()
    rows = [{**row, "shape": "cat", "texture": "dog", "decision16": "cat"} for row in _rows("V", 0, 4)]
    store.start_run(RunInfo("V", "vit_sup", "cue-conflict", "", "paper", 4))
    store.write_batch(rows)
    store.finish_run("V", "done")
    results = reads.findings_results(reads.findings_key())
    assert computed == ["shape_bias"]  # val, robustness, PUG, probes and invariance came from the cache
    shape = next(r for r in results if r.claim.key == "shape_bias")
    assert list(shape.runs["run_id"]) == ["V"]
    assert reads.findings_results(reads.findings_key()) is results and computed == ["shape_bias"]
