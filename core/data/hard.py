"""ImageNet-Hard (Taesiri et al., NeurIPS 2023 D&B): the Hugging Face dataset `taesiri/imagenet-hard`.

Stored as parquet files: each row holds an image (bytes) and a list of valid ImageNet labels; a
prediction is correct if it is any of them. The dataset's row count changed between revisions of the
hub repository (13,925 rows on the card of 31 March 2023, 10,980 in its metadata since May 2023), and
some revisions hold two shard sets in `data/` at once: a folder is one shard set, and its rows must
match its download manifest (core/data/manifest.py) or, for a copy without one, a count the card published.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from core.data.base import Adapter, Item, Problem, missing_root, name_text
from core.data.manifest import read_manifest

__all__ = ["ImageNetHard", "HARD_ROWS", "HARD_CARD_ROWS"]

HARD_ROWS = 10_980
"""Rows at the pinned revision (card metadata `num_examples`; core/data/sources.py)."""
HARD_CARD_ROWS = (10_980, 13_925)
"""Row counts the dataset card's metadata has published (latest first): what a copy without a manifest may hold."""
_SHARD_SET = re.compile(r"-of-(\d+)")


def _parquet_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


@lru_cache(maxsize=4)
def _table(path: str):
    import pyarrow.parquet as pq

    with open(path, "rb") as handle:  # a Python file: pyarrow cannot encode a path whose name is not UTF-8
        return pq.read_table(handle, columns=["image", "label"])


class ImageNetHard(Adapter):
    expected_layout = "the dataset's parquet files, one shard set (data/validation-*-of-N-*.parquet)"
    obtain = "Run: python -m core download imagenet-hard"

    def validate(self, root: Path) -> list[Problem]:
        problems = missing_root(root, self.expected_layout, self.obtain)
        if problems:
            return problems
        files = _parquet_files(root)
        if not files:
            return [Problem(str(root), self.expected_layout, "no .parquet file", self.obtain)]
        sets = sorted({found.group(0) for path in files if (found := _SHARD_SET.search(path.name))})
        if len(sets) > 1:
            return [Problem(str(root), "one shard set", f"{len(sets)} ({', '.join(sets)}), as some hub revisions "
                            "hold", "Keep one set's files (rows would count twice), or " + self.obtain[0].lower() +
                            self.obtain[1:])]
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
        if problems:
            return problems
        manifest = read_manifest(root)
        if manifest is not None and rows != manifest.images:
            problems.append(Problem(str(root), f"{manifest.images:,} rows (its download manifest, revision "
                                    f"{manifest.revision[:7] or 'unknown'})", f"{rows:,}",
                                    f"Files were added or removed since the download. {self.obtain}"))
        elif manifest is None and rows not in HARD_CARD_ROWS:
            expected = " or ".join(f"{count:,}" for count in HARD_CARD_ROWS)
            problems.append(Problem(str(root), f"{expected} rows (dataset card)", f"{rows:,}",
                                    f"The copy looks incomplete or is a revision whose count is unknown. {self.obtain} "
                                    "(add --revision COMMIT for another revision)."))
        return problems

    def items(self, root: Path) -> list[Item]:
        items = []
        for path in _parquet_files(root):
            labels = _table(str(path)).column("label").to_pylist()
            relative = name_text(path.relative_to(root).as_posix())
            for row, valid in enumerate(labels):
                valid = tuple(int(label) for label in (valid if isinstance(valid, list) else [valid]))
                items.append(Item(f"{relative}:{row}", str(path), valid[0] if valid else -1, valid, row=row))
        return items

    def read_bytes(self, item: Item) -> bytes:
        image = _table(item.path).column("image")[item.row].as_py()
        return image["bytes"] if isinstance(image, dict) else image

    def revision(self, root: Path) -> str:
        """The download manifest's revision; else the hub snapshot (commit) when the files sit in a Hugging
        Face cache folder, labelled as the unverified copy it is."""
        described = super().revision(root)
        if read_manifest(root) is not None:
            return described
        parts = root.resolve().parts
        if "snapshots" in parts and parts.index("snapshots") + 1 < len(parts):
            return f"{described} (hub snapshot {parts[parts.index('snapshots') + 1]})"
        return described
