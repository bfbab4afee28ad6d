"""`evaluate` against a bare loop: what the bookkeeping (rows, store, progress, resume) costs.

Several tiny timm models (random weights, loaded from local checkpoints like any models.toml entry)
over ~2,000 small generated JPEGs, where the forward passes are cheap and bookkeeping shows. The bare
loop uses the same dataset class, decoding workers, batches and forward passes, and keeps only each
top-1 class: no store, no rows. Runs alternate (bare, evaluate, bare, …) and the medians are compared.

    bash scripts/dev python bench/evaluate_overhead.py [--images 2000] [--repeats 3] [--workers 2]

Goal (issue #8): evaluate >= 85 % of the bare loop's speed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

_ROOT = Path(tempfile.mkdtemp(prefix="bae-overhead-"))
os.environ.update({"BAE_CACHE_DIR": str(_ROOT / "cache"), "BAE_MODELS_TOML": str(_ROOT / "models.toml"),
                   "HF_HUB_OFFLINE": "1"})
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ARCHS = ("test_vit", "test_convnext", "test_efficientnet", "test_resnet")


def make_images(folder: Path, n: int, *, side=(64, 128), seed: int = 0) -> Path:
    """`n` smooth random JPEGs in 20 WordNet-id class folders (the `imagefolder` layout)."""
    import numpy as np
    from PIL import Image

    from core.imagenet import wnids

    rng = np.random.default_rng(seed)
    classes = wnids()[:20]
    for i in range(n):
        width, height = (int(v) for v in rng.integers(side[0], side[1] + 1, size=2))
        coarse = rng.integers(0, 256, size=(max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
        target = folder / classes[i % len(classes)]
        target.mkdir(parents=True, exist_ok=True)
        image.save(target / f"img_{i:06d}.jpg", quality=90)
    return folder


def make_models(folder: Path) -> list[str]:
    import timm
    import torch

    from core.models.registry import ModelSpec, append_user_model

    torch.manual_seed(0)
    names = []
    for arch in ARCHS:
        path = folder / f"{arch}.pth"
        torch.save(timm.create_model(arch, pretrained=False, num_classes=1000).state_dict(), path)
        name = f"tiny_{arch.removeprefix('test_')}"
        append_user_model(ModelSpec(name, "checkpoint", str(path), family="vit" if "vit" in arch else "convnet",
                                    arch=arch, label=name), Path(os.environ["BAE_MODELS_TOML"]))
        names.append(name)
    return names


def bare_loop(names: list[str], root: Path, *, batch_size: int, workers: int) -> float:
    """Seconds for: load models, decode + preprocess in workers, forward every model, keep top-1."""
    import torch

    from core.data import get_benchmark, load_items
    from core.run.evaluation import DecodedItems, _collate, _one_thread
    from core.models import registry
    from core.models.load import load_model
    from core.models.preprocess import resolve_preprocess

    began = time.perf_counter()
    bench = get_benchmark("imagefolder")
    items = load_items(bench, root)
    models, _ = registry()
    loaded = {name: load_model(models.get(name), device="cpu") for name in names}
    cfgs = {name: resolve_preprocess(loaded[name].spec, "paper") for name in names}
    loader = torch.utils.data.DataLoader(DecodedItems(bench.adapter, items, cfgs), batch_size=batch_size,
                                         num_workers=workers, collate_fn=_collate, worker_init_fn=_one_thread,
                                         prefetch_factor=4 if workers else None)
    top1 = []
    for batch in loader:
        for name, model in loaded.items():
            inputs = torch.stack([data[name] for _, data, _ in batch if data is not None])
            with torch.inference_mode():
                top1.append(model.module(inputs).argmax(1))
    assert sum(len(t) for t in top1) == len(items) * len(names)
    return time.perf_counter() - began


def evaluate_once(names: list[str], root: Path, db: Path, *, batch_size: int, workers: int) -> tuple[float, dict]:
    from core.run.evaluation import evaluate
    from core.store import ResultsStore

    stats: dict = {}
    began = time.perf_counter()
    evaluate(names, "imagefolder", root, batch_size=batch_size, workers=workers, store=ResultsStore(db),
             device="cpu", stats=stats, say=lambda _message: None)
    return time.perf_counter() - began, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import torch

    root = make_images(_ROOT / "images", args.images)
    names = make_models(_ROOT)
    print(f"{len(names)} tiny models ({', '.join(names)}), {args.images:,} JPEGs, batch {args.batch_size}, "
          f"{args.workers} workers, torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs")
    bare, full, loops = [], [], []
    for repeat in range(args.repeats):
        bare.append(bare_loop(names, root, batch_size=args.batch_size, workers=args.workers))
        seconds, stats = evaluate_once(names, root, _ROOT / f"results-{repeat}.duckdb", batch_size=args.batch_size,
                                       workers=args.workers)
        full.append(seconds)
        loops.append(stats["loop_s"])
        timings = {name: {k: round(v, 2) for k, v in t.items()} for name, t in stats["models"].items()}
        print(f"repeat {repeat + 1}: bare {bare[-1]:.1f} s | evaluate {seconds:.1f} s (loop {stats['loop_s']:.1f} s, "
              f"store {stats['store_rows']:,} rows in {stats['store_commits']} commits, {stats['store_s']:.1f} s on "
              f"its thread, waiting for decoded batches {stats['decode_wait_s']:.1f} s) {timings}")
    b, f = statistics.median(bare), statistics.median(full)
    print(f"median: bare loop {b:.1f} s, evaluate {f:.1f} s (its batch loop {statistics.median(loops):.1f} s): "
          f"evaluate runs at {b / f:.0%} of the bare loop's speed (goal >= 85 %)")


if __name__ == "__main__":
    main()
