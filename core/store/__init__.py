"""Stage 3 of the pipeline: the results store and the caches that keep results between sessions.

- `results`: `ResultsStore`, the DuckDB file of runs and per-image predictions (the one place that talks SQL)
- `schema`: tables, `RunInfo`, `RowBlock`, version checks and the schema-1 migration
- `writer`: `StoreWriter`, the evaluation's background writer
- `logits` / `tables`: the per-run Parquet logits files and the Arrow format rows and shards share
- `derived` / `pins`: temperature fits, probe features and probes; pinned charts
- `outcomes`: each finished run's per-image outcomes, packed when it finishes (read by `outcome_bits`)
- `cache`: the on-disk cache of single-image predictions (Compare, Invariance)

Importing this package needs duckdb, pyarrow and pandas at most (lazily), never torch or timm.
"""

from core.store.cache import content_key, prediction_cache, prediction_key
from core.store.results import ResultsStore
from core.store.schema import (PREDICTION_COLUMNS, SCHEMA_VERSION, RowBlock, RunInfo, SchemaMismatch, StoreLocked,
                               packages_json, results_path)
from core.store.tables import shard_table
from core.store.writer import StoreWriter, WriterStats

__all__ = ["content_key", "prediction_cache", "prediction_key", "SCHEMA_VERSION", "PREDICTION_COLUMNS", "ResultsStore", "StoreLocked",
           "SchemaMismatch", "results_path", "RunInfo", "RowBlock", "StoreWriter", "WriterStats", "shard_table",
           "packages_json"]
