"""Importing decisions made elsewhere: the paper authors' released cue-conflict decisions and the
human observers of model-vs-human, stored as runs of their own source beside ours."""

from __future__ import annotations

from pathlib import Path

from core.errors import UserError
from core.run.evaluation import run_id_for

__all__ = ["import_decisions", "import_author_decisions", "import_human_decisions"]


def import_decisions(files: dict, source: str, store=None, say=print) -> list[str]:
    """Store model-vs-human style decision CSVs ({path: model key}) as cue-conflict runs of `source`."""
    import hashlib

    from core.data.cue_conflict import read_decisions
    from core.store import ResultsStore, RunInfo

    store = store or ResultsStore()
    imported = []
    for path, model in files.items():
        path = Path(path)
        content_hash = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        rows = read_decisions(path)
        run_id = run_id_for(source=source, model=model, file=content_hash)
        info = RunInfo(run_id, model, "cue-conflict", "", "paper", len(rows), source=source,
                       convention=f"decisions from {path.name}", data_root=str(path.parent),
                       data_fingerprint=content_hash)
        if store.start_run(info) != "done":
            store.write_batch([{"run_id": run_id, "image_id": row["image_id"], "path": None, "label": -1,
                                "labels": [], "shape": row["shape"], "texture": row["texture"],
                                "decision16": row["decision16"], "correct": row["decision16"] == row["shape"]}
                               for row in rows])
            store.finish_run(run_id, "done")
        say(f"{model}: {len(rows):,} decisions ({source}, {path.name})")
        imported.append(run_id)
    return imported


def import_author_decisions(folder, store=None, say=print) -> list[str]:
    """The paper authors' released cue-conflict decisions as runs of our model keys (source "authors"),
    so pages show them beside our own runs, labelled as theirs. A folder that is missing or holds none of
    them is a `UserError` with the command that fetches them, never an import of nothing."""
    from core.data.cue_conflict import AUTHOR_MODELS

    folder = _folder(folder, "paper-decisions")
    files = {}
    for name, model in AUTHOR_MODELS.items():
        path = folder / f"cue-conflict_{name}_session-1.csv"
        if path.exists():
            files[path] = model
        else:
            say(f"{path.name} not found in {folder}; skipped.")
    if not files:
        raise UserError(f"None of the paper authors' cue-conflict_<model>_session-1.csv files is in {folder}. "
                        "Run: python -m core download paper-decisions")
    return import_decisions(files, "authors", store, say)


def import_human_decisions(folder, store=None, say=print) -> list[str]:
    """The 10 human observers of model-vs-human as runs `human_01` … (source "humans"); a folder that is missing
    or holds none of their files is a `UserError` with the command that fetches them."""
    import re

    folder = _folder(folder, "human-decisions")
    files = {}
    for path in sorted(folder.glob("cue-conflict_subject-*_session_*.csv")):
        number = re.search(r"subject-(\d+)", path.name)[1]
        files[path] = f"human_{int(number):02d}"
    if not files:
        raise UserError(f"No cue-conflict_subject-*_session_*.csv files in {folder}. "
                        "Run: python -m core download human-decisions")
    return import_decisions(files, "humans", store, say)


def _folder(folder, download: str) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} does not exist. Run: python -m core download {download} (or name the folder that "
                        "holds the CSVs)")
    return folder
