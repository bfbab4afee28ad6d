"""core.store aggregate readers against the same numbers computed in pandas from the rows."""

from __future__ import annotations

import pandas as pd
import pytest

from core.store import ResultsStore, RunInfo


def test_accuracy_counts_match_pandas(tmp_path, rng):
    store = ResultsStore(tmp_path / "results.duckdb")
    rows = []
    for run_id in ("a", "b"):
        store.start_run(RunInfo(run_id, "m", "imagenet-c", "", "paper", 300))
        for i in range(300):
            label, pred = int(rng.integers(0, 5)), int(rng.integers(0, 5))
            rows.append({"run_id": run_id, "image_id": f"{i}.JPEG", "label": label, "pred": pred,
                         "labels": [int(v) for v in rng.choice(5, int(rng.integers(0, 3)), replace=False)],
                         "condition": f"fog/{i % 3}", "correct": pred == label,
                         "error": "unreadable" if i % 50 == 0 else None})
    store.write_batch(rows)
    frame = pd.concat([store.predictions("a"), store.predictions("b")], ignore_index=True)
    readable = frame[frame["error"].isna()]
    counts = store.accuracy_counts(["a", "b"], by_condition=True).set_index(["run_id", "condition"])
    expected = readable.groupby(["run_id", "condition"])["correct"].agg(["size", "sum"])
    assert counts["n"].tolist() == expected["size"].tolist() and counts["correct"].tolist() == expected["sum"].tolist()
    real = store.accuracy_counts(None, real=True).set_index("run_id")
    with_real = readable[readable["labels"].map(len) > 0]
    hits = [pred in set(labels) for pred, labels in zip(with_real["pred"], with_real["labels"])]
    expected_real = with_real.assign(hit=hits).groupby("run_id")["hit"].agg(["size", "sum"])
    assert real["n"].tolist() == expected_real["size"].tolist()
    assert real["correct"].tolist() == expected_real["sum"].tolist()
    assert store.accuracy_counts([]).empty and list(store.accuracy_counts(["a"])["n"]) == [294]
    assert store.calibration_columns("a").empty  # no logits, no derived columns: nothing to calibrate


def _reference_runs(store: ResultsStore) -> pd.DataFrame:
    """The runs list as counted from every stored row (the query `runs()` ran before `run_totals`)."""
    return store.query("""
        SELECT r.* REPLACE (CASE status WHEN 'cancelled' THEN 'stopped' ELSE status END AS status),
               coalesce(p.done, 0) AS done, p.accuracy, coalesce(p.errors, 0) AS errors
        FROM runs r LEFT JOIN (
            SELECT run_id, count(*) AS done, avg(CASE WHEN error IS NULL THEN correct::DOUBLE END) AS accuracy,
                   count(error) AS errors
            FROM predictions GROUP BY run_id) p USING (run_id)
        ORDER BY r.started_at""")


def _rows(run_id: str, start: int, n: int, rng) -> list[dict]:
    return [{"run_id": run_id, "image_id": f"{i}.JPEG", "label": 1, "pred": int(rng.integers(0, 3)),
             "correct": None if i % 7 == 0 else bool(rng.integers(0, 2)),
             "error": "unreadable" if i % 11 == 0 else None} for i in range(start, start + n)]


def test_runs_read_finished_runs_totals_and_count_the_others_as_every_row_does(tmp_path, rng):
    import duckdb

    store = ResultsStore(tmp_path / "results.duckdb")
    for run_id in ("done", "running", "empty", "late", "again"):
        store.start_run(RunInfo(run_id, "m", "imagenet-val", "", "paper", 100))
    store.write_batch(_rows("done", 0, 60, rng) + _rows("running", 0, 30, rng) + _rows("late", 0, 20, rng)
                      + _rows("again", 0, 10, rng))
    for run_id in ("done", "empty", "late", "again"):
        store.finish_run(run_id, "done")
    with duckdb.connect(str(store.path), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM run_totals").fetchone()[0] == 4
    pd.testing.assert_frame_equal(store.runs(), _reference_runs(store))

    store.write_batch(_rows("late", 20, 5, rng))  # rows added to a finished run: its totals are dropped
    store.start_run(RunInfo("again", "m", "imagenet-val", "", "paper", 100))  # finished before: stays done
    with duckdb.connect(str(store.path)) as connection:  # what an older version does: re-finish, no totals
        connection.execute("UPDATE runs SET finished_at = now() + INTERVAL 1 SECOND WHERE run_id = 'again'")
    pd.testing.assert_frame_equal(store.runs(), _reference_runs(store))
    assert store.runs().set_index("run_id").loc["late", "done"] == 25

    store.delete_run("done")
    pd.testing.assert_frame_equal(store.runs(), _reference_runs(store))
    with duckdb.connect(str(store.path)) as connection:
        assert connection.execute("SELECT count(*) FROM run_totals WHERE run_id = 'done'").fetchone()[0] == 0


def test_a_store_written_before_run_totals_reads_alike_and_a_writer_adds_them(tmp_path, rng):
    import duckdb

    store = ResultsStore(tmp_path / "results.duckdb")
    for run_id in ("a", "b"):
        store.start_run(RunInfo(run_id, "m", "imagenet-val", "", "paper", 100))
        store.write_batch(_rows(run_id, 0, 40, rng))
        store.finish_run(run_id, "done")
    with duckdb.connect(str(store.path)) as connection:
        connection.execute("DROP TABLE run_totals")
    pd.testing.assert_frame_equal(store.runs(), _reference_runs(store))
    said = []
    assert ResultsStore(store.path).migrate(say=said.append) == 0  # as any writer of this version: the totals
    assert "nothing to do" in said[0] and "row counts of 2 and the packed outcomes of 0" in said[1]
    with duckdb.connect(str(store.path), read_only=True) as connection:
        stored = connection.execute("SELECT run_id, done FROM run_totals ORDER BY run_id").fetchall()
    assert stored == [("a", 40), ("b", 40)]
    pd.testing.assert_frame_equal(store.runs(), _reference_runs(store))


def test_rows_by_file_name_joins_on_the_last_part_of_the_id_in_stored_order(tmp_path):
    store = ResultsStore(tmp_path / "results.duckdb")
    store.start_run(RunInfo("r", "m", "imagenet-val", "", "paper", 5))
    ids = ["n1/c.JPEG", "a.JPEG", "n2/b.JPEG", "x/unknown.JPEG", "n3/d.JPEG"]
    store.write_batch([{"run_id": "r", "image_id": image_id, "path": None if i == 0 else f"/data/{image_id}",
                        "pred": i, "error": "unreadable" if image_id.endswith("d.JPEG") else None}
                       for i, image_id in enumerate(ids)])
    names = ["a.JPEG", "b.JPEG", "c.JPEG", "d.JPEG"]
    (found,) = store.rows_by_file_name(["r"], pd.Series(names), ("pred", "path"))
    stored = store.query("SELECT image_id, path, pred FROM predictions WHERE error IS NULL AND image_id LIKE '%.JPEG' "
                         "AND image_id NOT LIKE '%unknown%'")  # as a plain scan gives them: the stored order
    assert [names[i] for i in found["match"]] == [image_id.split("/")[-1] for image_id in stored["image_id"]]
    assert found["pred"].tolist() == stored["pred"].tolist()
    assert found["path"].tolist() == [None if pd.isna(path) else path for path in stored["path"]]
    assert sorted(found["path"].tolist(), key=str) == ["/data/a.JPEG", "/data/n2/b.JPEG", None]
    assert [len(part["match"]) for part in store.rows_by_file_name(["r", "other"], ["a.JPEG"])] == [1, 0]
    with pytest.raises(ValueError, match="image_id"):
        store.rows_by_file_name(["r"], ["a.JPEG"], ("image_id",))
    assert len(ResultsStore(tmp_path / "none.duckdb").rows_by_file_name(["r"], ["a.JPEG"])[0]["match"]) == 0


def test_keyed_columns_give_each_image_one_key_in_every_run_and_its_name_position_in_image_order(tmp_path):
    """`keyed_columns` (the Findings' val read) against a plain scan of the same rows: image-id order (whatever order
    they were written in: here reversed for one run), readable rows only, the same key for the same id in two runs (hash of the id as DuckDB computes it), the file name's position
    in `names` (−1 where none)."""
    store = ResultsStore(tmp_path / "results.duckdb")
    ids = ["n1/c.JPEG", "a.JPEG", "n2/b.JPEG", "x/unknown.JPEG", "n3/d.JPEG"]
    for run_id, order in (("r", ids), ("s", ids[::-1])):
        store.start_run(RunInfo(run_id, "m", "imagenet-val", "", "paper", 5))
        store.write_batch([{"run_id": run_id, "image_id": image_id, "pred": i, "conf": i / 10, "correct": i % 2 == 0,
                            "error": "unreadable" if run_id == "r" and image_id.endswith("d.JPEG") else None}
                           for i, image_id in enumerate(order)])
    names = ["a.JPEG", "b.JPEG", "c.JPEG", "d.JPEG"]
    r, s, missing = store.keyed_columns(["r", "s", "none"], ("pred", "conf", "correct"), pd.Series(names))
    for found, run_id in ((r, "r"), (s, "s")):
        stored = store.prediction_columns([run_id], ("image_id", "pred", "conf", "correct"), readable_only=True)
        stored = stored.sort_values("image_id", ignore_index=True)  # sorted here in pandas, by the ids themselves
        assert found["pred"].tolist() == stored["pred"].tolist()  # image-id order, the unreadable row left out
        assert found["conf"].tolist() == stored["conf"].tolist()
        assert found["correct"].tolist() == stored["correct"].tolist()
        by_name = {name: position for position, name in enumerate(names)}
        assert found["match"].tolist() == [by_name.get(i.split("/")[-1], -1) for i in stored["image_id"]]
        hashes = store.query(f"SELECT hash(image_id) AS h FROM predictions WHERE run_id = '{run_id}' "
                             "AND error IS NULL ORDER BY image_id")["h"]
        assert found["key"].tolist() == hashes.tolist()
    assert len(missing) == 0
    common = set(r["key"]) & set(s["key"])
    assert len(common) == 4 and len(set(s["key"])) == 5  # the same ids, the same keys; each id its own key
    with pytest.raises(ValueError, match="distinct"):
        store.keyed_columns(["r"], ("pred",), ["a.JPEG", "a.JPEG"])
    with pytest.raises(ValueError, match="image_id"):
        store.keyed_columns(["r"], ("image_id",), names)
    assert len(ResultsStore(tmp_path / "none.duckdb").keyed_columns(["r"], ("pred",), names)[0]) == 0


def test_threads_opening_the_store_at_once_can_all_register_arrow_tables(tmp_path):
    """The Findings read the store from several threads at once; DuckDB's Python client could hand a thread the
    database before its Arrow scan was in place, and `register` (the val read's wanted names) then failed: 24 rounds
    of 1,200 here without the lock around opening, so 600 rounds would all pass with a chance of about 5 in 10⁶.
    Every round of four threads opening the closed store together now succeeds."""
    import threading

    import pyarrow as pa

    store = ResultsStore(tmp_path / "results.duckdb")
    store.start_run(RunInfo("r", "m", "imagenet-val", "", "paper", 1))
    failures = []
    for _ in range(600):
        barrier = threading.Barrier(4)

        def read(k: int) -> None:
            barrier.wait()
            try:
                with store._connect(read_only=True) as connection:
                    if k == 0:
                        connection.register("wanted", pa.table({"x": [1, 2]}))
                        assert connection.execute("SELECT count(*) FROM wanted").fetchone()[0] == 2
                    else:
                        assert connection.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
            except Exception as error:  # noqa: BLE001 - collected: a thread's exception would not fail the test
                failures.append(f"{type(error).__name__}: {error}")

        threads = [threading.Thread(target=read, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
