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

SCHEMA_VERSION = 1


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
"""

PREDICTION_COLUMNS = ("run_id", "image_id", "path", "label", "labels", "condition", "shape", "texture", "pred",
                      "top5", "top5_prob", "prob_true", "conf", "correct", "decision16", "probs16", "error")


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
            connection.execute(_SCHEMA)
            found = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if found is None:
                connection.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
            elif int(found[0]) != SCHEMA_VERSION:
                raise SchemaMismatch(f"{self.path} holds results of schema version {found[0]}, this version reads "
                                     f"{SCHEMA_VERSION}. Move the file aside (results are recomputed) or use the "
                                     "matching version of the app.")
        self._checked = True

    def query(self, sql: str, parameters: list | None = None):
        """A read-only query as a pandas DataFrame (empty frame when the store does not exist yet)."""
        import pandas as pd

        if not self.path.exists():
            return pd.DataFrame()
        with self._connect(read_only=True) as connection:
            version = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is not None and int(version[0]) != SCHEMA_VERSION:
                raise SchemaMismatch(f"{self.path} holds results of schema version {version[0]}, this version reads "
                                     f"{SCHEMA_VERSION}. Move the file aside or use the matching app version.")
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

    # pins (charts saved for the Findings page and its exports) ---------------------------------------
    def add_pin(self, page: str, title: str, state: dict, *, chart: str = "", table_csv: str = "",
                provenance: dict | None = None, note: str = "") -> str:
        """Save a view (page, its URL state, the chart's Vega-Lite spec and table) after the last pin."""
        import uuid

        self._ensure_schema()
        pin_id = uuid.uuid4().hex[:12]
        with self._connect(read_only=False) as connection:
            last = connection.execute("SELECT coalesce(max(position), 0) FROM pins").fetchone()[0]
            connection.execute("INSERT INTO pins VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
                               [pin_id, last + 1, page, title, json.dumps(state, sort_keys=True), note, chart,
                                table_csv, json.dumps(provenance or {}, sort_keys=True, default=str)])
        return pin_id

    def pins(self):
        """Every pin in presentation order (an empty frame when there are none or the store predates pins)."""
        import pandas as pd

        columns = ["pin_id", "position", "page", "title", "state", "note", "chart", "table_csv", "provenance",
                   "created_at"]
        if not self.path.exists():
            return pd.DataFrame(columns=columns)
        has = self.query("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'pins'")
        if has.empty or int(has["n"][0]) == 0:
            return pd.DataFrame(columns=columns)
        return self.query(f"SELECT {', '.join(columns)} FROM pins ORDER BY position")

    def update_pin_note(self, pin_id: str, note: str) -> None:
        self._ensure_schema()
        with self._connect(read_only=False) as connection:
            connection.execute("UPDATE pins SET note = ? WHERE pin_id = ?", [note, pin_id])

    def move_pin(self, pin_id: str, offset: int) -> None:
        """Swap a pin with its neighbour `offset` places away (−1: earlier, +1: later); no-op at the ends."""
        self._ensure_schema()
        with self._connect(read_only=False) as connection:
            order = [row[0] for row in connection.execute("SELECT pin_id FROM pins ORDER BY position").fetchall()]
            if pin_id not in order:
                return
            here = order.index(pin_id)
            there = here + offset
            if not 0 <= there < len(order):
                return
            order[here], order[there] = order[there], order[here]
            connection.execute("BEGIN TRANSACTION")
            for position, moved in enumerate(order, start=1):
                connection.execute("UPDATE pins SET position = ? WHERE pin_id = ?", [position, moved])
            connection.execute("COMMIT")

    def delete_pin(self, pin_id: str) -> None:
        self._ensure_schema()
        with self._connect(read_only=False) as connection:
            connection.execute("DELETE FROM pins WHERE pin_id = ?", [pin_id])

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

    def logits(self, run_id: str):
        """(image_ids, float32 array n × classes) of a run that stored logits."""
        import numpy as np

        frame = self.query("SELECT image_id, logits FROM logits WHERE run_id = ? ORDER BY image_id", [run_id])
        if frame.empty:
            return [], np.zeros((0, 0), dtype=np.float32)
        array = np.stack([np.frombuffer(blob, dtype=np.float16) for blob in frame["logits"]]).astype(np.float32)
        return list(frame["image_id"]), array


def _column(name: str, values: list):
    import pyarrow as pa

    types = {"label": pa.int32(), "pred": pa.int32(), "labels": pa.list_(pa.int32()), "top5": pa.list_(pa.int32()),
             "top5_prob": pa.list_(pa.float32()), "probs16": pa.list_(pa.float32()), "prob_true": pa.float32(),
             "conf": pa.float32(), "correct": pa.bool_()}
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
