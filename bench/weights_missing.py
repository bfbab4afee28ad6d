"""Time from asking for a model whose weights are missing to the user's message.

Usage:
    bash scripts/dev python bench/weights_missing.py            # our loader (cache check, no network)
    bash scripts/dev python bench/weights_missing.py --naive    # timm.create_model(pretrained=True) as is

Each run is a fresh process (imports excluded from the timed part, reported separately), so the
numbers are what a user waits after clicking. Run it on a machine without the weights.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

_CHILD = r"""
import json, sys, time
began = time.perf_counter()
naive = sys.argv[1] == "naive"
import timm, open_clip, huggingface_hub  # both paths pay these imports; timed separately
if not naive:
    from core.models.load import load_model
    from core.models.registry import MODELS
imported = time.perf_counter()
try:
    if naive:
        timm.create_model("deit3_base_patch16_224.fb_in22k_ft_in1k", pretrained=True)
    else:
        load_model(MODELS.get("vit_sup"), device="cpu")
    message = "loaded"
except Exception as error:
    message = f"{type(error).__name__}: {str(error)[:160]}"
done = time.perf_counter()
print(json.dumps({"import_s": imported - began, "to_message_s": done - imported, "message": message}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--naive", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", _CHILD, "naive" if args.naive else "ours"],
                             capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    times = [r["to_message_s"] for r in results]
    print(f"{'naive timm' if args.naive else 'core.models.load'}: {args.runs} runs, time to message "
          f"median {statistics.median(times) * 1000:.1f} ms (min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}); "
          f"imports median {statistics.median(r['import_s'] for r in results):.2f} s")
    print("message:", results[0]["message"])


if __name__ == "__main__":
    main()
