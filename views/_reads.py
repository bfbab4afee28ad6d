"""Cached reads of the results store for the pages, shared by every session and keyed by the runs they read.

Each read opens a short read-only connection (never a cached handle); see views._cache for the keys.

A finished run cannot change, so everything read or computed from it is keyed by its run key (run id, status,
rows stored): an evaluation that commits rows to one run every second leaves every other run's cached reads
in place, and pages whose runs did not change reuse everything. The list of runs follows the store version,
read again at most every few seconds while a run is running, so a view that includes the running run shows
its new rows that often. Each missing key is computed once across sessions (single-flight).

Every function returns a copy a page may change (a frame, or a tuple of frames), never the cached object.
"""

from __future__ import annotations

import threading

from views._cache import RunsSnapshot, cache, fresh, memo

__all__ = ["store_version", "runs_table", "keys_of", "done_runs_key", "predictions", "probes_table", "list_version",
           "read_file", "thumbnail", "bootstrap_counts", "calibration_columns", "prefetch_calibration_columns",
           "calibration_summary",
           "temperature_scaled", "accuracy_counts", "robustness_table", "imagenet_x_ratios",
           "imagenet_x_slice_summary",
           "shape_bias_tables", "stored_paths", "cue_conflict_paths", "findings_key", "findings_results"]


def _store():
    from core.store import ResultsStore

    return ResultsStore()


def store_version() -> str:
    """Changes when an evaluation commits: the key of lists (runs, probes, pins), never of a run's rows."""
    return _store().version()


_SNAPSHOTS: dict[str, RunsSnapshot] = {}
_SNAPSHOTS_LOCK = threading.Lock()


def _snapshot() -> RunsSnapshot:
    from core.store import results_path

    path = str(results_path())
    with _SNAPSHOTS_LOCK:
        if path not in _SNAPSHOTS:
            _SNAPSHOTS[path] = RunsSnapshot(lambda: _plain_strings(_store().runs()), lambda: _store().version(),
                                            store=path)
        return _SNAPSHOTS[path]


def _plain_strings(frame):
    """Text columns as Python objects: the pages filter the runs list many times per open, and a mask over
    Arrow-backed strings costs about twice as much (the list is a few hundred rows at most)."""
    text = {name: object for name, dtype in frame.dtypes.items() if str(dtype) in ("str", "string")}
    return frame.astype(text) if text else frame


def runs_table():
    """Every run in the results store with its progress (`done`) and status (a copy)."""
    return fresh(_snapshot().get())


def keys_of(run_ids) -> tuple:
    """Run keys (run id, status, rows) of these runs, from the current runs list."""
    return _snapshot().keys(run_ids)


def done_runs_key() -> tuple:
    """The keys of every finished run: what the Findings read (a running run does not change them)."""
    return tuple(key for key in _snapshot().keys() if key[1] == "done")


# --- per-run reads --------------------------------------------------------------------------------

@memo(64, name="reads.predictions")
def _predictions(keys: tuple, columns: tuple[str, ...]):
    return _store().prediction_columns([key[0] for key in keys], columns)


def predictions(run_ids: tuple[str, ...], columns: tuple[str, ...]):
    """Per-image rows of some runs (only the columns a page needs)."""
    return fresh(_predictions(keys_of(run_ids), tuple(columns)))


@memo(32, name="reads.calibration_columns")
def _calibration_columns(key: tuple):
    return _store().calibration_columns(key[0])


def calibration_columns(run_id: str):
    return fresh(_calibration_columns(keys_of([run_id])[0]))


def _prefetch(cached, keys, read_all) -> None:
    """Fills the entries of `cached` (a one-run-key `memo`) that two or more of `keys` lack with one
    `read_all(missing keys)` call, one value per key in order: a cold page reads its runs on one connection."""
    wanted = [key for key in dict.fromkeys(keys) if (key,) not in cached.cache]
    if len(wanted) < 2:
        return
    for key, value in zip(wanted, read_all(wanted)):
        cached.cache.get((key,), lambda value=value: value)


def prefetch_calibration_columns(run_ids) -> None:
    """The calibration columns of every run not cached yet, a query per run on one connection (a cold open of
    Calibration paid a connection per run), cached where `calibration_columns` finds them."""
    _prefetch(_calibration_columns, keys_of(list(run_ids)),
              lambda keys: _store().calibration_columns_each([key[0] for key in keys]))


@memo(4, name="reads.bootstrap_counts")
def bootstrap_counts(n_items: int, n_resamples: int, seed: int = 0):
    """Resample counts shared by every run of the same size (read-only; see core.metrics.bootstrap_counts)."""
    from core.metrics import bootstrap_counts as counts

    # float64 once (120 MB for 300 × 50,000): each ECE interval is then one BLAS product, ~0.05 s
    return counts(n_items, n_resamples=n_resamples, seed=seed).astype("float64")


@memo(32, name="reads.temperature_scaled")
def _temperature_scaled(key: tuple):
    """(held-out columns under the fitted temperature, temperature, note) of one run, from the fit kept in the
    store: no logits read. A run without a stored fit is fitted here once; the fit is stored unless view mode
    is on (then it is computed for display only). (unscaled columns, None, note) when there is nothing to fit."""
    from core.config import view_only
    from core.store import StoreLocked
    from core.analysis.temperature import fit_run, stored_temperature

    run_id = key[0]
    store = _store()
    unscaled = _calibration_columns(key)
    found = stored_temperature(store, run_id, len(unscaled))
    if found is not None:
        return found.columns, found.temperature, ""
    runs = _snapshot().get()
    subset = runs.loc[runs["run_id"] == run_id, "class_subset"]
    try:
        found = fit_run(store, run_id, subset.iloc[0] if len(subset) else None)
    except ValueError as error:  # e.g. no labelled image: the unscaled numbers, and why
        return unscaled, None, f"Temperature scaling of run {run_id} is not possible: {error}"
    if found is None:  # fewer than 4 images with logits
        return unscaled, None, ""
    if view_only():
        return found.columns, found.temperature, (
            f":material/visibility: The temperature fit of run {run_id} is computed for display only (view mode "
            "saves nothing); python -m core calibrate --all stores it.")
    try:
        store.write_temperature_fit(run_id, found.record, found.columns)
    except Exception as error:  # noqa: BLE001 - busy or read-only store: shown now, fitted again next time
        import logging

        logging.getLogger("beyond_accuracy").warning("temperature fit of %s not stored: %s", run_id, error)
        why = "the results store stayed busy" if isinstance(error, StoreLocked) else str(error)
        return found.columns, found.temperature, (
            f":material/lock: The temperature fit of run {run_id} is shown but not saved ({why}). "
            "Save it with: python -m core calibrate --all")
    return found.columns, found.temperature, ""


def temperature_scaled(run_id: str):
    """(columns, temperature, note to show or "") of one run under temperature scaling."""
    return fresh(_temperature_scaled(keys_of([run_id])[0]))


@memo(128, name="reads.calibration_summary")
def _calibration_summary(key: tuple, n_bins: int, scaled: bool):
    from core.analysis.tables import calibration_summary as summarise

    if scaled:
        columns, temperature, note = _temperature_scaled(key)
    else:
        columns, temperature, note = _calibration_columns(key), None, ""
    if columns.empty:
        return None
    summary, bins = summarise(columns, n_bins=n_bins, counts=bootstrap_counts(len(columns), 300))
    return {**summary, "temperature": temperature}, bins, note


def calibration_summary(run_id: str, n_bins: int, scaled: bool):
    """(summary dict, reliability bins, note) of one run, or None when it stored no logits."""
    found = _calibration_summary(keys_of([run_id])[0], int(n_bins), bool(scaled))
    return None if found is None else ({**found[0]}, found[1].copy(), found[2])


_COUNTS_BATCH = cache("reads.accuracy_counts_batch", 16)
_COUNTS = cache("reads.accuracy_counts", 1024)


def accuracy_counts(run_ids: tuple[str, ...], by_condition: bool, real: bool):
    """Per run (and condition): readable images and correct ones. Counted per run and cached by run key: a
    commit to one run recounts only that run; runs not cached yet are counted together in one pass."""
    import pandas as pd

    keys = keys_of(run_ids)
    missing = tuple(key for key in keys if (key, by_condition, real) not in _COUNTS)
    if missing:
        counted = _COUNTS_BATCH.get((missing, by_condition, real), lambda: _store().accuracy_counts(
            [key[0] for key in missing], by_condition=by_condition, real=real))
        for key in missing:
            _COUNTS.get((key, by_condition, real), lambda key=key: counted[counted["run_id"] == key[0]])
    parts = [_COUNTS.get((key, by_condition, real), lambda key=key: _store().accuracy_counts(
        [key[0]], by_condition=by_condition, real=real)) for key in keys]
    if not parts:
        return _store().accuracy_counts([], by_condition=by_condition, real=real)
    return pd.concat(parts, ignore_index=True)


_ROBUSTNESS = cache("reads.robustness_table", 32)


def robustness_table(runs):
    """Top-1 with intervals per run and benchmark (ImageNet-ReaL from the val runs) of the runs in `runs`,
    cached by their run keys (the bootstrap intervals are the costly part)."""
    from core.analysis.tables import robustness_table as table

    run_ids = tuple(runs["run_id"])
    return fresh(_ROBUSTNESS.get(keys_of(run_ids), lambda: table(runs, accuracy_counts(run_ids, True, False),
                                                                  accuracy_counts(run_ids, False, True))))


@memo(32, name="reads.imagenet_x_rows")
def _imagenet_x_rows(key: tuple) -> dict:
    """A run's readable predictions of images ImageNet-X annotates: `match` (row of `imagenet_x_annotations()`),
    `pred`, `path` (numpy arrays, shared: read-only)."""
    return _read_imagenet_x_rows((key,))[0]


def _read_imagenet_x_rows(keys) -> list[dict]:
    from core.data.imagenet_x import imagenet_x_annotations

    names = imagenet_x_annotations()["file_name"]
    return _store().rows_by_file_name([key[0] for key in keys], names, ("pred", "path"))




@memo(32, name="reads.imagenet_x_ratios")
def _imagenet_x_ratios(key: tuple):
    from core.analysis.tables import matched_error_ratio_table

    found = _imagenet_x_rows(key)
    return matched_error_ratio_table({key[0]: (found["match"], found["pred"])})


def imagenet_x_ratios(run_ids: tuple[str, ...]) -> list:
    """ImageNet-X error ratios of each run, in order (ValueError when a run has no annotated file name); the
    runs not cached yet are read on one connection."""
    keys = keys_of(run_ids)
    if not all((key,) in _imagenet_x_ratios.cache for key in keys):
        _prefetch(_imagenet_x_rows, keys, _read_imagenet_x_rows)  # one connection, a query per run
    return [fresh(_imagenet_x_ratios(key)) for key in keys]


@memo(16, name="reads.imagenet_x_multi")
def _imagenet_x_multi(key: tuple):
    from core.analysis.tables import matched_slice_rows

    found = _imagenet_x_rows(key)
    return matched_slice_rows(found["match"], found["pred"], found["path"])


@memo(64, name="reads.imagenet_x_slice_summary")
def _imagenet_x_slice_summary(key: tuple, factors: tuple[str, ...], n_resamples: int):
    import numpy as np

    from core.analysis.tables import count_accuracy

    annotated = _imagenet_x_multi(key)  # the join with the annotations, cached per run; a slice is a mask
    mask = np.ones(len(annotated), dtype=bool)
    for factor in factors:
        mask &= annotated[factor].to_numpy().astype(bool)
    rows = annotated[mask]
    if not len(rows):
        return {"accuracy": None, "ci_low": None, "ci_high": None, "n": 0}, rows.iloc[0:0]
    wrong = rows.loc[~rows["correct"].to_numpy(dtype=bool), ["path", "class", "pred"]].reset_index(drop=True)
    return count_accuracy(int(rows["correct"].sum()), len(rows), n_resamples=n_resamples), wrong


def imagenet_x_slice_summary(run_id: str, factors: tuple[str, ...], n_resamples: int = 300):
    """(accuracy with its bootstrap interval and n, the wrong rows: path, class, pred) of one run on the images
    that have every factor; cached by run key and factors (a page open does no per-row work)."""
    found, wrong = _imagenet_x_slice_summary(keys_of([run_id])[0], tuple(factors), int(n_resamples))
    return dict(found), wrong.copy()


_COLUMNS_CUE = ("image_id", "path", "shape", "texture", "decision16")


@memo(64, name="reads.shape_bias_maker")
def _maker_tables(keys: tuple, maker: str):
    """(overall row, per-class rows) of one decision maker (its runs: one, or the pooled human observers).
    Each maker's interval is bootstrapped on its own decisions alone, so a maker's tables do not depend on
    the others: a commit to one run recomputes only its maker's."""
    from core.analysis.tables import shape_bias_class_table, shape_bias_table

    rows = _predictions(keys, _COLUMNS_CUE).sort_values(["run_id", "image_id"], kind="stable")  # a fixed order:
    rows = rows.assign(maker=maker)[["image_id", "shape", "texture", "decision16", "maker"]]  # the bootstrap's rows
    return (shape_bias_table(rows, counts_for=lambda n: bootstrap_counts(n, 1000, 0)),  # shared by equal sizes
            shape_bias_class_table(rows))


@memo(16, name="reads.decision_gallery")
def _gallery(by_maker: tuple):
    """The gallery's decisions per image and maker, from each maker's rows (read and cached per maker)."""
    from core.analysis.tables import decision_gallery

    import pandas as pd

    rows = pd.concat([_predictions(keys, _COLUMNS_CUE).assign(maker=maker) for maker, keys in by_maker],
                     ignore_index=True)
    return decision_gallery(rows[["image_id", "shape", "texture", "decision16", "maker"]])


def _prefetch_cue_rows(groups: list[tuple]) -> None:
    """Reads the cue-conflict rows of every group of run keys not cached yet on one connection, a query per run
    (a cold page open asked once per maker and once more per run for its paths, a connection each), and caches
    each group's rows and each run's own rows under the keys `_predictions` uses."""
    import pandas as pd

    wanted = {keys for keys in groups if (keys, _COLUMNS_CUE) not in _predictions.cache}
    wanted |= {(key,) for keys in groups for key in keys if ((key,), _COLUMNS_CUE) not in _predictions.cache}
    if len(wanted) < 2:
        return
    runs = sorted({key for keys in wanted for key in keys})
    frames = _store().prediction_columns_each([key[0] for key in runs], _COLUMNS_CUE)
    by_run = dict(zip(runs, frames))
    for keys in wanted:
        part = by_run[keys[0]] if len(keys) == 1 else pd.concat([by_run[key] for key in keys], ignore_index=True)
        _predictions.cache.get((keys, _COLUMNS_CUE), lambda part=part: part)


def shape_bias_tables(selected):
    """(overall, per class, gallery) of the cue-conflict runs in `selected` (columns run_id, maker), makers in
    `selected`'s order; each maker's tables cached by its runs' keys."""
    import pandas as pd

    makers = tuple(zip(selected["run_id"].astype(str), selected["maker"].astype(str)))
    by_maker: dict[str, list[str]] = {}
    for run_id, maker in makers:
        by_maker.setdefault(maker, []).append(run_id)
    keyed = tuple((maker, keys_of(run_ids)) for maker, run_ids in by_maker.items())
    _prefetch_cue_rows([keys for _, keys in keyed])
    parts = [_maker_tables(keys, maker) for maker, keys in keyed]
    overall = pd.concat([part[0] for part in parts], ignore_index=True) if parts else pd.DataFrame()
    per_class = pd.concat([part[1] for part in parts], ignore_index=True) if parts else pd.DataFrame()
    return overall, per_class, fresh(_gallery(keyed)) if keyed else pd.DataFrame()


@memo(8, name="reads.probes")
def _probes(store: str, version: str):
    return _store().probes()


def list_version() -> str:
    """The key of the store's lists (probes, pins): the version the runs list was read at, so they refresh
    with it (at once when the store changes, at most every few seconds while an evaluation commits)."""
    return str(_snapshot().version)


def probes_table():
    from core.store import results_path

    return fresh(_probes(str(results_path()), list_version()))


def read_file(path: str) -> bytes:
    """Bytes of a dataset file the store points to (pages do no file I/O of their own); `path` as stored
    (`core.data.base.name_text`)."""
    from core.data.base import text_name

    with open(text_name(path), "rb") as handle:
        return handle.read()


_THUMBNAILS = cache("reads.thumbnails", 4096)


def thumbnail(path: str, size: int = 160) -> bytes | None:
    """A small JPEG of a dataset image (bytes, for `st.image(..., output_format="JPEG")`), or None if the file
    is gone or unreadable. Encoded once per file version and shared by every session: a gallery page shows
    the same 24 images to each viewer, and decoding, resizing and re-encoding them was most of its CPU."""
    import os

    from core.data.base import text_name

    path = text_name(path)  # as stored: a name that is not UTF-8 is escaped (`core.data.base.name_text`)
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _THUMBNAILS.get((path, stat.st_mtime_ns, stat.st_size, size), lambda: _encode_thumbnail(path, size))


def _encode_thumbnail(path: str, size: int) -> bytes | None:
    import io

    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((size, size))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=88)
            return buffer.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


@memo(256, name="reads.stored_paths")
def _stored_paths(key: tuple) -> dict[str, str]:
    rows = _predictions((key,), _COLUMNS_CUE)  # read with the makers' rows (`_prefetch_cue_rows`)
    rows = rows[rows["path"].notna()]
    return dict(zip(rows["image_id"].astype(str), rows["path"].astype(str)))


def stored_paths(run_ids: tuple[str, ...], image_ids: tuple[str, ...]) -> dict[str, str]:
    """{image_id: path} of these images as stored by the first of the runs that has each (imported decisions
    store none); each run's map is read once per run key."""
    maps = [_stored_paths(key) for key in keys_of(run_ids)]
    found: dict[str, str] = {}
    for image_id in image_ids:
        for paths in maps:
            if image_id in paths:
                found[image_id] = paths[image_id]
                break
    return found


def cue_conflict_paths(image_ids: tuple[str, ...]) -> dict[str, str]:
    """Where each cue-conflict image is on this machine: the same id in the downloaded copy or in the
    folder of any measured cue-conflict run (imported decisions carry no path)."""
    from core.data.cue_conflict import find_cue_conflict_images
    from core.data.download import data_dir

    runs = _snapshot().get()
    measured = runs[(runs["benchmark"] == "cue-conflict") & (runs["source"] == "ours")] if not runs.empty else runs
    folders = (str(data_dir() / "cue-conflict"), *([] if measured.empty else measured["data_root"].dropna()))
    return find_cue_conflict_images(image_ids, folders)  # 24 file checks: not cached, so a new download shows


# --- Findings ------------------------------------------------------------------------------------------

def findings_key() -> tuple:
    """What the verdicts read: the finished runs (an evaluation writing to a running run changes none of them)
    and the linear probes."""
    probes = probes_table()
    return done_runs_key(), tuple(probes["probe_id"].astype(str)) if "probe_id" in probes else ()


def findings_results(key: tuple):
    """The claims' results for `key` (from `findings_key`), computed once across sessions (the others wait for
    it); shared, read-only."""
    return cache("findings.results", 4).get(key, _assess)


def _assess():
    """Every claim's result from the evidence, each section (val, robustness, cue-conflict, …) cached by the
    keys of its own runs: a finished cue-conflict run recomputes the shape-bias evidence, not the rest."""
    from concurrent.futures import ThreadPoolExecutor

    from core.analysis import evidence as found

    store, runs = _store(), _snapshot().get()
    # the sections side by side: one's DuckDB scan (robustness: ImageNet-C's 3 million rows) runs while another's
    # bootstrap (val) computes; the longest scan first
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="findings-section") as pool:
        pending = {name: pool.submit(section_evidence, store, runs, name)
                   for name in ("robustness", "val", "shape_bias", "pug", "invariance", "transfer")}
    parts: dict = {}
    for name in found.SECTIONS:
        parts.update(pending[name].result())
    return found.assess(parts)


def section_evidence(store, runs, name: str) -> dict:
    """One section's evidence (`core.analysis.evidence.collect_section`) of `runs`, cached by the keys of the runs
    it reads: the Findings' claims and the card beyond the paper share the robustness section's reads."""
    from core.analysis import evidence as found

    # the probes as `findings_key` read them (cached), not a second read of the store
    used = probes_table() if name == "transfer" else found.section_inputs(runs, name, store)
    if name == "transfer":
        inputs = tuple(used["probe_id"].astype(str)) if "probe_id" in used else ()
    else:
        inputs = keys_of(used["run_id"]) if len(used) else ()
    return cache("findings.evidence", 32).get((str(store.path), name, inputs),
                                              lambda: found.collect_section(store, name, used))
