"""The manifest `download` writes into each dataset folder: which publisher revision and which bytes it holds.

`download-manifest.json` names the source, the revision (a hub commit, or the URLs with the checksum each
was verified against and where that checksum came from), the file and class counts and the date. Its
`identity()` is a hash of the source, revision and file checksums: `evaluate` records it with each run
(`runs.data_revision`), so two revisions of one benchmark never share a run key or a chart. A folder
without a manifest (a user's own copy) still works and is labelled `UNVERIFIED`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["MANIFEST", "UNVERIFIED", "Manifest", "read_manifest", "write_manifest", "dataset_revision",
           "manifest_identity"]

MANIFEST = "download-manifest.json"
UNVERIFIED = "unverified copy"
"""What a run on a folder without a manifest records as its data revision."""


@dataclass(frozen=True)
class Manifest:
    """What one download put in a folder.

    Attributes:
        source: the `download` name (`imagenet-hard`).
        publisher: the hub repository (`taesiri/imagenet-hard`) or the publisher's page.
        revision: the hub commit, or "" for URL sources (their files' checksums identify them).
        pinned: whether `revision` is the one pinned in core/data/sources.py (False: chosen with --revision).
        files: per file: name, url, size, sha256 or md5, checksum_from.
        images: the image (or row) count found; `images_expected`: the published count it was checked
            against (0: none published for this revision, the count is only recorded).
        classes: class folders found (0 where the layout has none).
        downloaded: ISO date and time (UTC).
    """

    source: str
    publisher: str
    revision: str = ""
    pinned: bool = True
    files: tuple[dict, ...] = field(default=())
    images: int = 0
    images_expected: int = 0
    classes: int = 0
    downloaded: str = ""

    def identity(self) -> str:
        """12 hex digits over source, revision and every file's checksum: the same bytes give the same identity."""
        parts = [self.source, self.revision, *sorted(f"{f.get('name')}:{f.get('sha256') or f.get('md5') or f.get('size')}"
                                                    for f in self.files)]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]

    def describe(self) -> str:
        """One line for runs, pages and reports: `taesiri/imagenet-hard@32bfa94 · manifest 1a2b3c4d5e6f`."""
        where = f"{self.publisher}@{self.revision[:7]}" if self.revision else self.publisher
        chosen = "" if self.pinned else " (chosen, not the pinned revision)"
        return f"{where}{chosen} · manifest {self.identity()}"


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    """Write `manifest` into `folder` (atomically: a reader never sees half a file)."""
    path = Path(folder) / MANIFEST
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(asdict(manifest), indent=2, sort_keys=True) + "\n")
    os.replace(partial, path)
    return path


def read_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest, or None where there is none or it cannot be read (an unverified copy)."""
    try:
        data = json.loads((Path(folder) / MANIFEST).read_text())
        known = {name: data[name] for name in Manifest.__dataclass_fields__ if name in data}
        known["files"] = tuple(known.get("files") or ())
        return Manifest(**known)
    except (OSError, ValueError, TypeError):
        return None


def dataset_revision(folder: Path) -> str:
    """What a run on `folder` records as its data revision: the manifest's line, or `UNVERIFIED`."""
    manifest = read_manifest(folder)
    return manifest.describe() if manifest is not None else UNVERIFIED


def manifest_identity(folder: Path) -> str:
    """The folder's manifest identity, or "" for a folder without one (its run keys stay as they were)."""
    manifest = read_manifest(folder)
    return manifest.identity() if manifest is not None else ""
