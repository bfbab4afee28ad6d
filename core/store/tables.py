"""The store's columnar format: prediction rows and float16 logits as Arrow tables.

`RowBlock`s become Arrow tables with the store's column types here, for the writer, the Parquet
logits files and the Ray path's shards alike, so every path stores exactly the same values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.store.schema import PREDICTION_COLUMNS, RowBlock

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = ["shard_table"]


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
