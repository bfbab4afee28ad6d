"""Logits files: each run's float16 logits in append-only Parquet files under `<store>-logits/<run>/`.

Logits (2 KB per image, nine tenths of what a run writes) are not inserted into DuckDB: each commit
writes them to a Parquet file, before the rows that refer to them are committed, so a crash leaves at
most logits of uncommitted rows, which reads ignore. In DuckDB they would be written three times
(table, log, checkpoint) and make every open and checkpoint slower; as files they cost one sequential
write. `logits(run_id)` reads both places (stores written before kept them in the `logits` table).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from core.store.tables import _binary_matrix, _column, _empty_logits

__all__ = ["LogitFiles", "LOGIT_FILE_COLUMNS"]

LOGIT_FILE_COLUMNS = ("image_id", "logits")


class LogitFiles:
    """The logits-file half of `ResultsStore` (a mixin: it uses the store's path and connections)."""

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
            part = table.filter(pc.equal(table.column("run_id"), run_id)).select(list(LOGIT_FILE_COLUMNS))
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
                tables = [pq.read_table(path, columns=list(LOGIT_FILE_COLUMNS)) for path in self._logit_files(run_id)]
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
    def logits(self, run_id: str):
        """(image_ids, float32 array n × classes) of a run that stored logits, in image_id order."""
        table = self._stored_logits(run_id)
        return table.column("image_id").to_pylist(), _binary_matrix(table.column("logits"))
