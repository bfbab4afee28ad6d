"""Time and size of the Findings at full scale: verdicts from a store with every claim measured, and each export.

The store is SYNTHETIC (random predictions written under the four paper model keys, at the real sizes:
50,000 ImageNet val images, the shifted sets, PUG, linear probes, invariance variants), so it measures
speed and file size only; its verdicts mean nothing and must never be reported as results.

Usage:
    bash scripts/dev python bench/findings_report.py [--val 50000] [--variant-images 5000] [--repeats 3]

Prints a table: collect_evidence + assess (the Findings page's computation), and each export's time and
size (medians of --repeats runs, each in this process after one warm-up).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _fill(store, n_val: int, n_variant: int, seed: int = 0) -> None:
    from core.data.imagenet_x import imagenet_x_annotations
    from core.analysis.claims import PAPER_MODELS
    from core.models.preprocess import INVARIANCE_VARIANTS
    from core.store import RunInfo

    rng = np.random.default_rng(seed)
    annotations = imagenet_x_annotations()
    names = annotations["file_name"].to_numpy()[:n_val]
    labels = annotations["class"].to_numpy()[:n_val]

    def write(run_id, model, benchmark, image_ids, labels, accuracy, variant="", condition=None):
        store.start_run(RunInfo(run_id, model, benchmark, variant, "paper", len(image_ids), store_logits=False,
                                weights_key=f"synthetic-{model}", data_fingerprint="synthetic"))
        correct = rng.random(len(image_ids)) < accuracy
        preds = np.where(correct, labels, (labels + 1) % 1000)
        conf = np.clip(rng.normal(0.7, 0.2, len(image_ids)), 0.01, 1.0)
        for start in range(0, len(image_ids), 5000):
            stop = start + 5000
            store.write_batch([{"run_id": run_id, "image_id": f"{i}", "label": int(l), "labels": [int(l)],
                                "pred": int(p), "conf": float(c), "correct": bool(k),
                                "condition": None if condition is None else condition[j]}
                               for j, (i, l, p, c, k) in enumerate(zip(image_ids[start:stop], labels[start:stop],
                                                                       preds[start:stop], conf[start:stop],
                                                                       correct[start:stop]), start=start)])
        store.finish_run(run_id, "done")

    from core.config import shared_dir
    from core.run.decisions import import_author_decisions

    # claim 5 from the paper authors' released cue-conflict decisions (real data, from ../shared)
    import_author_decisions(shared_dir() / "data" / "cue-conflict-paper-models", store, say=lambda _: None)
    for index, model in enumerate(PAPER_MODELS):
        accuracy = 0.85 - 0.1 * index
        write(f"val-{model}", model, "imagenet-val", names, labels, accuracy)
        for benchmark in ("imagenet-v2", "imagenet-r", "imagenet-a", "imagenet-sketch"):
            ids = np.array([f"{benchmark}/{i}" for i in range(10_000)])
            write(f"{benchmark}-{model}", model, benchmark, ids, rng.integers(0, 1000, 10_000), accuracy - 0.2)
        pug_ids = np.array([f"pug/{i}" for i in range(10_000)])
        write(f"pug-{model}", model, "pug-imagenet", pug_ids, rng.integers(0, 1000, 10_000), 0.4,
              condition=[f"factor_{i % 10}" for i in range(10_000)])
        for kind, values in INVARIANCE_VARIANTS.items():
            for value in values:
                variant = f"{kind}={value:g}"
                write(f"{variant}-{model}", model, "imagenet-val", names[:n_variant], labels[:n_variant],
                      accuracy - 0.05, variant=variant)
        store.write_probe({"probe_id": f"probe-{model}", "model": model, "dataset": "synthetic", "protocol": "paper",
                           "convention": "", "test_accuracy": 0.8, "ci_low": 0.78, "ci_high": 0.82, "n_test": 2000})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--val", type=int, default=50_000)
    parser.add_argument("--variant-images", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from core.analysis.evidence import assess, collect_evidence
    from core.analysis.report import html_report, pptx_report, zip_report
    from core.store import ResultsStore

    folder = Path(tempfile.mkdtemp(prefix="bae-bench-findings-"))
    store = ResultsStore(folder / "results.duckdb")
    began = time.perf_counter()
    _fill(store, args.val, args.variant_images)
    print(f"synthetic store written in {time.perf_counter() - began:.0f} s ({folder})", file=sys.stderr)
    store.add_pin("robustness", "a pinned chart", {"robustness_models": ["vit_sup"]},
                  chart='{"data": {"values": [{"a": 1}]}, "mark": "bar", "encoding": {"y": {"field": "a", '
                        '"type": "quantitative"}}}', table_csv="a\n1\n", note="bench pin")

    def timed(function):
        function()  # warm-up (imports, vl-convert start)
        times, value = [], None
        for _ in range(args.repeats):
            start = time.perf_counter()
            value = function()
            times.append(time.perf_counter() - start)
        return statistics.median(times), value

    seconds, results = timed(lambda: assess(collect_evidence(store)))
    rows = [("collect_evidence + assess (8 claims)", seconds, None)]
    missing = [r.claim.key for r in results if r.verdict == "not measured"]
    if missing:
        print(f"warning: not measured in the synthetic store: {missing}", file=sys.stderr)
    pins = store.pins()
    for name, build in (("HTML", lambda: html_report(results, pins).encode()),
                        ("PPTX", lambda: pptx_report(results, pins)), ("zip", lambda: zip_report(results, pins))):
        seconds, data = timed(build)
        rows.append((f"export {name}", seconds, len(data)))
    print(f"| step (val {args.val:,}, variants {args.variant_images:,}/setting) | median s | size MB |")
    print("|---|---|---|")
    for name, seconds, size in rows:
        print(f"| {name} | {seconds:.2f} | {'' if size is None else f'{size / 1e6:.2f}'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
