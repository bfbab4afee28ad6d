"""Persistent results: the DuckDB results store and the on-disk cache of single-image predictions.

DuckDB allows one writing process, and while any process has the file open for writing no other
may open it, not even read-only (and an open read-only connection keeps the writer out). So every
access here is short: readers open read-only for one query and close it, and both sides retry with
backoff while the other holds it. An evaluation writes through a `StoreWriter`: a background thread
that gathers many model-batches and commits them every ~1 s (or 8,192 rows) in one transaction,
then closes the file, so the models never wait for the store and readers get in between commits.
A lock file keeps a second `evaluate` process waiting until the first is done.

Logits (2 KB per image, nine tenths of what a run writes) are not inserted into DuckDB: each commit
writes them to an append-only Parquet file under `<store>-logits/<run>/`, before the rows that refer
to them are committed, so a crash leaves at most logits of uncommitted rows, which reads ignore. In
DuckDB they would be written three times (table, log, checkpoint) and make every open and checkpoint
slower; as files they cost one sequential write. `logits(run_id)` reads both places (stores written
before kept them in the `logits` table).

Keys are content hashes and configuration keys, never display names, so a changed model,
checkpoint, transform or dataset never reuses old results.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

from core.config import cache_dir
from core.errors import UserError

__all__ = ["prediction_cache", "prediction_key", "SCHEMA_VERSION", "ResultsStore", "StoreLocked", "SchemaMismatch",
           "results_path", "RunInfo", "RowBlock", "StoreWriter", "WriterStats", "shard_table"]

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
CREATE TABLE IF NOT EXISTS pins (
    pin_id TEXT PRIMARY KEY, position INTEGER NOT NULL, page TEXT NOT NULL, title TEXT, state TEXT, note TEXT,
    chart TEXT, table_csv TEXT, provenance TEXT, created_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS temperature_fits (
    run_id TEXT PRIMARY KEY, temperature DOUBLE NOT NULL, seed INTEGER NOT NULL, n_fit INTEGER NOT NULL,
    n_test INTEGER NOT NULL, n_bins INTEGER, ece_before DOUBLE, ece_after DOUBLE, nll_before DOUBLE,
    nll_after DOUBLE, fitted_at TIMESTAMP
);
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


_WRITER_CONFIG = {"checkpoint_threshold": "16GB", "force_compression": "uncompressed"}
"""Connections that insert rows: they checkpoint when they ask (once per commit), uncompressed."""
_READER_GAP_S = 0.05
"""Pause between back-to-back commits: readers retry every ≤ 0.05 s (+ jitter) and get in here."""
_LOGIT_FILE_COLUMNS = ("image_id", "logits")


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
    def _connect(self, *, read_only: bool, config: dict | None = None) -> Iterator:
        import duckdb

        deadline = time.monotonic() + self.timeout_s
        delay = 0.005
        while True:
            try:
                connection = duckdb.connect(str(self.path), read_only=read_only, config=config or {})
                break
            except (duckdb.IOException, duckdb.ConnectionException) as error:
                if not _is_lock_error(error) or time.monotonic() > deadline:
                    if _is_lock_error(error):
                        raise StoreLocked(f"The results store {self.path} stayed locked by another process for "
                                          f"{self.timeout_s:.0f} s ({error}). Wait for the evaluation to finish "
                                          "or stop it, then try again.") from None
                    raise
                time.sleep(delay * (1 + random.random()))
                # a failed attempt costs microseconds; polling every ≤ 20 ms lands in the writer's
                # 50 ms pause between commits, so a reader waits about one commit at most
                delay = min(delay * 2, 0.01)
        try:
            yield connection
        finally:
            connection.close()

    @contextlib.contextmanager
    def _reader(self) -> Iterator:
        """A short read-only connection to a store of this schema version (SchemaMismatch otherwise)."""
        with self._connect(read_only=True) as connection:
            version = _schema_version(connection)
            if version is not None and version != SCHEMA_VERSION:
                raise SchemaMismatch(self._mismatch(version))
            yield connection

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
        with self._reader() as connection:
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

    def write_batch(self, rows: "list[dict] | RowBlock", logits: list[tuple[str, str, bytes]] | None = None) -> None:
        """Insert rows (a `RowBlock`, or dicts with optional (run_id, image_id, float16 bytes) logits) in one
        transaction; rows already stored are ignored, so a retried batch duplicates nothing."""
        block = rows if isinstance(rows, RowBlock) else _dict_block(rows, logits)
        if not len(block):
            return
        self.write_blocks([block])

    def write_blocks(self, blocks: "list[RowBlock]") -> None:
        """Insert many blocks in one transaction (one connection): the writer's unit of work.

        Their logits go first to one Parquet file per run (`_write_logit_files`), then the rows are
        committed and the write-ahead log is folded into the file at once, uncompressed: every open
        (the next commit, each reader) would otherwise replay the log first, and compressing costs
        more than the few bytes it saves (measured in bench/store_write.py).
        """
        import pyarrow as pa

        blocks = [block for block in blocks if len(block)]
        if not blocks:
            return
        self._ensure_schema()
        rows = pa.concat_tables([_prediction_table(block) for block in blocks])
        logit_tables = [_logit_table(block) for block in blocks if block.logits is not None]
        if logit_tables:
            self._write_logit_files(pa.concat_tables(logit_tables))
        self._insert_rows(rows)

    def _insert_rows(self, rows) -> int:
        """INSERT OR IGNORE an Arrow table of prediction rows in one transaction, then checkpoint;
        returns how many rows were new."""
        with self._connect(read_only=False, config=_WRITER_CONFIG) as connection:
            connection.execute("PRAGMA disable_checkpoint_on_shutdown")
            connection.execute("BEGIN TRANSACTION")
            try:
                before = connection.execute("SELECT count(*) FROM predictions").fetchall()[0][0]
                connection.register("new_rows", rows)
                connection.execute(f"INSERT OR IGNORE INTO predictions SELECT {', '.join(PREDICTION_COLUMNS)} "
                                   "FROM new_rows")
                after = connection.execute("SELECT count(*) FROM predictions").fetchall()[0][0]
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("CHECKPOINT")
        return int(after - before)

    def fold_shards(self, paths: "list[Path]") -> int:
        """Insert the rows and logits of Parquet shards (written by `shard_table`, e.g. by the Ray path's
        workers) in one transaction. Idempotent: rows already stored are ignored and each shard's logits
        file is named after the shard, so folding a shard twice, or a shard whose block was also computed
        elsewhere, changes nothing. Returns the number of prediction rows that were new."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        paths = [Path(path) for path in paths]
        if not paths:
            return 0
        self._ensure_schema()
        tables = [(path, pq.read_table(path)) for path in paths]
        for path, table in tables:
            with_logits = table.filter(pc.is_valid(table.column("logits")))
            if with_logits.num_rows:
                self._write_logit_files(with_logits.select(["run_id", *_LOGIT_FILE_COLUMNS]), name=f"fold-{path.stem}")
        table = pa.concat_tables([table for _, table in tables], promote_options="permissive")
        return self._insert_rows(table) if table.num_rows else 0

    # logits files ----------------------------------------------------------------------------------
    @property
    def logits_root(self) -> Path:
        """`<store name>-logits/` beside the store: one folder of Parquet files per run."""
        return self.path.with_name(self.path.stem + "-logits")

    def _logits_dir(self, run_id: str) -> Path:
        import hashlib
        import re

        readable = re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)[:64]
        return self.logits_root / f"{readable}-{hashlib.sha1(run_id.encode()).hexdigest()[:10]}"

    def _write_logit_files(self, table, *, name: str | None = None) -> None:
        """One Parquet file (image_id, logits) per run in `table`, written under a temporary name and
        renamed, so a reader lists whole files only. Uncompressed: float16 logits barely compress."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        for run_id in pc.unique(table.column("run_id")).to_pylist():
            part = table.filter(pc.equal(table.column("run_id"), run_id)).select(list(_LOGIT_FILE_COLUMNS))
            folder = self._logits_dir(run_id)
            folder.mkdir(parents=True, exist_ok=True)
            stem = name or f"{time.time_ns()}-{os.getpid()}-{threading.get_ident()}"
            temporary = folder / f".{stem}.parquet.tmp"
            pq.write_table(part, temporary, compression="none", use_dictionary=False, write_statistics=False)
            os.replace(temporary, folder / f"{stem}.parquet")

    def _logit_files(self, run_id: str) -> list[Path]:
        folder = self._logits_dir(run_id)
        return sorted(folder.glob("*.parquet")) if folder.is_dir() else []

    def _read_logit_files(self, run_id: str):
        """Every (image_id, logits) row in the run's files (an image may appear twice after a resumed
        crash: the same logits, computed again); retried when a compaction replaces files meanwhile."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        for attempt in range(5):
            try:
                tables = [pq.read_table(path, columns=list(_LOGIT_FILE_COLUMNS)) for path in self._logit_files(run_id)]
                break
            except FileNotFoundError:
                if attempt == 4:
                    raise
                time.sleep(0.05)
        return pa.concat_tables(tables) if tables else _empty_logits()

    def _compact_logits(self, run_id: str, *, max_files: int = 64) -> None:
        """Fold a finished run's logits files into one, keeping each committed image once, when it has
        more than `max_files` (a slow CPU run commits every second: thousands of small files, each a
        file open for every later read; a GPU run writes a few dozen, not worth a rewrite)."""
        files = self._logit_files(run_id)
        if len(files) <= max_files:
            return
        table = self._stored_logits(run_id)
        self._write_logit_files(table.append_column("run_id", _column("run_id", [run_id] * table.num_rows,
                                                                             table.num_rows)),
                                name=f"compact-{time.time_ns()}")
        for path in files:
            path.unlink(missing_ok=True)

    def _stored_logits(self, run_id: str):
        """Arrow (image_id, logits) of a run's committed images, each once, in image_id order: the
        run's files and the `logits` table of older stores, restricted to rows in `predictions`."""
        files = self._read_logit_files(run_id)
        if not self.path.exists():
            return _empty_logits()
        with self._reader() as connection:
            connection.register("logit_files", files)
            return connection.sql("""
                SELECT image_id, any_value(logits) AS logits FROM (
                    SELECT image_id, logits FROM logits WHERE run_id = ?
                    UNION ALL SELECT image_id, logits FROM logit_files)
                WHERE image_id IN (SELECT image_id FROM predictions WHERE run_id = ?)
                GROUP BY image_id ORDER BY image_id""", params=[run_id, run_id]).to_arrow_table()

    def _wal_bytes(self) -> int:
        try:
            return os.stat(str(self.path) + ".wal").st_size
        except OSError:
            return 0

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file (the writer does so when it closes)."""
        if self._wal_bytes():
            with self._connect(read_only=False, config=_WRITER_CONFIG) as connection:
                connection.execute("CHECKPOINT")

    def writer(self, *, flush_s: float = 1.0, max_rows: int = 8192) -> "StoreWriter":
        """A background writer for a whole evaluation (use as a context manager)."""
        return StoreWriter(self, flush_s=flush_s, max_rows=max_rows)

    def finish_run(self, run_id: str, status: str, *, images_per_s: float | None = None, device: str | None = None,
                   message: str | None = None) -> None:
        self._ensure_schema()
        with self._connect(read_only=False) as connection:
            connection.execute(
                "UPDATE runs SET status = ?, images_per_s = coalesce(?, images_per_s), device = coalesce(?, device), "
                "message = ?, finished_at = CASE WHEN ? = 'done' THEN now() ELSE finished_at END WHERE run_id = ?",
                [status, images_per_s, device, message, status, run_id])
        if status == "done":
            self._compact_logits(run_id)

    def delete_run(self, run_id: str) -> None:
        import shutil

        self._ensure_schema()
        with self._connect(read_only=False) as connection:
            for table in ("logits", "predictions", "runs"):
                connection.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
            _delete_temperature_fit(connection, run_id)
        shutil.rmtree(self._logits_dir(run_id), ignore_errors=True)

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
        """(image_ids, float32 array n × classes) of a run that stored logits, in image_id order."""
        table = self._stored_logits(run_id)
        return table.column("image_id").to_pylist(), _binary_matrix(table.column("logits"))

    # temperature scaling (issue 7): one fit per run, kept with its held-out images' columns ------------
    def write_temperature_fit(self, run_id: str, fit: dict, columns) -> None:
        """Keep a run's temperature fit, replacing an earlier one, in one transaction.

        Args:
            fit: the values of `temperature_fits` but run_id and fitted_at (temperature, seed, n_fit,
                n_test, n_bins, ece_before, ece_after, nll_before, nll_after).
            columns: frame of the held-out images: image_id, cal_conf, cal_correct, log_prob_true, brier.
        """
        import pyarrow as pa

        self._ensure_schema()
        names = ("temperature", "seed", "n_fit", "n_test", "n_bins", "ece_before", "ece_after", "nll_before",
                 "nll_after")
        table = pa.table({"run_id": [run_id] * len(columns), "image_id": list(columns["image_id"]),
                          **{name: pa.array(columns[name].to_numpy(), from_pandas=True)
                             for name in ("cal_conf", "cal_correct", "log_prob_true", "brier")}})
        with self._connect(read_only=False) as connection:
            connection.execute("BEGIN TRANSACTION")
            try:
                _delete_temperature_fit(connection, run_id)
                connection.execute(f"INSERT INTO temperature_fits (run_id, {', '.join(names)}, fitted_at) VALUES "
                                   f"(?, {', '.join('?' for _ in names)}, now())", [run_id, *(fit[n] for n in names)])
                connection.register("fitted_columns", table)
                connection.execute("INSERT INTO temperature_columns SELECT run_id, image_id, cal_conf, cal_correct, "
                                   "log_prob_true, brier FROM fitted_columns")
                connection.unregister("fitted_columns")
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    def temperature_fit(self, run_id: str) -> dict | None:
        """A run's stored temperature fit, or None: not fitted yet, or a store from before the table."""
        frame = self._temperature_query("SELECT * FROM temperature_fits WHERE run_id = ?", [run_id])
        return None if frame is None or frame.empty else frame.iloc[0].to_dict()

    def temperature_columns(self, run_id: str):
        """The held-out images of a run's temperature fit, in image_id order: image_id and the per-image
        calibration columns under the fitted temperature (an empty frame when not fitted)."""
        import pandas as pd

        frame = self._temperature_query("SELECT image_id, cal_conf, cal_correct, log_prob_true, brier FROM "
                                        "temperature_columns WHERE run_id = ? ORDER BY image_id", [run_id])
        if frame is None or frame.empty:
            return pd.DataFrame(columns=["image_id", "cal_conf", "cal_correct", "log_prob_true", "brier"])
        return frame

    def temperature_fit_and_columns(self, run_id: str):
        """(`temperature_fit`, `temperature_columns`) of a run in one short read-only connection (what
        the Calibration page needs; an open costs ~0.05 s on a large store), or None when not fitted."""
        import duckdb

        if not self.path.exists():
            return None
        with self._reader() as connection:
            try:
                found = connection.execute("SELECT * FROM temperature_fits WHERE run_id = ?", [run_id]).df()
                if found.empty:
                    return None
                columns = connection.execute("SELECT image_id, cal_conf, cal_correct, log_prob_true, brier FROM "
                                             "temperature_columns WHERE run_id = ? ORDER BY image_id", [run_id]).df()
            except duckdb.CatalogException as error:  # read-only on a store from before issue 7: not fitted
                if "temperature_" not in str(error):
                    raise
                return None
        return found.iloc[0].to_dict(), columns

    def _temperature_query(self, sql: str, parameters: list):
        import duckdb

        try:
            return self.query(sql, parameters)
        except duckdb.CatalogException as error:  # read-only on a store from before issue 7: not fitted
            if "temperature_" not in str(error):
                raise
            return None


def _delete_temperature_fit(connection, run_id: str) -> None:
    for table in ("temperature_columns", "temperature_fits"):
        connection.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])


def _schema_version(connection) -> int | None:
    """The store's schema version; None for a new file (no meta table or no entry yet)."""
    try:
        found = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    except Exception as error:  # noqa: BLE001 - duckdb.CatalogException: a new, empty file
        if "meta" not in str(error):
            raise
        return None
    return int(found[0][0]) if found else None


def _logit_matrix(blobs) -> "np.ndarray":
    """float32 (n, classes) from stored float16 blobs, joined once (no per-row arrays)."""
    import numpy as np

    blobs = list(blobs)
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), -1).astype(np.float32)


_ARROW_TYPES = {"label": "int32", "pred": "int32", "labels": "list<int32>", "top5": "list<int32>",
                "top5_prob": "list<float32>", "probs16": "list<float32>", "prob_true": "float32", "conf": "float32",
                "correct": "bool", "cal_conf": "float64", "cal_correct": "bool", "log_prob_true": "float64",
                "brier": "float64"}


def _empty_logits():
    import pyarrow as pa

    return pa.table({"image_id": pa.array([], pa.string()), "logits": pa.array([], pa.binary())})


def _binary_matrix(blobs) -> "np.ndarray":
    """float32 (n, classes) from an Arrow column of equal-length float16 blobs, read from its buffer."""
    import numpy as np
    import pyarrow as pa

    blobs = blobs.combine_chunks() if isinstance(blobs, pa.ChunkedArray) else blobs
    if not len(blobs):
        return np.zeros((0, 0), dtype=np.float32)
    if blobs.null_count:
        raise ValueError("A stored logits blob is NULL.")
    offsets = np.frombuffer(blobs.buffers()[1], dtype=np.int32)[blobs.offset: blobs.offset + len(blobs) + 1]
    widths = np.diff(offsets)
    if (widths != widths[0]).any():
        raise ValueError("Stored logits of one run differ in length.")
    data = np.frombuffer(blobs.buffers()[2], dtype=np.uint8)[offsets[0]: offsets[-1]]
    return data.view(np.float16).reshape(len(blobs), -1).astype(np.float32)


def _blob_array(matrix) -> "pa.Array":
    """One float16 blob per row of a matrix, built from its buffer without a copy per row."""
    import numpy as np
    import pyarrow as pa

    matrix = np.ascontiguousarray(matrix, dtype=np.float16)
    n, width = matrix.shape[0], matrix.shape[1] * 2
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * width).tobytes())
    return pa.Array.from_buffers(pa.binary(), n, [None, offsets, pa.py_buffer(matrix.tobytes())])


def _arrow_type(name: str):
    import pyarrow as pa

    kind = _ARROW_TYPES.get(name, "string")
    scalar = {"int32": pa.int32(), "float32": pa.float32(), "float64": pa.float64(), "bool": pa.bool_(),
              "string": pa.string()}
    if kind.startswith("list<"):
        return pa.list_(scalar[kind[5:-1]])
    return scalar[kind]


def _column(name: str, values, n: int):
    """One Arrow column from a numpy array (n, or n × k for list columns), a list, or None (all NULL)."""
    import numpy as np
    import pyarrow as pa

    kind = _arrow_type(name)
    if values is None:
        return pa.nulls(n, kind)
    if isinstance(values, np.ndarray) and values.ndim == 2:
        flat = pa.array(values.reshape(-1).astype(kind.value_type.to_pandas_dtype(), copy=False))
        return pa.FixedSizeListArray.from_arrays(flat, values.shape[1]).cast(kind)
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        return pa.array(values.astype(kind.to_pandas_dtype(), copy=False), kind, from_pandas=True)  # NaN → NULL
    return pa.array(values, kind)


def _prediction_table(block: RowBlock):
    import pyarrow as pa

    n = len(block)
    return pa.table({name: _column(name, block.columns.get(name), n) for name in PREDICTION_COLUMNS})


def _logit_table(block: RowBlock):
    """(run_id, image_id, logits) of a block, one float16 BLOB per row."""
    import pyarrow as pa

    logits = block.logits
    if isinstance(logits, list):  # [(run_id, image_id, bytes)]: the dict API
        return pa.table({"run_id": [r for r, _, _ in logits], "image_id": [i for _, i, _ in logits],
                         "logits": pa.array([b for _, _, b in logits], pa.binary())})
    n = len(block)
    return pa.table({"run_id": _column("run_id", block.columns["run_id"], n),
                     "image_id": _column("image_id", block.columns["image_id"], n), "logits": _blob_array(logits)})


def shard_table(blocks: "list[RowBlock]"):
    """One Arrow table of prediction rows (`PREDICTION_COLUMNS`, the store's types) plus a `logits`
    column (float16 bytes, NULL where a block has none): the format of a Parquet shard that
    `ResultsStore.fold_shards` inserts. Built by the same conversion `write_blocks` uses, so a shard holds
    exactly what the single-process writer would have stored."""
    import pyarrow as pa

    tables = []
    for block in blocks:
        if not len(block):
            continue
        rows = _prediction_table(block)
        if block.logits is not None:
            blobs = _logit_table(block).column("logits")
        else:
            blobs = pa.nulls(len(block), pa.binary())
        tables.append(rows.append_column("logits", blobs))
    if not tables:
        names = list(PREDICTION_COLUMNS)
        return pa.table({name: pa.array([], _arrow_type(name)) for name in names} | {"logits": pa.array([], pa.binary())})
    return pa.concat_tables(tables)


def _dict_block(rows: list[dict], logits: list[tuple[str, str, bytes]] | None) -> RowBlock:
    present = {name for row in rows for name in row}
    columns = {name: [row.get(name) for row in rows] for name in PREDICTION_COLUMNS if name in present}
    return RowBlock(columns, logits or None)


# --- the evaluation's writer ---------------------------------------------------------------------

@dataclass
class WriterStats:
    """What a `StoreWriter` did: rows committed, transactions, and seconds spent inside them."""

    rows: int = 0
    commits: int = 0
    seconds: float = 0.0
    commit_seconds: list = field(default_factory=list)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else float("nan")


class StoreWriter:
    """Writes `RowBlock`s on a background thread, many per transaction.

    `put` returns at once (it waits only when more than `8 × max_rows` rows are queued, so memory
    stays bounded if the disk is slower than the models). The thread commits what is queued (up to
    `2 × max_rows` rows per transaction) once `flush_s` has passed since its last commit or `max_rows`
    rows are waiting, then closes the file and pauses briefly, so readers in other processes get in
    between (DuckDB admits one process at a time). Blocks are never split: a reader sees whole model-batches only. `close()` (or leaving
    the `with` block) commits the rest; a failure on the thread is raised by the next `put`/`close`.
    A SIGKILL loses only what was not yet committed, which a resumed run recomputes.
    """

    def __init__(self, store: ResultsStore, *, flush_s: float = 1.0, max_rows: int = 8192) -> None:
        if flush_s <= 0 or max_rows < 1:
            raise ValueError(f"Expected flush_s > 0 and max_rows >= 1, got {flush_s} and {max_rows}.")
        self.store, self.flush_s, self.max_rows = store, flush_s, max_rows
        self.stats = WriterStats()
        self._pending: list[RowBlock] = []
        self._pending_rows = 0
        self._in_flight = 0
        self._closing = False
        self._flush_now = False
        self._error: BaseException | None = None
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="results-store-writer", daemon=True)
        self._thread.start()

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def put(self, block: RowBlock) -> None:
        if not len(block):
            return
        with self._condition:
            self._raise_error()
            while self._pending_rows >= 8 * self.max_rows and self._error is None:
                self._condition.wait(0.1)
            self._raise_error()
            self._pending.append(block)
            self._pending_rows += len(block)
            self._condition.notify_all()

    def flush(self) -> None:
        """Commit everything put so far, and wait for it."""
        with self._condition:
            self._flush_now = True
            self._condition.notify_all()
            while (self._pending or self._in_flight) and self._error is None:
                self._condition.wait(0.05)
            self._raise_error()

    def close(self) -> None:
        with self._condition:
            self._closing = True
            self._condition.notify_all()
        self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        last_commit = time.monotonic()
        while True:
            with self._condition:
                while not (self._closing or self._flush_now or self._pending_rows >= self.max_rows
                           or (self._pending and time.monotonic() - last_commit >= self.flush_s)):
                    self._condition.wait(max(0.01, self.flush_s - (time.monotonic() - last_commit)))
                taken, rows = 0, 0
                while taken < len(self._pending) and (taken == 0 or rows + len(self._pending[taken]) <= 2 * self.max_rows):
                    rows += len(self._pending[taken])
                    taken += 1
                blocks, self._pending = self._pending[:taken], self._pending[taken:]
                self._pending_rows -= rows
                self._in_flight = rows
                self._flush_now = False
                closing = self._closing
            if blocks:
                began = time.perf_counter()
                try:
                    self.store.write_blocks(blocks)
                except BaseException as error:  # handed to the caller's next put/close
                    with self._condition:
                        self._error, self._in_flight = error, 0
                        self._pending, self._pending_rows = [], 0
                        self._condition.notify_all()
                    return
                took = time.perf_counter() - began
                with self._condition:
                    self.stats.rows += self._in_flight
                    self.stats.commits += 1
                    self.stats.seconds += took
                    self.stats.commit_seconds.append(took)
                    self._in_flight = 0
                    self._condition.notify_all()
                last_commit = time.monotonic()
                if self._pending and not closing:
                    time.sleep(_READER_GAP_S)  # a reader waiting for the file gets in before the next commit
            if closing:
                with self._condition:
                    if self._pending:
                        continue
                try:
                    self.store.checkpoint()  # leave a file that opens without replaying a log
                except BaseException as error:
                    with self._condition:
                        self._error = error
                return


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
