"""Tasks in the results store: the user's labelled folders, their features, fits, predictions and costs.

The tables are created with the others (`CREATE TABLE IF NOT EXISTS`, so an older store gains them on its
first write, with no migration); a read-only store that lacks them reads as holding no task.

    tasks             name, spec (JSON of `TaskSpec`), report (JSON of what the scan skipped), created_at
    task_images       one row per image: task, image_id, path, label, split, sha256
    task_features     one vector per (feature_key, sha256): a feature key names the model, its weights, its
                      preprocessing and the image condition (clean or corruption/severity), so an image shared
                      by two tasks, or a rerun, computes nothing
    task_fits         what produced a (task, model, method, k, draw, condition)'s predictions (`fit_key`):
                      a rerun with the same key is skipped
    task_predictions  per test image: label, pred, conf, prob_true, correct, brier
    task_costs        images/s of the model's forward pass on this machine, and its parameter count
    task_races        the last `task run --race` of a task (JSON): its rounds, the drops, forward passes
"""

from __future__ import annotations

import contextlib
import json

__all__ = ["TASK_SCHEMA", "TaskTables", "PREDICTION_FIELDS"]

TASK_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (name TEXT PRIMARY KEY, spec TEXT NOT NULL, report TEXT, created_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS task_images (
    task TEXT NOT NULL, image_id TEXT NOT NULL, path TEXT, label INTEGER NOT NULL, split TEXT NOT NULL,
    sha256 TEXT NOT NULL, PRIMARY KEY (task, image_id)
);
CREATE TABLE IF NOT EXISTS task_features (
    feature_key TEXT NOT NULL, sha256 TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (feature_key, sha256)
);
CREATE TABLE IF NOT EXISTS task_fits (
    task TEXT NOT NULL, model TEXT NOT NULL, method TEXT NOT NULL, k INTEGER NOT NULL, draw INTEGER NOT NULL,
    condition TEXT NOT NULL, fit_key TEXT NOT NULL, c DOUBLE, n_train INTEGER, n_test INTEGER, created_at TIMESTAMP,
    PRIMARY KEY (task, model, method, k, draw, condition)
);
CREATE TABLE IF NOT EXISTS task_predictions (
    task TEXT NOT NULL, model TEXT NOT NULL, method TEXT NOT NULL, k INTEGER NOT NULL, draw INTEGER NOT NULL,
    condition TEXT NOT NULL, image_id TEXT NOT NULL, label INTEGER, pred INTEGER, conf FLOAT, prob_true FLOAT,
    correct BOOLEAN, brier FLOAT, PRIMARY KEY (task, model, method, k, draw, condition, image_id)
);
CREATE TABLE IF NOT EXISTS task_costs (
    task TEXT NOT NULL, model TEXT NOT NULL, images_per_s DOUBLE, params BIGINT, n_images INTEGER, device TEXT,
    PRIMARY KEY (task, model)
);
CREATE TABLE IF NOT EXISTS task_races (task TEXT PRIMARY KEY, record TEXT NOT NULL, created_at TIMESTAMP);
"""

PREDICTION_FIELDS = ("image_id", "label", "pred", "conf", "prob_true", "correct", "brier")
_FIT_KEYS = ("task", "model", "method", "k", "draw", "condition")


class TaskTables:
    """The task half of `ResultsStore` (a mixin: it uses the store's connections)."""

    @contextlib.contextmanager
    def _task_writer(self, *, transaction: bool = False):
        """A writing connection with the task tables; `transaction`: the block commits whole or not at all."""
        self._ensure_schema()
        with self._connect(read_only=False) as connection:
            connection.execute(TASK_SCHEMA)
            if not transaction:
                yield connection
                return
            connection.execute("BEGIN TRANSACTION")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    def _task_query(self, sql: str, parameters: list | None = None):
        """A read that treats a store without the task tables (older, read-only) as holding no task."""
        import duckdb
        import pandas as pd

        try:
            return self.query(sql, parameters)
        except duckdb.CatalogException as error:
            if "task" not in str(error):
                raise
            return pd.DataFrame()

    def _task_reads(self, queries: list[tuple[str, list]]) -> list:
        """Several reads on one connection (a page's cold read pays one connect); like `_task_query`, a store
        without the task tables gives empty frames."""
        import duckdb
        import pandas as pd

        if not self.path.exists():
            return [pd.DataFrame() for _ in queries]
        try:
            with self._reader() as connection:
                return [connection.execute(sql, parameters).df() for sql, parameters in queries]
        except duckdb.CatalogException as error:
            if "task" not in str(error):
                raise
            return [pd.DataFrame() for _ in queries]

    def add_task(self, spec, images, report) -> None:
        """Store (or replace) a task and its images in one transaction; its features stay (keyed by content)."""
        import dataclasses

        import pyarrow as pa

        table = pa.table({"task": [spec.name] * len(images), "image_id": [i.image_id for i in images],
                          "path": [i.path for i in images], "label": pa.array([i.label for i in images], pa.int32()),
                          "split": [i.split for i in images], "sha256": [i.sha256 for i in images]})
        with self._task_writer(transaction=True) as connection:
            for name in ("tasks", "task_images", "task_fits", "task_predictions", "task_costs"):
                column = "name" if name == "tasks" else "task"
                connection.execute(f"DELETE FROM {name} WHERE {column} = ?", [spec.name])
            connection.execute("INSERT INTO tasks VALUES (?, ?, ?, now())",
                               [spec.name, json.dumps(dataclasses.asdict(spec)),
                                json.dumps({"unreadable": list(report.unreadable), "duplicates": report.duplicates,
                                            "train_counts": report.train_counts})])
            connection.register("new_images", table)
            connection.execute("INSERT INTO task_images SELECT * FROM new_images")
            connection.unregister("new_images")

    def tasks(self):
        """Every task: name, spec (dict), report (dict), created_at, n_images, n_test."""
        frame = self._task_query(
            "SELECT t.name, t.spec, t.report, t.created_at, count(i.image_id) AS n_images, "
            "count(*) FILTER (WHERE i.split = 'test') AS n_test FROM tasks t LEFT JOIN task_images i "
            "ON i.task = t.name GROUP BY ALL ORDER BY t.name")
        if not frame.empty:
            frame["spec"] = frame["spec"].map(json.loads)
            frame["report"] = frame["report"].map(lambda text: json.loads(text) if text else {})
        return frame

    def task_images(self, task: str):
        return self._task_query("SELECT image_id, path, label, split, sha256 FROM task_images WHERE task = ? "
                                "ORDER BY image_id", [task])

    # features --------------------------------------------------------------------------------------
    def task_feature_shas(self, feature_key: str) -> set[str]:
        frame = self._task_query("SELECT sha256 FROM task_features WHERE feature_key = ?", [feature_key])
        return set(frame["sha256"]) if not frame.empty else set()

    def write_task_features(self, rows: list[tuple[str, str, bytes]]) -> None:
        """(feature_key, sha256, float32 vector bytes) rows in one transaction; a stored pair is kept."""
        import pyarrow as pa

        if not rows:
            return
        table = pa.table({"feature_key": [r[0] for r in rows], "sha256": [r[1] for r in rows],
                          "vector": pa.array([r[2] for r in rows], pa.binary())})
        with self._task_writer() as connection:
            connection.register("new_features", table)
            connection.execute("INSERT OR IGNORE INTO task_features SELECT * FROM new_features")
            connection.unregister("new_features")

    def task_features(self, feature_key: str, shas) -> "object":
        """float32 matrix of the stored vectors of `shas`, in that order (KeyError naming a missing one)."""
        import numpy as np

        frame = self._task_query("SELECT sha256, vector FROM task_features WHERE feature_key = ?", [feature_key])
        found = dict(zip(frame.get("sha256", []), frame.get("vector", [])))
        missing = [sha for sha in shas if sha not in found]
        if missing:
            raise KeyError(f"{len(missing)} feature vector(s) of {feature_key} not stored (first {missing[0]}).")
        return np.stack([np.frombuffer(found[sha], dtype=np.float32) for sha in shas]) if len(shas) else \
            np.zeros((0, 0), np.float32)

    # fits and predictions --------------------------------------------------------------------------
    def task_fit_keys(self, task: str, model: str) -> dict[tuple, str]:
        frame = self._task_query("SELECT method, k, draw, condition, fit_key FROM task_fits WHERE task = ? AND "
                                 "model = ?", [task, model])
        return {(r.method, int(r.k), int(r.draw), r.condition): r.fit_key for r in frame.itertuples()}

    def write_task_fits(self, fits: list[dict], predictions) -> None:
        """Replace the fits (dicts of task, model, method, k, draw, condition, fit_key, c, n_train, n_test) and
        their prediction rows (a frame with the fit columns and `PREDICTION_FIELDS`) in one transaction."""
        import pandas as pd

        if not fits:
            return
        fit_frame = pd.DataFrame(fits)
        with self._task_writer(transaction=True) as connection:
            connection.register("new_fits", fit_frame)
            connection.register("new_predictions", predictions)
            on = " AND ".join(f"t.{key} = n.{key}" for key in _FIT_KEYS)
            for table in ("task_fits", "task_predictions"):
                connection.execute(f"DELETE FROM {table} t USING new_fits n WHERE {on}")
            connection.execute("INSERT INTO task_fits SELECT task, model, method, k, draw, condition, fit_key, c, "
                               "n_train, n_test, now() FROM new_fits")
            connection.execute("INSERT INTO task_predictions SELECT " + ", ".join((*_FIT_KEYS, *PREDICTION_FIELDS))
                               + " FROM new_predictions")
            connection.unregister("new_fits")
            connection.unregister("new_predictions")

    def write_task_cost(self, task: str, model: str, images_per_s: float, params: int, n_images: int,
                        device: str) -> None:
        with self._task_writer() as connection:
            connection.execute("INSERT OR REPLACE INTO task_costs VALUES (?, ?, ?, ?, ?, ?)",
                               [task, model, images_per_s, params, n_images, device])

    TASK_COSTS_SQL = ("SELECT model, images_per_s, params, n_images, device FROM task_costs WHERE task = ? "
                      "ORDER BY model")

    def task_costs(self, task: str):
        return self._task_query(self.TASK_COSTS_SQL, [task])

    def task_models(self, task: str) -> set[str]:
        """The models with a fit stored on `task`."""
        frame = self._task_query("SELECT DISTINCT model FROM task_fits WHERE task = ?", [task])
        return set(frame["model"]) if not frame.empty else set()

    def task_results(self, task: str) -> tuple:
        """The Your task page's reads of `task`, on one connection (a cold page pays one connect): five frames,

            rows        model, method, k, i, correct, conf, brier, prob_true, pred, draws: per candidate and clean
                        test image, k-shot only at the model's largest k, averaged over its draws
            bits        model, k, i, bits, drawn: each k-shot draw's correctness as one bit of a 64-bit integer
            corrupted   model, method, i, correct: the mean over the corrupted conditions
            conditions  model, method, condition, accuracy, n: per corrupted condition
            costs       `task_costs`

        where `i` is the image's position among the task's test images ordered by image_id (20,000 images ×
        30 candidates of id strings cost seconds to convert and map). Empty frames for a store without tasks."""
        index_cte = ("idx AS (SELECT image_id, (row_number() OVER (ORDER BY image_id) - 1)::INTEGER AS i "
                     "FROM task_images WHERE task = ? AND split = 'test')")
        rows_sql = (
            f"WITH top AS (SELECT model, max(k) AS k FROM task_fits WHERE task = ? AND method = 'k-shot' GROUP BY "
            f"model), {index_cte} SELECT p.model, p.method, p.k, idx.i, avg(p.correct::DOUBLE) AS correct, "
            "avg(p.conf) AS conf, avg(p.brier) AS brier, avg(p.prob_true) AS prob_true, min(p.pred) AS pred, "
            "count(*) AS draws FROM task_predictions p JOIN idx USING (image_id) LEFT JOIN top USING (model) "
            "WHERE p.task = ? AND p.condition = 'clean' AND (p.method <> 'k-shot' OR p.k = top.k) GROUP BY ALL")
        bits_sql = (
            f"WITH {index_cte} SELECT model, k, idx.i, bit_or(correct::BIGINT << draw) AS bits, "
            "bit_or(1::BIGINT << draw) AS drawn FROM task_predictions JOIN idx USING (image_id) WHERE task = ? AND "
            "method = 'k-shot' GROUP BY ALL")
        # aggregated here: 20,000 test images × 8 candidates × 15 conditions would be 2.4 M rows in pandas
        corrupted_sql = (
            f"WITH {index_cte} SELECT model, method, idx.i, avg(correct::DOUBLE) AS correct FROM task_predictions "
            "JOIN idx USING (image_id) WHERE task = ? AND condition <> 'clean' GROUP BY ALL ORDER BY ALL")
        conditions_sql = ("SELECT model, method, condition, avg(correct::DOUBLE) AS accuracy, count(*) AS n FROM "
                          "task_predictions WHERE task = ? AND condition <> 'clean' GROUP BY ALL ORDER BY ALL")
        return tuple(self._task_reads([(rows_sql, [task, task, task]), (bits_sql, [task, task]),
                                       (corrupted_sql, [task, task]), (conditions_sql, [task]),
                                       (self.TASK_COSTS_SQL, [task])]))

    def task_row_counts(self, task: str) -> dict[str, int]:
        """Rows per task table (what a rerun must not change)."""
        counts = {}
        for table, column in (("task_images", "task"), ("task_fits", "task"), ("task_predictions", "task"),
                              ("task_costs", "task")):
            frame = self._task_query(f"SELECT count(*) AS n FROM {table} WHERE {column} = ?", [task])
            counts[table] = int(frame["n"][0]) if not frame.empty else 0
        frame = self._task_query("SELECT count(*) AS n FROM task_features")
        counts["task_features"] = int(frame["n"][0]) if not frame.empty else 0
        return counts

    # races -----------------------------------------------------------------------------------------
    def write_task_race(self, task: str, record: dict) -> None:
        """The task's last race (`core.task.race`): a JSON record replacing the previous one."""
        with self._task_writer() as connection:
            connection.execute("INSERT OR REPLACE INTO task_races VALUES (?, ?, now())",
                               [task, json.dumps(record, default=float)])

    def task_race(self, task: str) -> dict | None:
        """The task's last race record, or None (never raced, or a store from before races)."""
        frame = self._task_query("SELECT record FROM task_races WHERE task = ?", [task])
        return json.loads(frame["record"][0]) if not frame.empty else None
