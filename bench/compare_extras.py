"""Time the Compare page's on-demand extras on this machine: ImageNet-C versions of one photo, the
severity sweep (6 severities, one batch per model) and one Grad-CAM map per model; medians of --repeats.

Usage:
    bash scripts/dev python bench/compare_extras.py [--models effnet_lite0] [--repeats 5] [--photo coffee]
    # the paper's architectures with random weights (timings only, never report their predictions):
    HF_HOME=/tmp/hf BAE_CACHE_DIR=/tmp/bae-bench bash scripts/dev python bench/compare_extras.py \\
        --models effnet_lite0,vit_sup,convnext_sup

Nothing is read from or written to the caches (use_cache=False everywhere). The first run of
`glass_blur` compiles its numba kernel (~10 s on 2 cores); it is reported apart as `first call`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from any folder


def _median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="effnet_lite0")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--photo", default="coffee", help="a scikit-image example photo")
    args = parser.parse_args()

    import io

    import skimage.data
    import torch
    from PIL import Image

    from core.explain.corruptions import CORRUPTIONS, corrupted_versions, severity_sweep
    from core.images import decode_image
    from core.models import registry
    from core.models.load import load_model
    from core.models.preprocess import resolve_preprocess
    from core.explain.saliency import saliency_map

    buffer = io.BytesIO()
    Image.fromarray(getattr(skimage.data, args.photo)()).convert("RGB").save(buffer, format="PNG")
    image = decode_image(buffer.getvalue(), f"{args.photo}.png")
    print(f"photo {image.name} {image.original_size[0]}×{image.original_size[1]}, torch threads "
          f"{torch.get_num_threads()}, median of {args.repeats}")

    began = time.perf_counter()
    corrupted_versions(image, "glass_blur")
    print(f"first call (glass_blur, numba compile included): {time.perf_counter() - began:.2f} s")
    print("\n| corruption | 6 versions (s) |\n|---|---|")
    for corruption in CORRUPTIONS:
        seconds = _median_seconds(lambda: corrupted_versions(image, corruption), args.repeats)
        print(f"| {corruption} | {seconds:.2f} |")

    versions = corrupted_versions(image, "gaussian_noise")
    models, _ = registry()
    print("\n| model | load (s) | sweep, 6 severities in one batch (s) | Grad-CAM, one map (s) |\n|---|---|---|---|")
    for name in [name.strip() for name in args.models.split(",") if name.strip()]:
        spec = models.get(name)
        if spec.head == "zero_shot":
            print(f"| {name} | skipped: zero-shot head needed (python -m core zero-shot-head {name}) | | |")
            continue
        began = time.perf_counter()
        loaded = load_model(spec)
        load_s = time.perf_counter() - began
        cfg = resolve_preprocess(spec, "paper")
        severity_sweep(loaded, versions, cfg, use_cache=False)  # warm-up
        sweep_s = _median_seconds(lambda: severity_sweep(loaded, versions, cfg, use_cache=False), args.repeats)
        saliency_map(loaded, image, cfg, 0, use_cache=False)  # warm-up
        map_s = _median_seconds(lambda: saliency_map(loaded, image, cfg, 0, use_cache=False), args.repeats)
        print(f"| {name} | {load_s:.1f} | {sweep_s:.2f} | {map_s:.2f} |")


if __name__ == "__main__":
    main()
