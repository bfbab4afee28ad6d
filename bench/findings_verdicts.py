"""Time of the Findings' computation (collect_evidence + assess) on an existing results store.

The Findings page computes exactly this on its first open (then caches it per store version). Point it at
a full-study store, for instance the one `bench/paper_scale.py` builds:

    bash scripts/dev python bench/findings_verdicts.py --store /tmp/paper_scale.duckdb [--repeats 3]

Prints the first call in this fresh process (imports and the ImageNet-X annotations included) and the
median of the later calls, in wall seconds and in CPU seconds of the process (all its threads, DuckDB's
included: steadier than wall time on a shared machine). A synthetic store's verdicts mean nothing: only
the times are reported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, type=Path, help="a results.duckdb file")
    parser.add_argument("--repeats", type=int, default=3, help="calls in all, the first one included")
    args = parser.parse_args()
    if not args.store.is_file():
        print(f"No store at {args.store}; build one with: bash scripts/dev python bench/paper_scale.py --help",
              file=sys.stderr)
        return 2

    from core.analysis.evidence import assess, collect_evidence
    from core.store import ResultsStore

    store = ResultsStore(args.store)
    times, cpu = [], []
    for _ in range(max(1, args.repeats)):
        start, start_cpu = time.perf_counter(), time.process_time()
        results = assess(collect_evidence(store))
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)

    def later(values):
        return f"{statistics.median(values[1:]):.2f}" if len(values) > 1 else "–"

    print(f"| collect_evidence + assess ({len(results)} claims) | first call {times[0]:.2f} s wall, {cpu[0]:.2f} s "
          f"CPU | later calls (median) {later(times)} s wall, {later(cpu)} s CPU |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
