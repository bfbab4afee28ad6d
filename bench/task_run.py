"""Time `task run` against the forward passes alone, and the Your task page on a large stored task.

Usage:
    BAE_CACHE_DIR=/tmp/bae-bench bash scripts/dev python bench/task_run.py run [--per-class 100] [--model effnet_lite0]
    BAE_CACHE_DIR=/tmp/bae-bench bash scripts/dev python bench/task_run.py page [--test-images 20000] [--models 6]

run: a 20-class task of real images (the 16 cue-conflict shape classes and 4 digits of scikit-learn, upsampled),
`--per-class` images each (100: 2,000 images, 600 test), with 5 shot counts × 5 draws and 5 corruptions × 3
severities, in a fresh store. It reports the whole `task run` (decode, corruptions, forward passes, store writes,
probes), then the same number of forward passes alone (batches of 32 preprocessed images, no decode, no store),
and the ratio; the goal is ≤ 1.5.

page: a synthetic store of `--test-images` test images × `--models` models (two CLIP-like with zero-shot, every
model with a full probe and 5 × 5 k-shot probes, 5 × 3 corruptions): the first open of the page (read + every
table + the card), then clicks on the priority (medians of --repeats), through Streamlit's AppTest. Predictions
are random (timing only).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from any folder


def _task_folder(root: Path, per_class: int) -> Path:
    from PIL import Image

    from core.config import shared_dir
    from tests.fixtures.task_folders import digits_folder  # the tests' digits task, at 224 px

    cue = shared_dir() / "data" / "cue-conflict"
    for folder in sorted(cue.iterdir()):
        target = root / folder.name
        target.mkdir(parents=True, exist_ok=True)
        for number, path in enumerate(sorted(folder.glob("*.png"))[:per_class]):
            (target / path.name).write_bytes(path.read_bytes())
        for extra in range(per_class - 80):  # 80 cue-conflict images per class: mirror images fill up the rest
            source = sorted(folder.glob("*.png"))[extra % 80]
            Image.open(source).transpose(Image.FLIP_LEFT_RIGHT).save(target / f"mirror_{extra}.png")
    digits_folder(root, per_class=per_class, side=224, labels=range(4))
    return root


def _forward_batches(model_name: str, repeats: int) -> list[float]:
    """Seconds of `repeats` forward passes of a batch of 32 preprocessed tensors (after one warm-up)."""
    import torch

    from core.models.resolved import resolve_model
    from core.run.inference import image_features

    model = resolve_model(model_name)
    loaded = model.load(device="cpu")
    cfg = model.preprocess("paper")
    batch = torch.rand(32, 3, cfg.input_size, cfg.input_size)
    times = []
    with torch.inference_mode():
        image_features(loaded, batch)
        for _ in range(repeats):
            start = time.perf_counter()
            image_features(loaded, batch)
            times.append(time.perf_counter() - start)
    return times


def bench_run(args) -> None:
    import torch

    from core.store import ResultsStore
    from core.task import scan_task
    from core.task.run import run_task

    work = Path(tempfile.mkdtemp(prefix="task-bench-"))
    folder = _task_folder(work / "images", args.per_class)
    store = ResultsStore(work / "results.duckdb")
    began = time.perf_counter()
    spec, images, report = scan_task("bench", folder)
    store.add_task(spec, images, report)
    add_s = time.perf_counter() - began
    n_test = sum(image.split == "test" for image in images)
    print(f"task: {len(spec.classes)} classes, {len(images):,} images, {n_test:,} test; torch threads "
          f"{torch.get_num_threads()}; task add {add_s:.1f} s")
    batch_times = _forward_batches(args.model, args.repeats)
    began = time.perf_counter()
    summary = run_task("bench", [args.model], store=store, device="cpu", say=lambda _: None)
    run_s = time.perf_counter() - began
    passes = sum(summary.features.values())
    batch_times += _forward_batches(args.model, args.repeats)  # the same count of passes alone, before and after
    forward_s = statistics.median(batch_times) / 32 * passes
    print(f"| what | seconds |\n|---|---|\n| task run (whole) | {run_s:.1f} |\n"
          f"| · feature pass (decode, corruptions, forward passes, store) | {summary.features_s:.1f} |\n"
          f"| · · forward passes inside the run | {summary.forward_s:.1f} |\n"
          f"| · heads, probes, predictions stored | {summary.fits_s:.1f} |\n"
          f"| {passes:,} forward passes alone (median batch of 32 × {passes / 32:.0f}, {len(batch_times)} batches "
          f"before and after the run) | {forward_s:.1f} |\n| **ratio whole / forward alone** | "
          f"**{run_s / forward_s:.2f}** |")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


def _synthetic_store(path: Path, n_test: int, n_models: int) -> None:
    import numpy as np
    import pandas as pd

    from core.store import ResultsStore
    from core.task.folder import ScanReport, TaskImage
    from core.task.spec import TaskSpec

    rng = np.random.default_rng(0)
    classes = tuple(f"class_{i}" for i in range(20))
    images = [TaskImage(f"{i:06d}.png", f"/nonexistent/{i}.png", int(i % 20), "test", f"{i:064x}")
              for i in range(n_test)]
    spec = TaskSpec("large", "/nonexistent", "folders", classes, classes)
    store = ResultsStore(path)
    store.add_task(spec, images, ScanReport(train_counts={c: 100 for c in classes}))
    labels = np.array([image.label for image in images], dtype=np.int32)
    ids = [image.image_id for image in images]
    conditions = [f"{c}/{s}" for c in ("gaussian_noise", "defocus_blur", "motion_blur", "contrast",
                                       "jpeg_compression") for s in (1, 3, 5)]
    for m in range(n_models):
        model = f"model_{m}"
        methods = [("probe", 0, 0, "clean")] + [("probe", 0, 0, c) for c in conditions]
        if m < 2:
            methods += [("zero-shot", 0, 0, "clean")] + [("zero-shot", 0, 0, c) for c in conditions]
        methods += [("k-shot", k, d, "clean") for k in (1, 2, 4, 8, 16) for d in range(5)]
        fits, frames = [], []
        for method, k, draw, condition in methods:
            skill = 0.5 + 0.04 * m + (0.02 * np.log2(k) if k else 0.1)
            correct = rng.random(n_test) < skill
            pred = np.where(correct, labels, (labels + 1) % 20).astype(np.int32)
            conf = rng.uniform(0.05, 1.0, n_test)
            fits.append({"task": "large", "model": model, "method": method, "k": k, "draw": draw,
                         "condition": condition, "fit_key": "synthetic", "c": 1.0, "n_train": 0, "n_test": n_test})
            frames.append(pd.DataFrame({"task": "large", "model": model, "method": method, "k": k, "draw": draw,
                                        "condition": condition, "image_id": ids, "label": labels, "pred": pred,
                                        "conf": conf, "prob_true": np.where(correct, conf, 0.01), "correct": correct,
                                        "brier": rng.uniform(0, 2, n_test)}))
        store.write_task_fits(fits, pd.concat(frames, ignore_index=True))
        store.write_task_cost("large", model, 100.0 + 10 * m, 10_000_000 * (m + 1), n_test, "cpu")


def bench_page(args) -> None:
    from streamlit.testing.v1 import AppTest

    work = Path(tempfile.mkdtemp(prefix="task-page-bench-"))
    began = time.perf_counter()
    _synthetic_store(work / "results.duckdb", args.test_images, args.models)
    print(f"synthetic store: {args.test_images:,} test images × {args.models} models, built in "
          f"{time.perf_counter() - began:.0f} s")
    os.environ["BAE_RESULTS_DB"] = str(work / "results.duckdb")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=600).run()
    began = time.perf_counter()
    at.switch_page("views/task.py").run()
    first = time.perf_counter() - began
    assert not at.exception, [e.value for e in at.exception]
    clicks = {}
    for priority in ("calibration", "robustness", "speed", "mix", "accuracy") * args.repeats:
        began = time.perf_counter()
        at.radio(key="task_priority").set_value(priority).run()
        clicks.setdefault(priority, []).append(time.perf_counter() - began)
        assert not at.exception, [e.value for e in at.exception]
    print("| page action | seconds (median) |\n|---|---|")
    print(f"| first open (read, every table, the card) | {first:.2f} |")
    for priority, times in clicks.items():
        print(f"| click priority → {priority} (first: {times[0]:.2f} s) | {statistics.median(times):.2f} |")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["run", "page"])
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--model", default="effnet_lite0")
    parser.add_argument("--test-images", type=int, default=20_000)
    parser.add_argument("--models", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    (bench_run if args.what == "run" else bench_page)(args)


if __name__ == "__main__":
    main()
