"""core.store.outcomes: the outcomes packed when a run finishes give `outcome_bits` the frame that grouping the stored
rows in DuckDB gives, in every mode, and stop being read once they no longer hold."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from core.store import ResultsStore, RunInfo

CONDITIONS = ["fog/1", "snow/3", "élan/2", None]  # a non-ASCII name and NULL: both sort as DuckDB sorts them


def _rows(run_id: str, ids, rng, *, condition=None, errors=(), null_correct=(), labels=None):
    rows = []
    for i, image in enumerate(ids):
        pred, label = int(rng.integers(0, 4)), int(rng.integers(0, 4))
        rows.append({"run_id": run_id, "image_id": image, "label": label, "pred": pred,
                     "correct": None if i in null_correct else pred == label,
                     "labels": None if labels is None else labels[i],
                     "condition": None if condition is None else condition[i],
                     "error": "unreadable" if i in errors else None})
    return rows


def _run(store, run_id, benchmark, rows) -> None:
    store.start_run(RunInfo(run_id, f"model-{run_id}", benchmark, "", "paper", len(rows)))
    store.write_batch(rows)
    store.finish_run(run_id, "done")


@pytest.fixture
def mixed_store(tmp_path):
    """Runs that exercise every case the grouping handles: missing images (a --limit sample), unreadable rows,
    NULL verdicts, NULL and non-ASCII conditions, ReaL labels empty, NULL or several, two strata."""
    rng = np.random.default_rng(3)
    store = ResultsStore(tmp_path / "results.duckdb")
    ids = [f"imagenet-c/{i:05d}.JPEG" for i in range(120)]
    condition = [CONDITIONS[i % 4] for i in range(120)]
    _run(store, "c0", "imagenet-c", _rows("c0", ids, rng, condition=condition, errors={3, 40}))
    _run(store, "c1", "imagenet-c", _rows("c1", ids[:100], rng, condition=condition[:100], null_correct={5, 6}))
    _run(store, "c2", "imagenet-c", _rows("c2", ids[10:], rng, condition=condition[10:]))
    _run(store, "c3", "imagenet-c", _rows("c3", ids[10:], rng, condition=condition[10:], null_correct={7}))
    labels = [None if i % 11 == 0 else [] if i % 7 == 0 else [1, 2] if i % 3 else [3] for i in range(90)]
    val = [f"val/ILSVRC2012_val_{i:08d}.JPEG" for i in range(90)]
    _run(store, "v0", "imagenet-val", _rows("v0", val, rng, labels=labels, errors={8}))
    _run(store, "v1", "imagenet-val", _rows("v1", val[:80], rng, labels=labels[:80]))
    _run(store, "v2", "imagenet-v2", _rows("v2", [f"v2/{i}.jpeg" for i in range(50)], rng))
    return store


TRIPLES = [[("c0", "imagenet-c", 0), ("c1", "imagenet-c", 1), ("c2", "imagenet-c", 3)],
           [("c2", "imagenet-c", 0), ("c3", "imagenet-c", 1)],  # one key set: aligned by position
           [("v0", "imagenet-val", 0), ("v1", "imagenet-val", 2), ("v2", "imagenet-v2", 1)],
           [("c0", "imagenet-c", 0), ("v0", "imagenet-val", 0), ("c2", "imagenet-c", 1), ("v1", "imagenet-val", 1)]]


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    for column in a.columns:  # NULL condition: None or NaN by dtype; every value otherwise equal, in order
        left = [None if pd.isna(value) else value for value in a[column]]
        right = [None if pd.isna(value) else value for value in b[column]]
        assert left == right, column


def test_packed_outcomes_give_the_frame_of_the_grouped_rows(mixed_store, monkeypatch):
    store = mixed_store
    assert store.query("SELECT count(*) AS n FROM run_outcomes")["n"].iloc[0] == 7  # packed when each finished
    sets = store.query("SELECT run_id, key_set FROM run_outcomes").set_index("run_id")["key_set"]
    assert sets["c2"] == sets["c3"] and sets.nunique() == 6  # c2 and c3 read the same images
    assert store.query("SELECT count(*) AS n FROM outcome_keys")["n"].iloc[0] == 6
    modes = list(itertools.product([False, True], [False, True, "paired"]))
    with monkeypatch.context() as patched:  # the packed path runs no SQL over the rows
        patched.setattr(store, "query", lambda *args, **kwargs: pytest.fail("grouped the stored rows"))
        packed = {(i, mode): store.outcome_bits(runs, by_condition=mode[0], real=mode[1], n_models=4)
                  for i, runs in enumerate(TRIPLES) for mode in modes}
    assert sum(len(frame) > 0 for frame in packed.values()) == len(packed) - 4  # ReaL on ImageNet-C: no labels
    with store._connect(read_only=False) as connection:
        connection.execute("DELETE FROM run_outcomes")
    for (i, (by_condition, real)), frame in packed.items():
        grouped = store.outcome_bits(TRIPLES[i], by_condition=by_condition, real=real, n_models=4)
        _same(frame, grouped)
    # one case by hand: the fog/1 images that c0 and c1 both read, and those both got right
    frame = packed[(0, (True, False))]
    fog = frame[(frame["condition"] == "fog/1") & (frame["present"] & 0b11 == 0b11)]
    rows = store.query("SELECT run_id, image_id, coalesce(correct, false) AS correct FROM predictions "
                       "WHERE run_id IN ('c0', 'c1') AND error IS NULL AND condition = 'fog/1'")
    wide = rows.pivot(index="image_id", columns="run_id", values="correct").dropna()
    assert fog["n"].sum() == len(wide) and len(wide) > 10
    assert fog.loc[fog["hits"] & 0b11 == 0b11, "n"].sum() == (wide["c0"] & wide["c1"]).sum()


def test_counts_from_packed_outcomes_equal_the_counts_of_the_rows(mixed_store, monkeypatch):
    """`accuracy_counts` from the packed outcomes, from the rows, and from both (one run unpacked) agree."""
    store = mixed_store
    run_ids = ["v1", "c0", "c1", "c2", "c3", "v0", "v2"]
    modes = list(itertools.product([False, True], [False, True]))
    with monkeypatch.context() as patched:
        patched.setattr(store, "query", lambda *args, **kwargs: pytest.fail("counted the stored rows"))
        packed = {mode: store.accuracy_counts(run_ids, by_condition=mode[0], real=mode[1]) for mode in modes}
    with store._connect(read_only=False) as connection:
        connection.execute("DELETE FROM run_outcomes WHERE run_id = 'c2'")
    mixed = {mode: store.accuracy_counts(run_ids, by_condition=mode[0], real=mode[1]) for mode in modes}
    with store._connect(read_only=False) as connection:
        connection.execute("DELETE FROM run_outcomes")
    for mode in modes:
        counted = store.accuracy_counts(run_ids, by_condition=mode[0], real=mode[1])
        _same(packed[mode], counted)
        _same(mixed[mode], counted)
    assert packed[(True, False)]["n"].sum() == 118 + 100 + 110 + 110 + 89 + 80 + 50  # readable rows, by hand


def test_outcomes_stop_being_read_once_a_run_gains_rows(mixed_store):
    """A finished run that gains rows (a shard folded late) loses its packed outcomes until it finishes again; a
    deleted run takes them along."""
    store, rng = mixed_store, np.random.default_rng(4)
    runs = [("v2", "imagenet-v2", 0)]
    assert store.outcome_bits(runs, n_models=1)["n"].sum() == 50
    store.write_batch(_rows("v2", [f"v2/{i}.jpeg" for i in range(50, 60)], rng))
    assert "v2" not in set(store.query("SELECT run_id FROM run_outcomes")["run_id"])
    assert store.outcome_bits(runs, n_models=1)["n"].sum() == 60  # grouped from the rows meanwhile
    store.finish_run("v2", "done")
    assert "v2" in set(store.query("SELECT run_id FROM run_outcomes")["run_id"])
    assert store.outcome_bits(runs, n_models=1)["n"].sum() == 60
    store.delete_run("v2")
    assert "v2" not in set(store.query("SELECT run_id FROM run_outcomes")["run_id"])
    assert store.query("SELECT count(*) AS n FROM outcome_keys")["n"].iloc[0] == 5  # its key set went with it


def test_a_store_without_packed_outcomes_gets_them_from_its_next_writer(mixed_store):
    """A store written before `run_outcomes` existed: read by grouping the rows, packed by the next process that
    writes to it."""
    with mixed_store._connect(read_only=False) as connection:
        connection.execute("DROP TABLE run_outcomes")
        connection.execute("DROP TABLE outcome_keys")
    before = mixed_store.outcome_bits(TRIPLES[0], by_condition=True, n_models=4)
    store = ResultsStore(mixed_store.path)
    store.start_run(RunInfo("new", "m", "imagenet-v2", "", "paper", 1))
    assert store.query("SELECT count(*) AS n FROM run_outcomes")["n"].iloc[0] == 7  # the unfinished one has none
    with store._connect(read_only=False) as connection:
        connection.execute("DELETE FROM run_outcomes WHERE run_id IN ('c0', 'v1')")
    said = []
    ResultsStore(store.path).migrate(say=said.append)  # `python -m core migrate` does the same, and says so
    assert "packed outcomes of 2 finished run(s)" in said[-1]
    _same(store.outcome_bits(TRIPLES[0], by_condition=True, n_models=4), before)


def test_a_condition_that_differs_between_runs_is_grouped_from_the_rows(tmp_path):
    """The same image under two conditions in two runs is two groups, as the grouping by (image, condition) makes
    them; the packed path hands that case to it."""
    rng = np.random.default_rng(5)
    store = ResultsStore(tmp_path / "results.duckdb")
    _run(store, "a", "imagenet-c", _rows("a", ["x", "y"], rng, condition=["fog/1", "fog/1"]))
    _run(store, "b", "imagenet-c", _rows("b", ["x", "y"], rng, condition=["fog/1", "snow/2"]))
    frame = store.outcome_bits([("a", "c", 0), ("b", "c", 1)], by_condition=True, n_models=2)
    assert frame["n"].sum() == 3 and sorted(frame["present"]) == [1, 2, 3]


def test_a_run_whose_ids_share_a_key_is_grouped_by_its_ids(mixed_store, monkeypatch):
    """Two ids of a run hashing alike (marked when packed) would merge two images: the rows decide instead."""
    store = mixed_store
    runs = [("c2", "imagenet-c", 0), ("c3", "imagenet-c", 1)]
    packed = store.outcome_bits(runs, by_condition=True, n_models=2)
    with store._connect(read_only=False) as connection:
        connection.execute("UPDATE run_outcomes SET unique_keys = false WHERE run_id = 'c3'")
    queries = []
    query = store.query
    monkeypatch.setattr(store, "query", lambda *args, **kwargs: queries.append(args[0]) or query(*args, **kwargs))
    _same(store.outcome_bits(runs, by_condition=True, n_models=2), packed)
    assert len(queries) == 1 and "GROUP BY" in queries[0]


def test_a_run_whose_packing_fails_is_still_done_and_read_from_its_rows(tmp_path, monkeypatch):
    """Packing is a speed-up: when it fails, the run still finishes (warned, not raised), is read from its rows, and
    `migrate` packs it later."""
    import core.store.results as results

    rng = np.random.default_rng(6)
    store = ResultsStore(tmp_path / "results.duckdb")
    real = results.store_outcomes

    def broken(connection, run_ids):
        raise RuntimeError("disk full")

    monkeypatch.setattr(results, "store_outcomes", broken)
    with pytest.warns(RuntimeWarning, match="disk full.*complete and kept.*python -m core migrate"):
        _run(store, "a", "imagenet-v2", _rows("a", ["x", "y", "z"], rng))
    assert store.runs()["status"].tolist() == ["done"]
    assert store.query("SELECT count(*) AS n FROM run_outcomes")["n"].iloc[0] == 0
    assert store.outcome_bits([("a", "v2", 0)], n_models=1)["n"].sum() == 3
    monkeypatch.setattr(results, "store_outcomes", real)
    said = []
    ResultsStore(store.path).migrate(say=said.append)
    assert "packed outcomes of 1 finished run(s)" in said[-1]
