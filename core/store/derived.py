"""Results derived from a run after it was written: temperature fits, probe features and linear probes."""

from __future__ import annotations

__all__ = ["DerivedResults"]


class DerivedResults:
    """Temperature fits, features and probes of `ResultsStore` (a mixin: it uses the store's connections)."""

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
