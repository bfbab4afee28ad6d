"""Persistent results: the DuckDB results store and the on-disk cache of single-image predictions.

DuckDB allows one writing process, and while any process has the file open for writing no other
may open it, not even read-only (and an open read-only connection keeps the writer out). So every
access here is short: the writer opens the file for one batch transaction and closes it, readers
open read-only for one query and close it, and both retry with backoff while the other holds it.
A lock file keeps a second `evaluate` process waiting until the first is done.

Keys are content hashes and configuration keys, never display names, so a changed model,
checkpoint, transform or dataset never reuses old results.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

from core.config import cache_dir
from core.errors import UserError

__all__ = ["prediction_cache", "prediction_key", "SCHEMA_VERSION", "ResultsStore", "StoreLocked", "SchemaMismatch",
           "results_path", "RunInfo"]

SCHEMA_VERSION = 2
"""2: per-image calibration columns (cal_conf, cal_correct, log_prob_true, brier) computed at write time."""


# --- single-image predictions (Compare page) ---------------------------------------------------

@lru_cache(maxsize=4)
def _cache_at(path: str):
    import diskcache

    # diskcache is safe across threads and processes (SQLite underneath): one handle per path.
    return diskcache.Cache(path, size_limit=2 * 2**30)


def prediction_cache(root: Path | None = None):
    """The diskcache of single-image predictions under `cache/predictions`."""
    return _cache_at(str((root or cache_dir()) / "predictions"))


def prediction_key(image_sha256: str, model: str, weights: str, preprocess: str, head: str) -> str:
    return "|".join(("v1", image_sha256, model, weights, preprocess, head))


# --- DuckDB results store ----------------------------------------------------------------------

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


def _is_lock_error(error: Exception) -> bool:
    text = str(error).lower()
    return "lock" in text or "conflicting" in text or "being used by another process" in text


class ResultsStore:
    """Short-lived DuckDB access with retries; the one place that talks SQL."""

    def __init__(self, path: Path | None = None, *, timeout_s: float = 60.0) -> None:
        self.path = Path(path) if path else results_path()
        self.timeout_s = timeout_s
        self._checked = False

    # connections --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _connect(self, *, read_only: bool) -> Iterator:
        import duckdb

        deadline = time.monotonic() + self.timeout_s
        delay = 0.02
        while True:
            try:
                connection = duckdb.connect(str(self.path), read_only=read_only)
                break
            except (duckdb.IOException, duckdb.ConnectionException) as error:
                if not _is_lock_error(error) or time.monotonic() > deadline:
                    if _is_lock_error(error):
                        raise StoreLocked(f"The results store {self.path} stayed locked by another process for "
                                          f"{self.timeout_s:.0f} s ({error}). Wait for the evaluation to finish "
                                          "or stop it, then try again.") from None
                    raise
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)
        try:
            yield connection
        finally:
            connection.close()

    def _ensure_schema(self) -> None:
        if self._checked:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect(read_only=False) as connection:
            found = _schema_version(connection)
            if found is not None and found != SCHEMA_VERSION:
                raise SchemaMismatch(self._mismatch(found))
            connection.execute(_SCHEMA)
            if found is None:
                connection.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
        self._checked = True

    def _mismatch(self, found: int) -> str:
        if found == 1 and SCHEMA_VERSION == 2:
            return (f"{self.path} holds results of schema version 1; this version reads 2 (it adds per-image "
                    "calibration columns). Run once: python -m core migrate (computes them from the stored "
                    "logits; every row is kept).")
        return (f"{self.path} holds results of schema version {found}, this version reads {SCHEMA_VERSION}. "
                "Move the file aside (results are recomputed) or use the matching version of the app.")

    def migrate(self, say: Callable[[str], None] = print) -> int:
        """Bring a schema-1 store to schema 2 in one transaction: the derived calibration columns are
        computed from the stored logits (rows without logits keep them NULL, as a fresh write would);
        no row is lost (counted before and after). Returns the number of rows that got derived values."""
        import pyarrow as pa

        from core.metrics.calibration import DERIVED_COLUMNS, derived_columns

        if not self.path.exists():
            say(f"{self.path} does not exist yet; nothing to migrate.")
            return 0
        with self._connect(read_only=False) as connection:
            found = _schema_version(connection)
            if found == SCHEMA_VERSION or found is None:
                say(f"{self.path} is already at schema version {SCHEMA_VERSION}; nothing to do.")
                return 0
            if found != 1:
                raise SchemaMismatch(self._mismatch(found))
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
        say(f"{self.path}: schema 1 → {SCHEMA_VERSION}; {before['predictions']:,} rows kept, {updated:,} with "
            "derived calibration columns.")
        return updated

    def query(self, sql: str, parameters: list | None = None):
        """A read-only query as a pandas DataFrame (empty frame when the store does not exist yet)."""
        import pandas as pd

        if not self.path.exists():
            return pd.DataFrame()
        with self._connect(read_only=True) as connection:
            version = _schema_version(connection)
            if version is not None and version != SCHEMA_VERSION:
                raise SchemaMismatch(self._mismatch(version))
            return connection.execute(sql, parameters or []).df()

    def version(self) -> str:
        """Changes whenever a batch commits: key for the app's caches of store reads."""
        stamps = []
        for suffix in ("", ".wal"):
            candidate = Path(str(self.path) + suffix)
            if candidate.exists():
                stat = candidate.stat()
                stamps.append(f"{stat.st_mtime_ns}-{stat.st_size}")
        return "|".join(stamps) or "empty"

    # writing ---------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writer_lock(self, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Held for a whole evaluation: a second `evaluate` waits here and says so."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = Path(str(self.path) + ".writer.lock")
        with open(lock_path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                if on_wait:
                    on_wait(f"Another evaluation ({holder}) is writing to {self.path.name}; waiting for it to finish…")
                fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            try:
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)

    def start_run(self, info: RunInfo) -> str:
        """Register a run (or find it). Returns its status: 'new', 'running', 'cancelled' or 'done'."""
        self._ensure_schema()
        with self._connect(read_only=False) as connection:
            row = connection.execute("SELECT status FROM runs WHERE run_id = ?", [info.run_id]).fetchone()
            if row is not None:
                if row[0] != "done":
                    connection.execute("UPDATE runs SET status = 'running', message = NULL WHERE run_id = ?",
                                       [info.run_id])
                return row[0]
            fields = info.__dict__
            columns = ", ".join(fields) + ", status, started_at"
            marks = ", ".join("?" for _ in fields) + ", 'running', now()"
            connection.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})", list(fields.values()))
            return "new"

    def run_status(self, run_id: str) -> str | None:
        """'running', 'cancelled', 'failed' or 'done'; None for an unknown run (read-only)."""
        frame = self.query("SELECT status FROM runs WHERE run_id = ?", [run_id])
        return None if frame.empty else str(frame["status"][0])

    def done_image_ids(self, run_id: str) -> set[str]:
        self._ensure_schema()
        frame = self.query("SELECT image_id FROM predictions WHERE run_id = ?", [run_id])
        return set(frame["image_id"]) if not frame.empty else set()

    def write_batch(self, rows: list[dict], logits: list[tuple[str, str, bytes]] | None = None) -> None:
        """Insert one batch of prediction rows (and logits) in one transaction; duplicates are ignored."""
        import pyarrow as pa

        if not rows:
            return
        self._ensure_schema()
        table = pa.table({name: _column(name, [row.get(name) for row in rows]) for name in PREDICTION_COLUMNS})
        with self._connect(read_only=False) as connection:
            connection.execute("BEGIN TRANSACTION")
            try:
                connection.register("batch_rows", table)
                connection.execute(f"INSERT OR IGNORE INTO predictions SELECT {', '.join(PREDICTION_COLUMNS)} FROM batch_rows")
                if logits:
                    logit_table = pa.table({"run_id": [r for r, _, _ in logits], "image_id": [i for _, i, _ in logits],
                                            "logits": pa.array([b for _, _, b in logits], pa.binary())})
                    connection.register("batch_logits", logit_table)
                    connection.execute("INSERT OR IGNORE INTO logits SELECT run_id, image_id, logits FROM batch_logits")
                connection.execute("COMMIT")
            except Exception:
                connection.execute("ROLLBACK")
                raise

    def finish_run(self, run_id: str, status: str, *, images_per_s: float | None = None, device: str | None = None,
                   message: str | None = None) -> None:
        self._ensure_schema()
        with self._connect(read_only=False) as connection:
            connection.execute(
                "UPDATE runs SET status = ?, images_per_s = coalesce(?, images_per_s), device = coalesce(?, device), "
                "message = ?, finished_at = CASE WHEN ? = 'done' THEN now() ELSE finished_at END WHERE run_id = ?",
                [status, images_per_s, device, message, status, run_id])

    def delete_run(self, run_id: str) -> None:
        self._ensure_schema()
        with self._connect(read_only=False) as connection:
            for table in ("logits", "predictions", "runs"):
                connection.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])

    def write_features(self, feature_key: str, rows: list[tuple[str, int, str, bytes]]) -> None:
        """One batch of (image_id, label, split, float32 vector bytes) in one transaction."""
        import pyarrow as pa

        if not rows:
            return
        self._ensure_schema()
        table = pa.table({"feature_key": [feature_key] * len(rows), "image_id": [r[0] for r in rows],
                          "label": pa.array([r[1] for r in rows], pa.int32()), "split": [r[2] for r in rows],
                          "vector": pa.array([r[3] for r in rows], pa.binary())})
        with self._connect(read_only=False) as connection:
            connection.register("batch_features", table)
            connection.execute("INSERT OR IGNORE INTO features SELECT feature_key, image_id, label, split, vector "
                               "FROM batch_features")

    def features(self, feature_key: str):
        """(frame of image_id/label/split, float32 matrix) of stored features."""
        import numpy as np

        frame = self.query("SELECT image_id, label, split, vector FROM features WHERE feature_key = ? "
                           "ORDER BY image_id", [feature_key])
        if frame.empty:
            return frame, np.zeros((0, 0), dtype=np.float32)
        matrix = np.stack([np.frombuffer(blob, dtype=np.float32) for blob in frame["vector"]])
        return frame.drop(columns="vector"), matrix

    def write_probe(self, record: dict) -> None:
        self._ensure_schema()
        columns = ", ".join(record) + ", created_at"
        marks = ", ".join("?" for _ in record) + ", now()"
        with self._connect(read_only=False) as connection:
            connection.execute(f"INSERT OR REPLACE INTO probes ({columns}) VALUES ({marks})", list(record.values()))

    def probes(self):
        return self.query("SELECT * FROM probes ORDER BY created_at")

    # reading ---------------------------------------------------------------------------------------
    def runs(self):
        """Every run with its progress (images done) and top-1 accuracy over readable images."""
        return self.query("""
            SELECT r.*, coalesce(p.done, 0) AS done, p.accuracy, coalesce(p.errors, 0) AS errors
            FROM runs r LEFT JOIN (
                SELECT run_id, count(*) AS done, avg(CASE WHEN error IS NULL THEN correct::DOUBLE END) AS accuracy,
                       count(error) AS errors
                FROM predictions GROUP BY run_id) p USING (run_id)
            ORDER BY r.started_at""")

    def predictions(self, run_id: str):
        return self.query("SELECT * FROM predictions WHERE run_id = ? ORDER BY image_id", [run_id])

    def calibration_columns(self, run_id: str):
        """Per image with stored logits, in image_id order: label and the schema-2 calibration columns."""
        return self.query("SELECT image_id, label, cal_conf, cal_correct, log_prob_true, brier FROM predictions "
                          "WHERE run_id = ? AND cal_conf IS NOT NULL ORDER BY image_id", [run_id])

    def accuracy_counts(self, run_ids=None, *, by_condition: bool = False, real: bool = False):
        """Readable images (`n`) and correct ones (`correct`) per run (and condition), counted in DuckDB;
        every run when `run_ids` is None.
        `real`: only images with ImageNet-ReaL labels, correct when the prediction is one of them."""
        import pandas as pd

        group = "run_id, condition" if by_condition else "run_id"
        empty = pd.DataFrame(columns=[*group.split(", "), "n", "correct"])
        run_ids = None if run_ids is None else list(run_ids)
        if run_ids is not None and not run_ids:
            return empty
        hit = "list_contains(labels, pred)" if real else "correct"
        where = "error IS NULL" + (" AND len(labels) > 0" if real else "")
        if run_ids is not None:
            where += f" AND run_id IN ({', '.join('?' for _ in run_ids)})"
        frame = self.query(f"SELECT {group}, count(*) AS n, sum(CASE WHEN {hit} THEN 1 ELSE 0 END)::BIGINT AS "
                           f"correct FROM predictions WHERE {where} GROUP BY {group} ORDER BY {group}", run_ids)
        return empty if frame.empty else frame

    def logits(self, run_id: str):
        """(image_ids, float32 array n × classes) of a run that stored logits."""
        import numpy as np

        frame = self.query("SELECT image_id, logits FROM logits WHERE run_id = ? ORDER BY image_id", [run_id])
        if frame.empty:
            return [], np.zeros((0, 0), dtype=np.float32)
        return list(frame["image_id"]), _logit_matrix(frame["logits"])


def _schema_version(connection) -> int | None:
    """The store's schema version; None for a new file (no meta table or no entry yet)."""
    try:
        found = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except Exception as error:  # noqa: BLE001 - duckdb.CatalogException: a new, empty file
        if "meta" not in str(error):
            raise
        return None
    return None if found is None else int(found[0])


def _logit_matrix(blobs) -> "np.ndarray":
    """float32 (n, classes) from stored float16 blobs, joined once (no per-row arrays)."""
    import numpy as np

    blobs = list(blobs)
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), -1).astype(np.float32)


def _column(name: str, values: list):
    import pyarrow as pa

    types = {"label": pa.int32(), "pred": pa.int32(), "labels": pa.list_(pa.int32()), "top5": pa.list_(pa.int32()),
             "top5_prob": pa.list_(pa.float32()), "probs16": pa.list_(pa.float32()), "prob_true": pa.float32(),
             "conf": pa.float32(), "correct": pa.bool_(), "cal_conf": pa.float64(), "cal_correct": pa.bool_(),
             "log_prob_true": pa.float64(), "brier": pa.float64()}
    return pa.array(values, types.get(name, pa.string()))


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
