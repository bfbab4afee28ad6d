"""ImageNet-X annotations (Idrissi et al., ICLR 2023): factors of variation per ImageNet val image.

Read from the `imagenet-x` package (its files are CC BY-NC: read in place, never copied here).
"""

from __future__ import annotations

from functools import lru_cache

from core.data.imagenet import imagenet_x_file

__all__ = ["FACTORS", "imagenet_x_annotations"]

FACTORS = ("pose", "background", "pattern", "color", "smaller", "shape", "partial_view", "subcategory", "texture",
           "larger", "darker", "object_blocking", "person_blocking", "style", "brighter", "multiple_objects")

_TYPES = {"file_name": "VARCHAR", "class": "BIGINT", **{factor: "BIGINT" for factor in FACTORS}}
"""The columns read, typed as a generic JSON reader infers them (string, int64): the frame stays the same."""


@lru_cache(maxsize=4)
def imagenet_x_annotations(which: str = "top", filter_prototypes: bool = True):
    """One row per annotated val image, in the file's order: `file_name`, `class` and a 0/1 column per
    factor (int64).

    which: `top` (each image's most salient factor; the package's default and the paper's) or
    `multi` (every factor annotators marked). filter_prototypes drops the prototypical images the
    annotators were shown (46,110 of 50,000 val images remain), as the package does by default.
    """
    import pyarrow.compute as pc
    import pyarrow.csv

    if which not in ("top", "multi"):
        raise ValueError(f"Expected `which` in top|multi, got {which!r}.")
    table = _read_columns(imagenet_x_file(f"imagenet_x_val_{which}_factor.jsonl"))
    if filter_prototypes:
        prototypes = pyarrow.csv.read_csv(imagenet_x_file("prototypical_paths.csv")).column("file_name")
        table = table.filter(pc.invert(pc.is_in(table.column("file_name"), value_set=prototypes)))
    return table.to_pandas()


def _read_columns(path):
    """The `_TYPES` columns of a JSON-lines file as an Arrow table, in file order. DuckDB's reader, told the
    columns, skips the free-text fields (two thirds of the 17 MB); with the prototype filter in Arrow (a pandas
    `isin` over the names cost 0.04 s) a page's first open reads a file in about 0.14 s instead of 0.25 s
    (pyarrow.json plus pandas). tests/unit/data/test_imagenet_x.py checks the frame against that path."""
    import duckdb

    schema = ", ".join(f"'{name}': '{kind}'" for name, kind in _TYPES.items())
    columns = ", ".join(f'"{name}"' for name in _TYPES)
    with duckdb.connect() as connection:  # in memory; insertion order is kept (DuckDB's default)
        return connection.sql(f"SELECT {columns} FROM read_json(?, format = 'newline_delimited', "
                              f"columns = {{{schema}}})", params=[str(path)]).to_arrow_table()
