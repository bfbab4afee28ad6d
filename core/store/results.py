"""The DuckDB results store: runs and per-image predictions, written in short transactions.

DuckDB allows one writing process, and while any process has the file open for writing no other
may open it, not even read-only (and an open read-only connection keeps the writer out). So every
access here is short: readers open read-only for one query and close it, and both sides retry with
backoff while the other holds it. An evaluation writes through a `StoreWriter` (`core.store.writer`):
a background thread that gathers many model-batches and commits them every ~1 s (or 8,192 rows) in one
transaction, then closes the file, so the models never wait for the store and readers get in between
commits. A lock file keeps a second `evaluate` process waiting until the first is done.

`ResultsStore` is the one place that talks SQL; its logits files (`core.store.logits`), derived
results (`core.store.derived`), per-image outcome reads (`core.store.outcomes`, from the outcomes packed when a run
finishes) and pins (`core.store.pins`) are mixins in modules of their own.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import threading
import time
import warnings
from pathlib import Path
from typing import Callable, Iterator

from core.config import refuse_in_view_mode
from core.store.derived import DerivedResults, _delete_temperature_fit
from core.store.logits import LOGIT_FILE_COLUMNS, LogitFiles
from core.store.outcomes import OutcomeReads, drop_unused_keys, missing_outcomes, store_outcomes
from core.store.pins import Pins
from core.store.tasks import TaskTables
from core.store.schema import (_SCHEMA, PREDICTION_COLUMNS, SCHEMA_VERSION, RowBlock, RunInfo, SchemaMismatch,
                               StoreLocked, _has_table, _schema_version, migrate_v1, mismatch_message, results_path,
                               still_valid)
from core.store.tables import _dict_block, _logit_table, _prediction_table
from core.store.writer import StoreWriter

__all__ = ["ResultsStore"]


_CONNECT_LOCK = threading.Lock()
"""Held while a thread opens a connection: DuckDB's Python client races when threads open one file at once (the
database shared by its connections is built on the first open after the last close, and a connection can get it
before the client's `python_arrow_scan` is in place: `register` then fails, seen on Findings' cold open, whose
sections read the store side by side). Opening takes milliseconds; the queries themselves still run side by side."""

_WRITER_CONFIG = {"checkpoint_threshold": "16GB", "force_compression": "uncompressed"}
"""Connections that insert rows: they checkpoint when they ask (once per commit), uncompressed."""

_STATUS = "CASE status WHEN 'cancelled' THEN 'stopped' ELSE status END"
"""A run's status as read: stores written before issue 17 marked a user's stop `cancelled`, now `stopped`."""

_COUNTS = ("count(*) AS done, count(error) AS errors, count(CASE WHEN error IS NULL THEN correct END) AS scored, "
           "count(CASE WHEN error IS NULL AND correct THEN 1 END) AS correct")
"""A run's row counts (`run_totals`' columns): rows, unreadable rows, readable rows with a verdict, correct ones."""
_COUNT_NAMES = ("done", "errors", "scored", "correct")

_VALID_TOTALS = still_valid("run_totals", "t")
"""The `run_totals` rows still true: written when the run finished, and it has not finished again since."""


def _unmasked(values):
    """A column of `fetchnumpy` without its mask: NULL as None (objects) or NaN (numbers)."""
    import numpy as np

    if not np.ma.isMaskedArray(values):
        return values
    mask = np.ma.getmaskarray(values)
    data = np.ma.getdata(values)
    if data.dtype == object:
        return np.where(mask, None, data)
    return np.where(mask, np.nan, data.astype(np.float64)) if mask.any() else data


def _count_finished_runs(connection) -> tuple[int, int]:
    """Stores `run_totals` and `run_outcomes` (`core.store.outcomes`) of every finished run that lacks them (a store
    written before they existed, or by an older version): once per writing process, nothing to do after the first.
    Returns how many runs got each."""
    unpacked = missing_outcomes(connection)
    packed = _pack_outcomes(connection, unpacked)
    missing = [row[0] for row in connection.execute(
        f"SELECT run_id FROM runs WHERE status = 'done' AND run_id NOT IN (SELECT t.run_id {_VALID_TOTALS})"
    ).fetchall()]
    if not missing:
        return 0, packed
    marks = ", ".join("?" * len(missing))
    with _transaction(connection):
        connection.execute(f"DELETE FROM run_totals WHERE run_id IN ({marks})", missing)
        connection.execute("INSERT INTO run_totals SELECT r.run_id, r.finished_at, coalesce(p.done, 0), "
                           "coalesce(p.errors, 0), coalesce(p.scored, 0), coalesce(p.correct, 0) FROM runs r LEFT JOIN "
                           f"(SELECT run_id, {_COUNTS} FROM predictions WHERE run_id IN ({marks}) GROUP BY run_id) p "
                           f"USING (run_id) WHERE r.run_id IN ({marks})", missing + missing)
    return len(missing), packed


def _pack_outcomes(connection, run_ids: list[str]) -> int:
    """Pack the outcomes of finished runs (`core.store.outcomes`) in a transaction of their own; returns how many.
    A failure is warned, never raised: the runs are complete and kept, and read from their rows meanwhile."""
    if not run_ids:
        return 0
    try:
        with _transaction(connection):
            store_outcomes(connection, run_ids)
    except Exception as error:  # noqa: BLE001 - a speed-up only: the rows stay the record
        warnings.warn(f"Packing the per-image outcomes of {len(run_ids)} finished run(s) failed "
                      f"({type(error).__name__}: {error}). The runs are complete and kept, and are read from their "
                      "rows (slower); `python -m core migrate` packs them again.", RuntimeWarning, stacklevel=3)
        return 0
    return len(run_ids)


@contextlib.contextmanager
def _transaction(connection) -> Iterator[None]:
    connection.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _with_accuracy(runs):
    """The runs list as `runs()` gives it: the runs' columns, then done, accuracy (correct / scored: the mean of
    `correct` over readable rows, as a SQL avg gives it), errors; counts as float64 in, NaN where none."""
    done, errors, scored, correct = (runs[name] for name in _COUNT_NAMES)
    listed = runs.drop(columns=list(_COUNT_NAMES))
    listed["done"] = done.fillna(0).astype("int64")
    listed["accuracy"] = (correct / scored).where(scored > 0)
    listed["errors"] = errors.fillna(0).astype("int64")
    return listed


def _is_lock_error(error: Exception) -> bool:
    text = str(error).lower()
    return "lock" in text or "conflicting" in text or "being used by another process" in text


class ResultsStore(LogitFiles, DerivedResults, OutcomeReads, Pins, TaskTables):
    """Short-lived DuckDB access with retries; the one place that talks SQL."""

    def __init__(self, path: Path | None = None, *, timeout_s: float = 60.0) -> None:
        self.path = Path(path) if path else results_path()
        self.timeout_s = timeout_s
        self._checked = False
        self._filled = (0, 0)  # (runs counted, runs packed) by this object's schema check

    # connections --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _connect(self, *, read_only: bool, config: dict | None = None) -> Iterator:
        import duckdb

        if not read_only:  # every write of the store passes here: view mode refuses them all
            refuse_in_view_mode("writing to the results store")

        deadline = time.monotonic() + self.timeout_s
        delay = 0.005
        while True:
            try:
                with _CONNECT_LOCK:
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
            self._filled = _count_finished_runs(connection)
        self._checked = True

    def _mismatch(self, found: int) -> str:
        return mismatch_message(self.path, found)

    def migrate(self, say: Callable[[str], None] = print) -> int:
        """Bring a schema-1 store to schema 2 (`core.store.schema.migrate_v1`), and store the totals and packed
        outcomes of every finished run that lacks them (`run_totals`, `run_outcomes`, as any writer of this version
        does); returns the rows updated."""
        updated = migrate_v1(self, say)
        if self.path.exists():
            self._checked = False
            self._ensure_schema()
            counted, packed = self._filled
            if counted or packed:
                say(f"{self.path}: stored the row counts of {counted} and the packed outcomes of {packed} finished "
                    "run(s) that lacked them.")
        return updated

    def query(self, sql: str, parameters: list | None = None):
        """A read-only query as a pandas DataFrame (empty frame when the store does not exist yet)."""
        import pandas as pd

        if not self.path.exists():
            return pd.DataFrame()
        with self._reader() as connection:
            return connection.execute(sql, parameters or []).df()

    def query_each(self, sql: str, parameter_lists: list[list]) -> list:
        """The same read-only query once per parameter list, on one connection (a page's cold read of many runs
        pays one connection, and each query keeps its own filter on the scan); empty frames without a store."""
        import pandas as pd

        if not self.path.exists():
            return [pd.DataFrame() for _ in parameter_lists]
        with self._reader() as connection:
            return [connection.execute(sql, parameters).df() for parameters in parameter_lists]

    def rows_by_file_name(self, run_ids, names, columns: tuple[str, ...] = ("pred",)) -> list[dict]:
        """Per run, on one connection: its readable rows (no `error`) whose file name, the last part of its
        `image_id` path (`os.path.basename`), is one of `names`, in stored order, as numpy arrays: `match` (the
        position in `names`, which should be distinct) and `columns` (NULL as None, or NaN in a number column).

        The join runs in DuckDB, so no per-image string reaches Python unless `columns` asks for one: the
        Mistakes page read 4 × 50,000 ids into pandas and joined them with ImageNet-X's file names there.
        """
        import numpy as np
        import pyarrow as pa

        unknown = [name for name in columns if name not in PREDICTION_COLUMNS or name in ("run_id", "image_id")]
        if unknown:
            raise ValueError(f"Expected `columns` of the predictions but run_id and image_id, got {unknown}.")
        run_ids = [str(run_id) for run_id in run_ids]
        if not self.path.exists():
            return [{"match": np.zeros(0, np.int64), **{name: np.zeros(0, object) for name in columns}}
                    for _ in run_ids]
        wanted = pa.table({"file_name": pa.array(names, pa.string()),  # a pandas/Arrow column as is, no Python loop
                           "match": pa.array(np.arange(len(names), dtype=np.int64))})
        sql = (f"SELECT w.match{''.join(f', p.{name}' for name in columns)} FROM predictions p "
               "JOIN wanted_names w ON w.file_name = regexp_extract(p.image_id, '[^/]*$') "
               "WHERE p.run_id = ? AND p.error IS NULL ORDER BY p.rowid")
        with self._reader() as connection:
            connection.register("wanted_names", wanted)
            found = [connection.execute(sql, [run_id]).fetchnumpy() for run_id in run_ids]
        return [{name: _unmasked(values) for name, values in arrays.items()} for arrays in found]

    def keyed_columns(self, run_ids, columns: tuple[str, ...], names) -> list:
        """Per run, in image-id order (as `prediction_columns(..., by_image=True)`: the same in every copy of the
        store): `columns` of its readable rows (no `error`), with `key` (a 64-bit hash of
        `image_id`: the same image has the same key in every run) and `match` (the position in `names`, which
        must be distinct, of the row's file name, the last part of `image_id`; −1 where none), in one scan and
        one connection, so no per-image string reaches Python (reading 4 × 50,000 val ids into pandas and
        taking their file names there was most of the Findings' val read). Two ids sharing a hash show as a
        repeated key within a run: the caller then reads the ids themselves (`prediction_columns`)."""
        import numpy as np
        import pandas as pd
        import pyarrow as pa

        unknown = [name for name in columns if name not in PREDICTION_COLUMNS or name in ("run_id", "image_id")]
        if unknown:
            raise ValueError(f"Expected `columns` of the predictions but run_id and image_id, got {unknown}.")
        if not pd.Index(names).is_unique:
            raise ValueError("Expected distinct `names`: a repeated name would repeat its rows.")
        run_ids = [str(run_id) for run_id in run_ids]
        empty = pd.DataFrame({"key": np.zeros(0, np.uint64), "match": np.zeros(0, np.int64),
                              **{name: [] for name in columns}})
        if not run_ids or not self.path.exists():
            return [empty.copy() for _ in run_ids]
        wanted = pa.table({"file_name": pa.array(names, pa.string()),
                           "match": pa.array(np.arange(len(names), dtype=np.int64))})
        sql = (f"WITH map(run_id, k) AS (VALUES {', '.join('(?, ?)' for _ in run_ids)}) "
               f"SELECT m.k, hash(p.image_id) AS key, coalesce(w.match, -1) AS match"
               f"{''.join(f', p.{name}' for name in columns)} FROM predictions p JOIN map m ON m.run_id = p.run_id "
               "LEFT JOIN wanted_names w ON w.file_name = regexp_extract(p.image_id, '[^/]*$') "
               f"WHERE p.run_id IN ({', '.join('?' for _ in run_ids)}) AND p.error IS NULL ORDER BY m.k, p.image_id")
        with self._reader() as connection:
            connection.register("wanted_names", wanted)
            frame = connection.execute(sql, [*(value for k, run_id in enumerate(run_ids) for value in (run_id, k)),
                                             *run_ids]).df()
        run = frame.pop("k").to_numpy()
        return [frame[run == k].reset_index(drop=True) for k in range(len(run_ids))]

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
        """Register a run (or find it); returns its prior status: 'new', 'running', 'stopped', 'failed' or 'done'."""
        self._ensure_schema()
        with self._connect(read_only=False) as connection:
            row = connection.execute(f"SELECT {_STATUS} FROM runs WHERE run_id = ?", [info.run_id]).fetchone()
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
        """'running', 'stopped' (by its user: resumable), 'failed' or 'done'; None for an unknown run (read-only)."""
        frame = self.query(f"SELECT {_STATUS} AS status FROM runs WHERE run_id = ?", [run_id])
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
                # a finished run's totals and outcomes no longer hold once rows are added to it (a shard folded late)
                for table in ("run_totals", "run_outcomes"):
                    connection.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT DISTINCT run_id FROM new_rows)")
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
                self._write_logit_files(with_logits.select(["run_id", *LOGIT_FILE_COLUMNS]), name=f"fold-{path.stem}")
        table = pa.concat_tables([table for _, table in tables], promote_options="permissive")
        return self._insert_rows(table) if table.num_rows else 0
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
            with _transaction(connection):
                connection.execute(
                    "UPDATE runs SET status = ?, images_per_s = coalesce(?, images_per_s), "
                    "device = coalesce(?, device), message = ?, "
                    "finished_at = CASE WHEN ? = 'done' THEN now() ELSE finished_at END WHERE run_id = ?",
                    [status, images_per_s, device, message, status, run_id])
                connection.execute("DELETE FROM run_totals WHERE run_id = ?", [run_id])
                connection.execute("DELETE FROM run_outcomes WHERE run_id = ?", [run_id])
                if status == "done":  # counted once here, so listing the runs does not count every stored row
                    connection.execute("INSERT INTO run_totals SELECT ?, (SELECT finished_at FROM runs WHERE "
                                       f"run_id = ?), {_COUNTS} FROM predictions WHERE run_id = ?",
                                       [run_id, run_id, run_id])
            if status == "done":  # packed once here, so paired reads align them in numpy; the run is done anyway
                _pack_outcomes(connection, [run_id])
        if status == "done":
            self._compact_logits(run_id)

    def delete_run(self, run_id: str) -> None:
        import shutil

        self._ensure_schema()
        with self._connect(read_only=False) as connection:
            for table in ("logits", "predictions", "run_totals", "run_outcomes", "runs"):
                connection.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
            drop_unused_keys(connection)
            _delete_temperature_fit(connection, run_id)
        shutil.rmtree(self._logits_dir(run_id), ignore_errors=True)
    # reading ---------------------------------------------------------------------------------------
    def runs(self):
        """Every run with its progress (images done, `errors` of them unreadable) and top-1 accuracy over readable
        images. A finished run's counts were stored when it finished (`run_totals`): only the other runs' rows
        are counted here, so listing the runs of a full study reads a few rows, not 3.6 million."""
        import numpy as np
        import pandas as pd

        if not self.path.exists():
            return pd.DataFrame()
        with self._reader() as connection:
            if _has_table(connection, "run_totals"):
                runs = connection.execute(f"""
                    SELECT r.* REPLACE ({_STATUS} AS status), t.done, t.errors, t.scored, t.correct
                    FROM runs r LEFT JOIN (SELECT t.* {_VALID_TOTALS}) t USING (run_id)
                    ORDER BY r.started_at""").df()
            else:  # a store no writer of this version has opened yet
                runs = connection.execute(f"SELECT r.* REPLACE ({_STATUS} AS status) FROM runs r "
                                          "ORDER BY r.started_at").df()
                runs = runs.assign(**{name: np.nan for name in _COUNT_NAMES})
            runs = runs.astype({name: "float64" for name in _COUNT_NAMES})
            uncounted = runs.loc[runs["done"].isna(), "run_id"].tolist()
            if uncounted:  # running, stopped or failed runs: their rows only, unless they are most of the store
                few = len(uncounted) * 4 < len(runs)  # (a filter on many runs costs more than counting them all)
                where = f"WHERE run_id IN ({', '.join('?' * len(uncounted))}) " if few else ""
                counted = connection.execute(f"SELECT run_id, {_COUNTS} FROM predictions {where}GROUP BY run_id",
                                             uncounted if few else []).df().set_index("run_id")
                for name in _COUNT_NAMES:
                    runs[name] = runs[name].fillna(runs["run_id"].map(counted[name].astype("float64")))
        return _with_accuracy(runs)

    def predictions(self, run_id: str):
        return self.query("SELECT * FROM predictions WHERE run_id = ? ORDER BY image_id", [run_id])

    CALIBRATION_SQL = ("SELECT image_id, label, cal_conf, cal_correct, log_prob_true, brier FROM predictions "
                       "WHERE run_id = ? AND cal_conf IS NOT NULL ORDER BY image_id")

    def calibration_columns(self, run_id: str):
        """Per image with stored logits, in image_id order: label and the schema-2 calibration columns."""
        return self.query(self.CALIBRATION_SQL, [run_id])

    def calibration_columns_each(self, run_ids) -> list:
        """`calibration_columns` of each run, in order, a query per run on one connection."""
        return self.query_each(self.CALIBRATION_SQL, [[run_id] for run_id in run_ids])

    @staticmethod
    def _columns_sql(n_runs: int, columns, readable_only: bool, by_image: bool = False) -> str:
        return (f"SELECT run_id, {', '.join(columns)} FROM predictions WHERE run_id IN ({', '.join('?' * n_runs)})"
                + (" AND error IS NULL" if readable_only else "") + (" ORDER BY run_id, image_id" if by_image else ""))

    def prediction_columns(self, run_ids, columns, *, readable_only: bool = False, by_image: bool = False):
        """`run_id` and `columns` of the rows of `run_ids` (`readable_only`: those without an `error`), in stored
        order (`by_image`: by run, then image id, an order every copy of the store shares, whatever order its rows
        were written in: a bootstrap over row positions then draws the same images in each); an empty frame with
        those columns when `run_ids` is empty."""
        import pandas as pd

        run_ids = list(run_ids)
        if not run_ids:
            return pd.DataFrame(columns=["run_id", *columns])
        return self.query(self._columns_sql(len(run_ids), columns, readable_only, by_image), run_ids)

    def prediction_columns_each(self, run_ids, columns) -> list:
        """`prediction_columns` of each run alone, in order, a query per run on one connection."""
        return self.query_each(self._columns_sql(1, columns, False), [[run_id] for run_id in run_ids])

    def table_names(self) -> set[str]:
        """The tables the store holds (an older store lacks the newer ones)."""
        frame = self.query("SELECT table_name FROM information_schema.tables")
        return set(frame["table_name"]) if len(frame) else set()
