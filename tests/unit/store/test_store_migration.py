"""Schema 1 → 2: a store written before the derived calibration columns is migrated with no row lost,
and until then every reader and writer refuses it with the exact command to run."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest

from core.cli import main
from core.metrics import derived_columns
from core.store import SCHEMA_VERSION, ResultsStore, SchemaMismatch

# the schema-1 tables as `core/store.py` created them before SCHEMA_VERSION 2 (runs, logits unchanged)
_V1_PREDICTIONS = """
CREATE TABLE predictions (
    run_id TEXT NOT NULL, image_id TEXT NOT NULL, path TEXT, label INTEGER, labels INTEGER[], condition TEXT,
    shape TEXT, texture TEXT, pred INTEGER, top5 INTEGER[], top5_prob FLOAT[], prob_true FLOAT, conf FLOAT,
    correct BOOLEAN, decision16 TEXT, probs16 FLOAT[], error TEXT,
    PRIMARY KEY (run_id, image_id)
);
CREATE TABLE logits (run_id TEXT NOT NULL, image_id TEXT NOT NULL, logits BLOB NOT NULL, PRIMARY KEY (run_id, image_id));
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
INSERT INTO meta VALUES ('schema_version', '1');
"""
_RUN_COLUMNS = "run_id, model, benchmark, variant, protocol, source, status, n_total, class_subset, store_logits"
SUBSET = list(range(0, 1000, 5))


def _v1_store(path, rng):
    """Three runs: val with logits (one unreadable image), R with its 200-class subset, C without logits."""
    with duckdb.connect(str(path)) as connection:
        connection.execute(_V1_PREDICTIONS)
        connection.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, model TEXT NOT NULL, benchmark TEXT NOT NULL, "
                           "variant TEXT NOT NULL, protocol TEXT NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL, "
                           "n_total INTEGER NOT NULL, class_subset TEXT, convention TEXT, model_spec TEXT, weights_key "
                           "TEXT, preprocess_key TEXT, preprocess TEXT, head_key TEXT, data_root TEXT, data_fingerprint "
                           "TEXT, data_revision TEXT, sample_limit INTEGER, sample_seed INTEGER, store_logits BOOLEAN, "
                           "packages TEXT, device TEXT, images_per_s DOUBLE, started_at TIMESTAMP, finished_at "
                           "TIMESTAMP, message TEXT)")
        logits = {}
        for run_id, benchmark, subset, with_logits, n in (("val", "imagenet-val", None, True, 40),
                                                          ("r", "imagenet-r", SUBSET, True, 30),
                                                          ("c", "imagenet-c", None, False, 25)):
            connection.execute(f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, 'm', ?, '', 'paper', 'ours', 'done', ?, "
                               "?, ?)", [run_id, benchmark, n, json.dumps(subset) if subset else None, with_logits])
            labels = rng.choice(SUBSET, n) if subset else rng.integers(0, 1000, n)
            matrix = (4 * rng.normal(size=(n, 1000))).astype(np.float16)
            for i in range(n):
                image_id = f"{run_id}/{i:03d}.JPEG"
                error = "unreadable" if (run_id == "val" and i == 7) else None
                connection.execute("INSERT INTO predictions (run_id, image_id, label, labels, pred, correct, error) "
                                   "VALUES (?, ?, ?, ?, ?, ?, ?)",
                                   [run_id, image_id, int(labels[i]), [int(labels[i])], None if error else
                                    int(matrix[i].argmax()), None if error else bool(matrix[i].argmax() == labels[i]),
                                    error])
                if with_logits and not error:
                    connection.execute("INSERT INTO logits VALUES (?, ?, ?)", [run_id, image_id, matrix[i].tobytes()])
                    logits[image_id] = (matrix[i], int(labels[i]), subset)
    return logits


def test_a_schema_1_store_is_refused_with_the_exact_fix(tmp_path, rng):
    path = tmp_path / "v1.duckdb"
    _v1_store(path, rng)
    for attempt in (lambda: ResultsStore(path).runs(), lambda: ResultsStore(path).predictions("val"),
                    lambda: ResultsStore(path).done_image_ids("val")):
        with pytest.raises(SchemaMismatch, match="schema version 1; this version reads 2.*python -m core migrate"):
            attempt()
    with duckdb.connect(str(path), read_only=True) as connection:  # refusing changed nothing
        assert connection.execute("SELECT value FROM meta").fetchone()[0] == "1"
        assert connection.execute("SELECT count(*) FROM predictions").fetchone()[0] == 95


def test_migration_keeps_every_row_and_computes_the_derived_columns(tmp_path, rng, monkeypatch, capsys):
    path = tmp_path / "v1.duckdb"
    logits = _v1_store(path, rng)
    with duckdb.connect(str(path), read_only=True) as connection:
        before = connection.execute("SELECT * FROM predictions ORDER BY run_id, image_id").df()
        before_logits = connection.execute("SELECT count(*) FROM logits").fetchone()[0]
    monkeypatch.setenv("BAE_RESULTS_DB", str(path))
    assert main(["migrate"]) == 0
    assert "schema 1 → 2; 95 rows kept, 69 with derived" in capsys.readouterr().out
    store = ResultsStore(path)
    after = store.query("SELECT * FROM predictions ORDER BY run_id, image_id")
    assert len(after) == len(before) == 95
    assert store.query("SELECT count(*) AS n FROM logits")["n"][0] == before_logits
    for column in before.columns:  # every schema-1 value is kept as it was
        assert before[column].astype(str).tolist() == after[column].astype(str).tolist(), column
    assert store.query("SELECT value FROM meta")["value"][0] == str(SCHEMA_VERSION)
    # derived values equal those a fresh schema-2 write computes from the same stored logits
    for row in after.itertuples():
        if row.image_id not in logits:
            assert all(np.isnan(v) or v is None for v in (row.cal_conf, row.log_prob_true, row.brier))
            continue
        matrix, label, subset = logits[row.image_id]
        fresh = derived_columns(matrix[None], np.array([label]), subset)
        assert row.cal_conf == pytest.approx(fresh["cal_conf"][0], abs=1e-12)
        assert bool(row.cal_correct) == bool(fresh["cal_correct"][0])
        assert row.log_prob_true == pytest.approx(fresh["log_prob_true"][0], abs=1e-12)
        assert row.brier == pytest.approx(fresh["brier"][0], abs=1e-12)
    assert store.runs()["done"].sum() == 95  # readers work again
    assert main(["migrate"]) == 0 and "nothing to do" in capsys.readouterr().out  # idempotent


def test_an_unknown_schema_is_not_migrated(tmp_path, rng):
    path = tmp_path / "v9.duckdb"
    _v1_store(path, rng)
    with duckdb.connect(str(path)) as connection:
        connection.execute("UPDATE meta SET value = '9'")
    with pytest.raises(SchemaMismatch, match="schema version 9"):
        ResultsStore(path).migrate(say=lambda _: None)
