"""ImageNet-Hard (Taesiri et al., NeurIPS 2023 D&B): the Hugging Face dataset `taesiri/imagenet-hard`.

Stored as parquet files: each row holds an image (bytes) and a list of valid ImageNet labels; a
prediction is correct if it is any of them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from core.data.base import Adapter, Item, Problem, missing_root

__all__ = ["ImageNetHard", "HARD_ROWS"]

HARD_ROWS = 13_925
"""Rows listed on the dataset card."""


def _parquet_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


@lru_cache(maxsize=4)
def _table(path: str):
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=["image", "label"])


class ImageNetHard(Adapter):
    expected_layout = "the dataset's parquet files (data/validation-*.parquet)"
    obtain = "Run: python -m core download imagenet-hard"

    def validate(self, root: Path) -> list[Problem]:
        problems = missing_root(root, self.expected_layout, self.obtain)
        if problems:
            return problems
        files = _parquet_files(root)
        if not files:
            return [Problem(str(root), self.expected_layout, "no .parquet file", self.obtain)]
        import pyarrow.parquet as pq

        rows = 0
        for path in files:
            try:
                schema = pq.read_schema(path)
                rows += pq.ParquetFile(path).metadata.num_rows
            except Exception as error:  # noqa: BLE001 - any unreadable file is a problem to report
                problems.append(Problem(str(path), "a readable parquet file", f"an error ({error})", self.obtain))
                continue
            if not {"image", "label"} <= set(schema.names):
                problems.append(Problem(str(path), "columns image and label", ", ".join(schema.names), self.obtain))
        if not problems and rows != HARD_ROWS:
            problems.append(Problem(str(root), f"{HARD_ROWS:,} rows (dataset card)", f"{rows:,}",
                                    f"The download looks incomplete or is another revision. {self.obtain}"))
        return problems

    def items(self, root: Path) -> list[Item]:
        items = []
        for path in _parquet_files(root):
            labels = _table(str(path)).column("label").to_pylist()
            relative = path.relative_to(root).as_posix()
            for row, valid in enumerate(labels):
                valid = tuple(int(label) for label in (valid if isinstance(valid, list) else [valid]))
                items.append(Item(f"{relative}:{row}", str(path), valid[0] if valid else -1, valid, row=row))
        return items

    def read_bytes(self, item: Item) -> bytes:
        image = _table(item.path).column("image")[item.row].as_py()
        return image["bytes"] if isinstance(image, dict) else image

    def revision(self, root: Path) -> str:
        """The hub snapshot (commit) the files came from, when they sit in a Hugging Face cache folder."""
        parts = root.resolve().parts
        if "snapshots" in parts and parts.index("snapshots") + 1 < len(parts):
            return parts[parts.index("snapshots") + 1]
        return "unknown (not in a Hugging Face cache snapshot)"
