"""Paper scale: how fast does every analysis page answer on a results store of the full study?

Builds (once) a store with the paper's four models × ImageNet val (50,000, with logits), V2 10,000,
A 7,500, R 30,000, Sketch 50,889, Hard 10,980 (with logits), C 750,000 (no logits) and cue-conflict
1,280 (with logits), plus the authors' and the human observers' cue-conflict decisions, written as
`evaluate` writes them: `core.run.rows.result_columns` on each batch of float16 logits, through the
background `StoreWriter` (real val file names, labels and ReaL labels from the imagenet-x package;
synthetic, seeded logits whose top-1 matches the paper's accuracy of each model on each benchmark), and
the temperature fit `evaluate` stores when it finishes an ImageNet val/R/A run (and, as `finish_run` does for every
run, its row counts and packed per-image outcomes; a store built by an earlier version gets them from `migrate` before
the timing, as from any writer of this version).
Then, in a fresh process, opens every analysis page and the Evaluations page with Streamlit's
AppTest (first open, then one widget change) and reports seconds, the process's peak RSS and which of
torch, timm and open_clip the process had imported after the page's first open.

    bash scripts/dev python bench/paper_scale.py [--store /tmp/paper_scale.duckdb] [--rebuild] [--repeat 3] [--cold]
        [--pages mistakes,calibration]

`--cold` opens each page (Home too) in a process of its own with a fresh, empty cache folder, as the first
page that fresh server shows (a newcomer following a link to it); without it, the pages share one process and
`cache/` beside the store, and each first open follows an untimed open of Home. `--pages` times only these pages
(comma-separated file names of views/, `home` too with `--cold`), in the order given.

The synthetic predictions are for timing only: never report them as results.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = ("vit_sup", "convnext_sup", "vit_clip", "convnext_clip")
# benchmark: (images, logits stored, 200-class subset)
SIZES = {"imagenet-val": (50_000, True, False), "imagenet-v2": (10_000, True, False),
         "imagenet-a": (7_500, True, True), "imagenet-r": (30_000, True, True),
         "imagenet-sketch": (50_889, True, False), "imagenet-hard": (10_980, True, False),
         "imagenet-c": (750_000, False, False), "cue-conflict": (1_280, True, False)}
SUBSET = list(range(0, 1000, 5))
BATCH = 8_192


def _accuracy(model: str, benchmark: str) -> float:
    from core.paper import paper_values

    table = paper_values("robustness_top1")
    found = table[(table["model"] == model) & (table["key"] == benchmark)]
    return float(found["value"].iloc[0]) if len(found) else 0.6


def _val_files() -> tuple[list[str], np.ndarray]:
    from core.data.imagenet import imagenet_x_file

    with open(imagenet_x_file("filename_label.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["file_name"] for row in rows], np.array([int(row["label"]) for row in rows])


def _items(benchmark: str, n: int, rng):
    """(image_ids, labels, conditions, shapes, textures) of a synthetic copy at the real size."""
    from core.data.cue_conflict import SIXTEEN_CLASSES
    from core.data.imagenet import CORRUPTIONS

    if benchmark == "imagenet-val":
        names, labels = _val_files()
        return names, labels, None, None, None
    if benchmark == "cue-conflict":
        ids, shapes, textures = [], [], []
        for i in range(n):
            shape, texture = SIXTEEN_CLASSES[i % 16], SIXTEEN_CLASSES[(i // 16 + i) % 16]
            ids.append(f"{shape}/{shape}{i // 16}-{texture}{i % 10}.png")
            shapes.append(shape)
            textures.append(texture)
        return ids, np.full(n, -1), None, shapes, textures
    classes = np.array(SUBSET) if SIZES[benchmark][2] else np.arange(1000)
    labels = classes[rng.integers(0, len(classes), n)]
    conditions = None
    if benchmark == "imagenet-c":
        conditions = [f"{CORRUPTIONS[(i // 50_000) % 15]}/{(i // 10_000) % 5 + 1}" for i in range(n)]
    return [f"{benchmark}/{i:07d}.JPEG" for i in range(n)], labels, conditions, None, None


def _real_for(ids: list[str]) -> list[list[int]]:
    """ImageNet-ReaL labels of val files, by the number in each file name (as the val adapter does)."""
    from core.data.imagenet import _VAL_FILE, _real_labels

    real = _real_labels()
    return [list(real[int(_VAL_FILE.search(name)[1]) - 1]) for name in ids]


def _write_run(writer, store, model: str, benchmark: str, rng) -> None:
    """One run's rows as `evaluate` produces them: `core.run.rows.result_columns` on each batch of (synthetic)
    logits, handed to the same background `StoreWriter` as `RowBlock`s."""
    from core.run.evaluation import run_id_for
    from core.run.rows import result_columns
    from core.store import RowBlock, RunInfo

    n, with_logits, subset = SIZES[benchmark]
    ids, labels, conditions, shapes, textures = _items(benchmark, n, rng)
    # a content key, as `evaluate` names its runs (`run_id_for`): DuckDB's zone maps skip other runs' row groups by
    # the id's first bytes, which a shared prefix such as "bench-…" would defeat (every read would scan every run)
    run_id = run_id_for(model=model, benchmark=benchmark, source="bench/paper_scale.py (synthetic)")
    store.start_run(RunInfo(run_id, model, benchmark, "", "paper", n, class_subset=json.dumps(SUBSET) if subset
                            else None, store_logits=with_logits, data_root="/synthetic"))
    accuracy = _accuracy(model, benchmark)
    real = _real_for(ids) if benchmark == "imagenet-val" else None
    classes = np.array(SUBSET) if subset else np.arange(1000)
    noise = 1.5 * rng.standard_normal((BATCH, 1000), dtype=np.float32)
    for start in range(0, n, BATCH):
        stop = min(start + BATCH, n)
        size = stop - start
        truth = labels[start:stop]
        hit = rng.random(size) < accuracy
        pred = np.where(hit & (truth >= 0), truth, classes[rng.integers(0, len(classes), size)])
        logits = noise[rng.integers(0, len(noise), size)]  # rows of a seeded pool: drawing 10⁹ normals is the slow part
        logits[np.arange(size), pred] += rng.uniform(3, 9, size).astype(np.float32)
        logits = logits.astype(np.float16)  # what the engine stores
        columns = result_columns(logits.astype(np.float32), labels=truth, class_subset=SUBSET if subset else None,
                                 shapes=shapes[start:stop] if shapes is not None else None)
        if not with_logits:  # ImageNet-C: no logits, so no calibration columns either (as evaluate writes it)
            for name in ("cal_conf", "cal_correct", "log_prob_true", "brier"):
                columns.pop(name, None)
        columns.update(run_id=[run_id] * size, image_id=ids[start:stop], label=truth.astype(np.int32),
                       labels=real[start:stop] if real is not None else [[] for _ in range(size)],
                       condition=conditions[start:stop] if conditions else None,
                       shape=shapes[start:stop] if shapes is not None else None,
                       texture=textures[start:stop] if textures is not None else None)
        writer.put(RowBlock(columns, logits if with_logits else None))
    writer.flush()
    store.finish_run(run_id, "done", images_per_s=100.0, device="synthetic")
    from core.analysis.temperature import calibrate_run, calibrated

    if calibrated(benchmark, store_logits=with_logits):  # what evaluate does when it finishes such a run
        began = time.perf_counter()
        calibrate_run(store, run_id, SUBSET if subset else None)
        print(f"    temperature fit of {run_id}: {time.perf_counter() - began:.1f} s", flush=True)


def build(path: Path) -> None:
    from core.config import shared_dir
    from core.run.decisions import import_author_decisions, import_human_decisions
    from core.store import ResultsStore

    began = time.perf_counter()
    store = ResultsStore(path, timeout_s=600)
    rng = np.random.default_rng(0)
    with store.writer() as writer:
        for model in MODELS:
            for benchmark in SIZES:
                _write_run(writer, store, model, benchmark, rng)
                print(f"  {model} {benchmark}: {SIZES[benchmark][0]:,} rows ({time.perf_counter() - began:.0f} s)",
                      flush=True)
    data = shared_dir() / "data"
    import_author_decisions(data / "cue-conflict-paper-models", store, say=lambda _: None)
    import_human_decisions(data / "cue-conflict-human", store, say=lambda _: None)
    print(f"built {path} ({path.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - began:.0f} s", flush=True)


# --- timing (run in a fresh process: AppTest runs the page in this process) --------------------

def _change(at, page: str) -> str:
    """One widget change per page, the kind a user makes while exploring (a rerun where the page shows
    only its empty state: the full-study store holds no PUG, invariance or probe results)."""
    try:
        return _change_widget(at, page)
    except KeyError:
        return "none (empty state): rerun"


def _change_widget(at, page: str) -> str:
    if page == "calibration":
        at.number_input(key="calibration_bins").set_value(10)
        return "bins 15 → 10"
    if page == "mistakes":
        at.multiselect(key="mistakes_slice").set_value(["pose", "background"])
        return "slice pose → pose+background"
    if page in ("robustness", "pug"):
        widget = at.multiselect(key=f"{page}_models")
        widget.set_value(list(widget.value)[:-1])
        return "one model fewer"
    if page == "shape_texture":
        at.multiselect(key="shape_gallery_shape").set_value(["cat"])
        return "gallery shape = cat"
    if page == "invariance":
        at.radio(key="invariance_kind").set_value("shift")
        return "show shift"
    if page == "transfer":
        at.multiselect(key="transfer_models").set_value([])
        return "form model list"
    if page == "evaluations":
        at.selectbox(key="evaluations_benchmark").select("imagenet-r")
        return "form benchmark"
    if page in ("home", "findings"):
        return "rerun"
    raise ValueError(page)


PAGES = ("evaluations", "calibration", "mistakes", "robustness", "shape_texture", "pug", "invariance", "transfer")
EXTRA_PAGES = ("findings",)
"""Pages timed only when `--pages` names them (Findings reads the published population too: set BAE_DATA_DIR to a
folder holding `python -m core download timm-results openclip-results`, or its card shows the download command)."""


def _peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM: reset at exec, unlike ru_maxrss, which Linux carries over from the
    process that started us, here the one that built the store)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


HEAVY = ("torch", "timm", "open_clip")
URL_PATHS = {"shape_texture": "shape-texture"}  # pages whose url_path (app.py) differs from their file name


def time_pages(path: Path, pages: tuple[str, ...] = PAGES, *, direct: bool = False) -> list[dict]:
    """Each page's first open and one change; `direct`: the page is the first one the server runs (no Home)."""
    from streamlit.testing.v1 import AppTest
    from streamlit.util import calc_hash

    os.environ["BAE_RESULTS_DB"] = str(path)
    results = []
    for page in pages:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        if not direct:
            at.run()
        at.switch_page(f"views/{page}.py")
        if direct and page in URL_PATHS:  # before a first run, AppTest knows a page by its file name only
            at._page_hash = calc_hash(URL_PATHS[page])  # what st.Page names it by (its url_path)
        began = time.perf_counter()
        at.run()
        first = time.perf_counter() - began
        title = at.title[0].value if at.title else ""
        problem = at.exception[0].value if at.exception else ""
        heavy = " ".join(name for name in HEAVY if name in sys.modules) or "none"
        change = _change(at, page)
        began = time.perf_counter()
        at.run()
        second = time.perf_counter() - began
        row = {"page": page, "title": title, "first_open_s": first, "widget_change_s": second, "change": change,
               "imported": heavy,
               "exception": problem or (at.exception[0].value if at.exception else "")}
        if page == "calibration":
            row["peak_rss_before_temperature_mib"] = _peak_rss_mib()
            at.toggle(key="calibration_temperature").set_value(True)
            began = time.perf_counter()
            at.run()
            row["temperature_on_s"] = time.perf_counter() - began
            at.number_input(key="calibration_bins").set_value(20)
            began = time.perf_counter()
            at.run()
            row["bins_with_temperature_s"] = time.perf_counter() - began
        row["peak_rss_mib"] = _peak_rss_mib()
        results.append(row)
        print(json.dumps(row), flush=True)
    return results


def _timing_pass(store: Path, cold: bool, pages: tuple[str, ...]) -> list[dict]:
    """One pass over the pages: in one process with `cache/` beside the store, or (cold) one fresh process and
    one fresh cache folder per page."""
    import tempfile

    def run(pages: tuple[str, ...], cache: Path) -> list[dict]:
        env = {**os.environ, "BAE_CACHE_DIR": str(cache)}
        command = [sys.executable, __file__, "--store", str(store), "--time-only", "--pages", ",".join(pages)]
        output = subprocess.run(command + (["--cold"] if cold else []), env=env, cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout
        return [json.loads(line) for line in output.splitlines() if line.startswith("{")]

    if not cold:
        return run(pages, store.parent / "cache")
    rows = []
    for page in pages:
        with tempfile.TemporaryDirectory(prefix="bae-cold-cache-") as cache:
            rows += run((page,), Path(cache))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=Path("/tmp/paper_scale/results.duckdb"))
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="timing passes, each in a fresh process (medians)")
    parser.add_argument("--cold", action="store_true",
                        help="each page in a fresh process with a fresh, empty cache folder (a newcomer's first visit)")
    parser.add_argument("--time-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pages", default=None,
                        help=f"comma-separated pages to time, in this order (default: {','.join(PAGES)}; "
                             "with --cold, home first)")
    args = parser.parse_args()
    pages = tuple(args.pages.split(",")) if args.pages else (("home", *PAGES) if args.cold else PAGES)
    unknown = [page for page in pages if page not in ("home", *PAGES, *EXTRA_PAGES)]
    if unknown:
        parser.error(f"Expected --pages among {','.join(('home', *PAGES, *EXTRA_PAGES))}, got {','.join(unknown)}.")
    if args.time_only:
        time_pages(args.store, pages, direct=args.cold)
        return
    if args.rebuild and args.store.exists():
        args.store.unlink()
    if not args.store.exists():
        args.store.parent.mkdir(parents=True, exist_ok=True)
        build(args.store)
    else:  # a store built by an earlier version gets what any writer of this one adds (packed outcomes, totals)
        from core.store import ResultsStore

        ResultsStore(args.store, timeout_s=600).migrate(say=lambda line: print(f"store: {line}", flush=True))
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    passes = [_timing_pass(args.store, args.cold, pages) for _ in range(args.repeat)]
    print(f"\n{os.cpu_count()} CPUs; {args.repeat} pass(es), medians; peak RSS = max over the pass's process"
          f"{'es (one per page, each with a fresh cache folder)' if args.cold else ''}; load average before: {load}, "
          f"after: {' '.join(f'{value:.1f}' for value in os.getloadavg())}\n")
    print("| page | first open (s) | widget change (s) | change | peak RSS so far (MiB) | imported after first open |")
    print("|---|---|---|---|---|---|")
    for index, page in enumerate(pages):
        rows = [p[index] for p in passes]
        first = np.median([r["first_open_s"] for r in rows])
        change = np.median([r["widget_change_s"] for r in rows])
        rss = max(r["peak_rss_mib"] for r in rows)
        flag = f" (exception: {rows[0]['exception'][:60]})" if rows[0]["exception"] else ""
        print(f"| {page} | {first:.2f} | {change:.2f} | {rows[0]['change']}{flag} | {rss:.0f} | {rows[0]['imported']} |")
        if page == "calibration":
            print(f"| (peak RSS before temperature scaling was switched on) | | | | "
                  f"{max(r['peak_rss_before_temperature_mib'] for r in rows):.0f} |")
            print(f"| calibration: temperature on (fits stored at evaluation) | | "
                  f"{np.median([r['temperature_on_s'] for r in rows]):.2f} | toggle | |")
            print(f"| calibration: bins with temperature on | | "
                  f"{np.median([r['bins_with_temperature_s'] for r in rows]):.2f} | bins 10 → 20 | |")


if __name__ == "__main__":
    main()
