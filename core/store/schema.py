"""The results store's schema: tables, the row and run records, version checks and the migration.

Keys are content hashes and configuration keys, never display names, so a changed model,
checkpoint, transform or dataset never reuses old results.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.config import cache_dir
from core.errors import UserError

__all__ = ["SCHEMA_VERSION", "PREDICTION_COLUMNS", "RunInfo", "RowBlock", "StoreLocked", "SchemaMismatch",
           "results_path", "mismatch_message", "migrate_v1", "packages_json"]

SCHEMA_VERSION = 2
"""2: per-image calibration columns (cal_conf, cal_correct, log_prob_true, brier) computed at write time."""


class StoreLocked(UserError):
    """The results file stayed locked by another process for longer than the timeout."""


class SchemaMismatch(UserError):
    """The results file was written by another schema version."""


def results_path() -> Path:
    """`BAE_RESULTS_DB`, default `cache/results.duckdb`."""
    return Path(os.environ.get("BAE_RESULTS_DB", cache_dir() / "results.duckdb"))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, model TEXT NOT NULL, benchmark TEXT NOT NULL, variant TEXT NOT NULL,
    protocol TEXT NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL, n_total INTEGER NOT NULL,
    class_subset TEXT, convention TEXT, model_spec TEXT, weights_key TEXT, preprocess_key TEXT, preprocess TEXT,
    head_key TEXT, data_root TEXT, data_fingerprint TEXT, data_revision TEXT, sample_limit INTEGER, sample_seed INTEGER,
    store_logits BOOLEAN, packages TEXT, device TEXT, images_per_s DOUBLE,
    started_at TIMESTAMP, finished_at TIMESTAMP, message TEXT
);
CREATE TABLE IF NOT EXISTS predictions (
    run_id TEXT NOT NULL, image_id TEXT NOT NULL, path TEXT, label INTEGER, labels INTEGER[], condition TEXT,
    shape TEXT, texture TEXT, pred INTEGER, top5 INTEGER[], top5_prob FLOAT[], prob_true FLOAT, conf FLOAT,
    correct BOOLEAN, decision16 TEXT, probs16 FLOAT[], error TEXT,
    cal_conf DOUBLE, cal_correct BOOLEAN, log_prob_true DOUBLE, brier DOUBLE,
    PRIMARY KEY (run_id, image_id)
);
CREATE TABLE IF NOT EXISTS logits (
    run_id TEXT NOT NULL, image_id TEXT NOT NULL, logits BLOB NOT NULL, PRIMARY KEY (run_id, image_id)
);
CREATE TABLE IF NOT EXISTS features (
    feature_key TEXT NOT NULL, image_id TEXT NOT NULL, label INTEGER, split TEXT, vector BLOB NOT NULL,
    PRIMARY KEY (feature_key, image_id)
);
CREATE TABLE IF NOT EXISTS probes (
    probe_id TEXT PRIMARY KEY, model TEXT NOT NULL, dataset TEXT NOT NULL, data_root TEXT, data_fingerprint TEXT,
    protocol TEXT, convention TEXT, feature_key TEXT, c DOUBLE, val_accuracy TEXT, test_accuracy DOUBLE,
    ci_low DOUBLE, ci_high DOUBLE, n_train INTEGER, n_val INTEGER, n_test INTEGER, seed INTEGER,
    created_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS pins (
    pin_id TEXT PRIMARY KEY, position INTEGER NOT NULL, page TEXT NOT NULL, title TEXT, state TEXT, note TEXT,
    chart TEXT, table_csv TEXT, provenance TEXT, created_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS temperature_fits (
    run_id TEXT PRIMARY KEY, temperature DOUBLE NOT NULL, seed INTEGER NOT NULL, n_fit INTEGER NOT NULL,
    n_test INTEGER NOT NULL, n_bins INTEGER, ece_before DOUBLE, ece_after DOUBLE, nll_before DOUBLE,
    nll_after DOUBLE, fitted_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS run_totals (
    run_id TEXT PRIMARY KEY, finished_at TIMESTAMP, done BIGINT NOT NULL, errors BIGINT NOT NULL,
    scored BIGINT NOT NULL, correct BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_outcomes (
    run_id TEXT PRIMARY KEY, finished_at TIMESTAMP, n BIGINT NOT NULL, unique_keys BOOLEAN NOT NULL,
    key_set TEXT NOT NULL, hits BLOB NOT NULL, real_hits BLOB NOT NULL, has_real BLOB NOT NULL,
    conditions TEXT NOT NULL, condition_codes BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS outcome_keys (key_set TEXT PRIMARY KEY, keys BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS temperature_columns (
    run_id TEXT NOT NULL, image_id TEXT NOT NULL, cal_conf DOUBLE, cal_correct BOOLEAN, log_prob_true DOUBLE,
    brier DOUBLE
);
"""

PREDICTION_COLUMNS = ("run_id", "image_id", "path", "label", "labels", "condition", "shape", "texture", "pred",
                      "top5", "top5_prob", "prob_true", "conf", "correct", "decision16", "probs16", "error",
                      "cal_conf", "cal_correct", "log_prob_true", "brier")


@dataclass(frozen=True)
class RunInfo:
    """What identifies a run and what reproduces it (one row of `runs`)."""

    run_id: str
    model: str
    benchmark: str
    variant: str
    protocol: str
    n_total: int
    source: str = "ours"
    class_subset: str | None = None
    convention: str = ""
    model_spec: str = ""
    weights_key: str = ""
    preprocess_key: str = ""
    preprocess: str = ""
    head_key: str = ""
    data_root: str = ""
    data_fingerprint: str = ""
    data_revision: str = ""
    sample_limit: int | None = None
    sample_seed: int | None = None
    store_logits: bool = True
    packages: str = ""
    device: str = ""


@dataclass
class RowBlock:
    """Prediction rows as columns (one model-batch, or any number of rows), plus their logits.

    `columns` maps names of `PREDICTION_COLUMNS` to numpy arrays (n values, or n × k for the list
    columns `top5`, `top5_prob`, `probs16`) or lists; a missing column is stored as NULL, and NaN in a
    float column as NULL. `logits` (n × classes, stored as float16 bytes) follows the row order.
    """

    columns: dict
    logits: object = None

    def __len__(self) -> int:
        return len(self.columns["image_id"])


def still_valid(table: str, alias: str) -> str:
    """The FROM clause of the rows of a per-run table (`alias`) written when their run finished ('done') and still
    true: the run has not finished again since (its `finished_at` is the one they were written with)."""
    return (f"FROM runs r JOIN {table} {alias} ON {alias}.run_id = r.run_id AND r.status = 'done' "
            f"AND {alias}.finished_at IS NOT DISTINCT FROM r.finished_at")


def _has_table(connection, name: str) -> bool:
    """Whether the store holds table `name` (an older store lacks the newer ones)."""
    return bool(connection.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                                   "AND schema_name = 'main' AND table_name = ?", [name]).fetchone()[0])


def _schema_version(connection) -> int | None:
    """The store's schema version; None for a new file (no meta table or no entry yet)."""
    try:
        found = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    except Exception as error:  # noqa: BLE001 - duckdb.CatalogException: a new, empty file
        if "meta" not in str(error):
            raise
        return None
    return int(found[0][0]) if found else None

def mismatch_message(path: Path, found: int) -> str:
    if found == 1 and SCHEMA_VERSION == 2:
        return (f"{path} holds results of schema version 1; this version reads 2 (it adds per-image "
                "calibration columns). Run once: python -m core migrate (computes them from the stored "
                "logits; every row is kept).")
    return (f"{path} holds results of schema version {found}, this version reads {SCHEMA_VERSION}. "
            "Move the file aside (results are recomputed) or use the matching version of the app.")


def _logit_matrix(blobs) -> "np.ndarray":
    """float32 (n, classes) from stored float16 blobs, joined once (no per-row arrays)."""
    import numpy as np

    blobs = list(blobs)
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), -1).astype(np.float32)


def migrate_v1(store, say: Callable[[str], None] = print) -> int:
    """Bring a schema-1 store to schema 2 in one transaction: the derived calibration columns are
    computed from the stored logits (rows without logits keep them NULL, as a fresh write would);
    no row is lost (counted before and after). Returns the number of rows that got derived values."""
    import pyarrow as pa

    from core.metrics.calibration import DERIVED_COLUMNS, derived_columns

    if not store.path.exists():
        say(f"{store.path} does not exist yet; nothing to migrate.")
        return 0
    with store._connect(read_only=False) as connection:
        found = _schema_version(connection)
        if found == SCHEMA_VERSION or found is None:
            say(f"{store.path} is already at schema version {SCHEMA_VERSION}; nothing to do.")
            return 0
        if found != 1:
            raise SchemaMismatch(mismatch_message(store.path, found))
        before = {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                  for table in ("runs", "predictions", "logits")}
        runs = connection.execute("SELECT run_id, class_subset FROM runs WHERE run_id IN "
                                  "(SELECT DISTINCT run_id FROM logits) ORDER BY run_id").fetchall()
        connection.execute("BEGIN TRANSACTION")
        try:
            connection.execute("CREATE TEMP TABLE derived (run_id TEXT, image_id TEXT, cal_conf DOUBLE, "
                               "cal_correct BOOLEAN, log_prob_true DOUBLE, brier DOUBLE)")
            updated = 0
            for number, (run_id, subset) in enumerate(runs, 1):
                subset = json.loads(subset) if subset else None
                # a second cursor streams the logits: a statement on `connection` would end its result
                cursor = connection.cursor().execute(
                    "SELECT l.image_id, l.logits, coalesce(p.label, -1) AS label FROM logits l JOIN predictions p "
                    "USING (run_id, image_id) WHERE run_id = ? ORDER BY l.image_id", [run_id])
                while True:
                    chunk = cursor.fetch_df_chunk(4)
                    if chunk.empty:
                        break
                    logits = _logit_matrix(chunk["logits"])
                    values = derived_columns(logits, chunk["label"].to_numpy(), subset)
                    table = pa.table({"run_id": [run_id] * len(chunk), "image_id": chunk["image_id"].tolist(),
                                      **{name: pa.array(values[name], from_pandas=True)
                                         for name in DERIVED_COLUMNS}})
                    connection.register("derived_chunk", table)
                    connection.execute("INSERT INTO derived SELECT * FROM derived_chunk")
                    connection.unregister("derived_chunk")
                    updated += len(chunk)
                cursor.close()
                say(f"run {number}/{len(runs)} ({run_id}): derived columns computed")
            connection.execute("CREATE TEMP TABLE predictions_v1 AS SELECT * FROM predictions")
            connection.execute("DROP TABLE predictions")
            connection.execute(_SCHEMA)
            columns = ", ".join(f"p.{name}" for name in PREDICTION_COLUMNS if name not in DERIVED_COLUMNS)
            connection.execute(f"INSERT INTO predictions SELECT {columns}, "
                               + ", ".join(f"d.{name}" for name in DERIVED_COLUMNS)
                               + " FROM predictions_v1 p LEFT JOIN derived d USING (run_id, image_id)")
            after = {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                     for table in ("runs", "predictions", "logits")}
            if after != before:
                raise RuntimeError(f"Migration would change row counts {before} → {after}; rolled back.")
            connection.execute("DROP TABLE predictions_v1")
            connection.execute("DROP TABLE derived")
            connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    say(f"{store.path}: schema 1 → {SCHEMA_VERSION}; {before['predictions']:,} rows kept, {updated:,} with "
        "derived calibration columns.")
    return updated


def packages_json() -> str:
    """Versions of what decides the numbers, recorded with every run."""
    from importlib import metadata

    versions = {}
    for name in ("torch", "torchvision", "timm", "open_clip_torch", "pillow", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return json.dumps(versions, sort_keys=True)
