"""Results-store write throughput: rows per second with their logits.

Compares (1) one `write_batch` call per 32-row model-batch (a connection opened and closed each time,
the path `evaluate` used before) with (2) the `StoreWriter` that `evaluate` uses now (background
thread, many blocks per transaction), on synthetic rows shaped like real ones (top-5, probabilities,
1000 float16 logits), into a store that keeps growing across rounds, so a slowdown with size shows.

    bash scripts/dev python bench/store_write.py [--rows 100000] [--rounds 3] [--block 256]

Prints one line per round and the median. Goal (issue #8): >= 20,000 rows/s with logits. Meanwhile a
reader in another process (as the app's Evaluations page) reads the runs table in a loop; its waits
are printed at the end (goal: no read waits more than ~1 s for the writer).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.store import ResultsStore, RowBlock, RunInfo  # noqa: E402


def _blocks(run_id: str, n_rows: int, block: int, rng: np.random.Generator, offset: int = 0) -> list[RowBlock]:
    blocks = []
    for start in range(0, n_rows, block):
        n = min(block, n_rows - start)
        logits = rng.normal(size=(n, 1000)).astype(np.float16)
        top5 = rng.integers(0, 1000, size=(n, 5)).astype(np.int32)
        probs = np.sort(rng.random((n, 5)).astype(np.float32), axis=1)[:, ::-1] / 5
        labels = rng.integers(0, 1000, size=n).astype(np.int32)
        ids = [f"n{(offset + start + i) % 1000:08d}/ILSVRC2012_val_{offset + start + i:08d}.JPEG" for i in range(n)]
        columns = {"run_id": [run_id] * n, "image_id": ids, "path": [f"/data/imagenet/val/{i}" for i in ids],
                   "label": labels, "labels": [[int(label)] for label in labels], "pred": top5[:, 0], "top5": top5,
                   "top5_prob": np.ascontiguousarray(probs), "conf": probs[:, 0].copy(),
                   "prob_true": probs[:, 1].copy(), "correct": top5[:, 0] == labels}
        blocks.append(RowBlock(columns, logits))
    return blocks


_READER = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from core.store import ResultsStore
store, waits, stop = ResultsStore(sys.argv[1], timeout_s=120), [], Path(sys.argv[2])
while not stop.exists():
    began = time.perf_counter()
    store.runs()
    waits.append(time.perf_counter() - began)
    time.sleep(0.05)
print(json.dumps(waits))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows per round for the writer")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--block", type=int, default=256, help="rows per model-batch handed to the writer")
    parser.add_argument("--per-call-rows", type=int, default=3_200, help="rows for the one-connection-per-batch path")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    folder = Path(tempfile.mkdtemp(prefix="bae-store-bench-"))
    store = ResultsStore(folder / "results.duckdb")

    store.start_run(RunInfo("per-call", "m", "imagenet-val", "", "paper", args.per_call_rows))
    blocks = _blocks("per-call", args.per_call_rows, 32, rng)
    began = time.perf_counter()
    for block in blocks:
        store.write_batch(block)
    per_call = args.per_call_rows / (time.perf_counter() - began)
    print(f"write_batch per 32-row batch (open/commit/close each): {per_call:,.0f} rows/s "
          f"({(time.perf_counter() - began) / len(blocks) * 1000:.1f} ms per call)")

    stop = folder / "stop"
    reader = subprocess.Popen([sys.executable, "-c", _READER, str(store.path), str(stop),
                               str(Path(__file__).resolve().parents[1])], stdout=subprocess.PIPE, text=True)
    rates = []
    for round_ in range(args.rounds):
        run_id = f"writer-{round_}"
        store.start_run(RunInfo(run_id, "m", "imagenet-val", "", "paper", args.rows))
        blocks = _blocks(run_id, args.rows, args.block, rng, offset=round_ * args.rows)
        began = time.perf_counter()
        with store.writer() as writer:
            for block in blocks:
                writer.put(block)
        seconds = time.perf_counter() - began
        rates.append(args.rows / seconds)
        stored = len(store.logits(run_id)[0])
        logit_bytes = sum(path.stat().st_size for path in store.logits_root.rglob("*.parquet"))
        print(f"StoreWriter round {round_ + 1}: {args.rows:,} rows in {seconds:.2f} s = {rates[-1]:,.0f} rows/s "
              f"({writer.stats.commits} commits, median {statistics.median(writer.stats.commit_seconds) * 1000:.0f} ms;"
              f" {stored:,} rows with logits read back; store {store.path.stat().st_size / 2**20:,.0f} MiB + logits "
              f"{logit_bytes / 2**20:,.0f} MiB)")
    stop.touch()
    waits = sorted(json.loads(reader.communicate()[0]))
    print(f"reader in another process during the writer rounds: {len(waits)} reads, median "
          f"{statistics.median(waits) * 1000:.0f} ms, 95th percentile {waits[int(0.95 * (len(waits) - 1))] * 1000:.0f} ms, "
          f"max {waits[-1] * 1000:.0f} ms")
    print(f"median StoreWriter: {statistics.median(rates):,.0f} rows/s with logits "
          f"(goal >= 20,000); per-call path {per_call:,.0f} rows/s")


if __name__ == "__main__":
    main()
