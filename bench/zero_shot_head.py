"""Time to build a CLIP zero-shot ImageNet head (1000 classes × 80 templates) on this machine.

Usage:
    bash scripts/dev python bench/zero_shot_head.py [--arch ViT-B-16] [--naive-sample 1024] [--skip-full]

Uses the architecture with random weights (same compute as the trained model; weights need no
download). Reports:
  - naive: `encode_text` on all 77 positions, timed on a sample and extrapolated to 80,000 prompts;
  - ours: `build_head` (length-sorted batches truncated to their longest prompt), the full run;
  - the estimate `estimate_head_seconds` gives the user beforehand.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from any folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="ViT-B-16")
    parser.add_argument("--naive-sample", type=int, default=1024)
    parser.add_argument("--skip-full", action="store_true")
    args = parser.parse_args()

    import open_clip
    import torch

    from core.imagenet import class_names
    from core.models.load import LoadedModel, best_device
    from core.models.registry import ModelSpec
    from core.models.zero_shot import _prompts, build_head, estimate_head_seconds, openai_templates

    torch.manual_seed(0)
    device = best_device()
    model = open_clip.create_model(args.arch, pretrained=None).eval().to(device)
    spec = ModelSpec("bench_clip", "open_clip", args.arch, family="vit", pretrained="random", head="zero_shot")
    loaded = LoadedModel(spec, model, "random", device)
    names, templates = class_names(), openai_templates()
    total = len(names) * len(templates)
    print(f"{args.arch} on {device}, torch threads {torch.get_num_threads()}, {total:,} prompts")

    estimate = estimate_head_seconds(loaded, names, templates)
    print(f"estimate shown to the user: {estimate:.0f} s")

    prompts = _prompts(names, templates)[:: total // args.naive_sample][: args.naive_sample]
    tokens = open_clip.get_tokenizer(args.arch)(prompts).to(device)
    with torch.inference_mode():
        model.encode_text(tokens[:8])
        began = time.perf_counter()
        for start in range(0, len(tokens), 256):
            model.encode_text(tokens[start:start + 256])
        naive = (time.perf_counter() - began) * total / len(tokens)
    print(f"naive encode_text (77 positions), extrapolated from {len(tokens)} prompts: {naive:.0f} s")

    if not args.skip_full:
        began = time.perf_counter()
        build_head(loaded, names, templates, save=False)
        ours = time.perf_counter() - began
        print(f"build_head (truncated, length-sorted), full run: {ours:.0f} s  (speed-up ×{naive / ours:.1f})")


if __name__ == "__main__":
    main()
