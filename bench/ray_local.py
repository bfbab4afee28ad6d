"""Single-process `evaluate` against `evaluate --ray local` on the same JPEGs and model.

Generates N ImageNet-like JPEGs once (the generator of bench/throughput.py), then runs, alternately and
`--rounds` times, each path into a fresh results store:

- single: `core.run.evaluation.evaluate` (loader workers decode, one process runs the model, background writer);
- ray: `core.run.distributed.evaluate_ray` with `ray="local"`: Ray started by the run itself (its start-up is
  part of the time: that is what a user waits for), Ray Data decode tasks, one model actor (the other CPU
  is left for decoding), Parquet shards folded into the store.

Prints wall time and images/s per round, the medians, the Ray overhead (ray / single − 1), and whether the
two stores hold the same rows (they must: row for row, logits included).

    bash scripts/dev python bench/ray_local.py [--images 2000] [--models effnet_lite0] [--rounds 3]

On a 2-core machine Ray cannot be faster than the single process: both have the same two cores, and Ray
adds its start-up (~5–10 s), object-store copies of every decoded crop and the shard fold.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="bae-ray-local-"))
os.environ.setdefault("BAE_CACHE_DIR", str(_TMP / "cache"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _quiet(_message: str) -> None:
    pass


def run_single(models, root: Path, store_path: Path, batch_size: int) -> tuple[float, str]:
    from core.run.evaluation import evaluate
    from core.store import ResultsStore

    began = time.perf_counter()
    summaries = evaluate(models, "imagefolder", root, store=ResultsStore(store_path), batch_size=batch_size,
                         device="cpu", say=_quiet)
    return time.perf_counter() - began, summaries[0].run_id


def run_ray(models, root: Path, store_path: Path, batch_size: int) -> tuple[float, dict]:
    from core.run.distributed import evaluate_ray
    from core.store import ResultsStore

    began, stats = time.perf_counter(), {}
    evaluate_ray(models, "imagefolder", root, ray="local", store=ResultsStore(store_path), batch_size=batch_size,
                 say=_quiet, stats=stats)
    return time.perf_counter() - began, stats


def same_rows(first: Path, second: Path, run_ids) -> bool:
    import numpy as np

    from core.store import ResultsStore

    a, b = ResultsStore(first), ResultsStore(second)
    for run_id in run_ids:
        if not a.predictions(run_id).equals(b.predictions(run_id)):
            return False
        if not np.array_equal(a.logits(run_id)[1], b.logits(run_id)[1]):
            return False
    return True


def main() -> None:
    from throughput import make_images

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--models", default="effnet_lite0")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--data", type=Path, help="keep the generated JPEGs here (default: a temporary folder)")
    args = parser.parse_args()
    models = [name.strip() for name in args.models.split(",") if name.strip()]
    root = make_images(args.data or _TMP / "images", args.images, workers=os.cpu_count() or 1)
    print(f"{os.cpu_count()} CPUs; {len(models)} model(s): {', '.join(models)}; batch {args.batch_size}")
    single, ray, overheads = [], [], []
    for round_ in range(args.rounds):
        stores = _TMP / f"round{round_}"
        stores.mkdir()
        single_s, run_id = run_single(models, root, stores / "single.duckdb", args.batch_size)
        ray_s, stats = run_ray(models, root, stores / "ray.duckdb", args.batch_size)
        single.append(single_s)
        ray.append(ray_s)
        overheads.append(ray_s / single_s - 1)
        equal = same_rows(stores / "single.duckdb", stores / "ray.duckdb", [run_id]) if len(models) == 1 else "n/a"
        print(f"round {round_ + 1}: single {single_s:6.1f} s ({args.images / single_s:5.1f} img/s) | "
              f"ray local {ray_s:6.1f} s ({args.images / ray_s:5.1f} img/s; loop {stats.get('loop_s', 0):.1f} s, "
              f"fold {stats.get('fold_s', 0):.2f} s over {stats.get('shards', 0)} shards) | same rows: {equal}")
    print(f"median: single {statistics.median(single):.1f} s ({args.images / statistics.median(single):.1f} img/s), "
          f"ray local {statistics.median(ray):.1f} s ({args.images / statistics.median(ray):.1f} img/s), "
          f"overhead {100 * statistics.median(overheads):+.0f}%")


if __name__ == "__main__":
    main()
