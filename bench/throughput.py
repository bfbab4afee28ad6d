"""End-to-end evaluation speed: the paper-style pipeline against our engine, on the same JPEGs and models.

Generates N ImageNet-like JPEGs (shorter side 300–500 px, ~100 KB) once, then measures in one run:

- read+decode: the decoding workers alone (PIL), images/s;
- reference (paper-style): each model on its own, PIL Resize/CenterCrop per model in DataLoader workers,
  fp32, no store (top-1 kept in memory), model loading included;
- ours: `core.run.evaluation.evaluate` (decode once, all models per batch, bf16 + channels_last on CUDA,
  `--resize tensor` crops on the device, rows and logits committed to a fresh results store), with its
  stage timings (preprocess, forward per model, store) and the torch.compile time apart.

    # on a GPU (the paper's four architectures; random weights are fine: speed does not depend on them)
    python /work/shared/tools/random_paper_weights.py /tmp/hf
    HF_HOME=/tmp/hf bash scripts/dev python bench/throughput.py --device cuda --images 50000 --compile
    # on this CPU
    bash scripts/dev python bench/throughput.py --device cpu --models effnet_lite0 --images 400

Goal (issue #8): on one H100/H200, four paper models × 50,000 images end to end <= 30 s and >= 7×
the paper-style pipeline. Caches and the store go to a temporary folder (`--data` keeps the images).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="bae-throughput-"))
os.environ.setdefault("BAE_CACHE_DIR", str(_TMP / "cache"))  # zero-shot heads of random weights stay here
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAPER_MODELS = ("vit_sup", "convnext_sup", "vit_clip", "convnext_clip")


def _one_image(args: tuple[int, str, int]) -> None:
    import numpy as np
    from PIL import Image

    index, path, seed = args
    rng = np.random.default_rng(seed + index)
    short = int(rng.integers(300, 501))
    long = int(short * rng.uniform(1.0, 1.5))
    width, height = (long, short) if rng.random() < 0.75 else (short, long)
    coarse = rng.integers(0, 256, size=(height // 24 + 2, width // 24 + 2, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    detail = rng.normal(0, 10, size=(height, width, 1))  # texture, so the JPEG is photo-sized (~100 KB)
    Image.fromarray(np.clip(smooth + detail, 0, 255).astype(np.uint8)).save(path, quality=85)


def make_images(folder: Path, n: int, *, workers: int, seed: int = 0) -> Path:
    """N JPEGs in up to 100 WordNet-id folders (the `imagefolder` layout); reused if already there."""
    from multiprocessing import Pool

    from core.imagenet import wnids

    classes = wnids()[:min(100, n)]
    paths = [folder / classes[i % len(classes)] / f"img_{i:06d}.JPEG" for i in range(n)]
    todo = [(i, str(path), seed) for i, path in enumerate(paths) if not path.exists()]
    for name in classes:
        (folder / name).mkdir(parents=True, exist_ok=True)
    if todo:
        began = time.perf_counter()
        with Pool(max(1, workers)) as pool:
            pool.map(_one_image, todo, chunksize=64)
        print(f"generated {len(todo):,} JPEGs in {time.perf_counter() - began:.0f} s")
    sizes = [path.stat().st_size for path in paths[:200]]
    print(f"{n:,} JPEGs at {folder}, median {statistics.median(sizes) / 1024:.0f} KB")
    return folder


def decode_rate(root: Path, *, workers: int, batch_size: int) -> float:
    import torch

    from core.data import get_benchmark, load_items
    from core.run.evaluation import DecodedImages, _collate, _one_thread

    bench = get_benchmark("imagefolder")
    items = load_items(bench, root)
    loader = torch.utils.data.DataLoader(DecodedImages(bench.adapter, items), batch_size=batch_size,
                                         num_workers=workers, collate_fn=_collate, worker_init_fn=_one_thread,
                                         prefetch_factor=4 if workers else None)
    began = time.perf_counter()
    count = sum(len(batch) for batch in loader)
    return count / (time.perf_counter() - began)


class _PaperStyle:
    """What the paper's evaluation code did per model: open with PIL, torchvision transforms, ToTensor."""

    def __init__(self, paths, cfg) -> None:
        self.paths, self.cfg = paths, cfg

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        from PIL import Image

        from core.models.preprocess import crop_for_model, to_model_tensor

        with Image.open(self.paths[index]) as image:
            return to_model_tensor(crop_for_model(image.convert("RGB"), self.cfg), self.cfg)


def reference(names, root: Path, *, device: str, workers: int, batch_size: int) -> dict:
    """Each model separately, fp32, PIL preprocessing in workers; seconds per model (loading included)."""
    import torch

    from core.data import get_benchmark, load_items
    from core.run.evaluation import _one_thread, forward_logits
    from core.imagenet import class_names
    from core.models import registry
    from core.models.load import load_model
    from core.models.preprocess import resolve_preprocess
    from core.models.zero_shot import load_head, openai_templates

    items = load_items(get_benchmark("imagefolder"), root)
    models, _ = registry()
    seconds = {}
    for name in names:
        began = time.perf_counter()
        spec = models.get(name)
        loaded = load_model(spec, device=device)
        head = load_head(spec, class_names(), openai_templates()) if spec.head == "zero_shot" else None
        loader = torch.utils.data.DataLoader(_PaperStyle([item.path for item in items], resolve_preprocess(spec, "paper")),
                                             batch_size=batch_size, num_workers=workers, worker_init_fn=_one_thread,
                                             pin_memory=device.startswith("cuda"))
        top1 = []
        with torch.inference_mode():
            for batch in loader:
                top1.append(forward_logits(loaded, batch.to(device, non_blocking=True), head).argmax(1).cpu())
        seconds[name] = time.perf_counter() - began
        print(f"  reference {name}: {len(items) / seconds[name]:,.0f} img/s ({seconds[name]:.1f} s)")
        del loaded
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return seconds


def ensure_heads(names, device: str) -> None:
    """Zero-shot heads for CLIP models, built into this run's cache if missing (seconds on a GPU)."""
    from core.imagenet import class_names
    from core.models import registry
    from core.models.load import load_model
    from core.models.zero_shot import build_head, load_head, openai_templates

    models, _ = registry()
    for name in names:
        spec = models.get(name)
        if spec.head == "zero_shot" and load_head(spec, class_names(), openai_templates()) is None:
            began = time.perf_counter()
            build_head(load_model(spec, device=device), class_names(), openai_templates())
            print(f"  zero-shot head of {name} built in {time.perf_counter() - began:.0f} s (not timed below)")


def ours(names, root: Path, *, device: str, workers: int, batch_size: int, resize: str, compile: bool) -> dict:
    from core.run.evaluation import evaluate
    from core.store import ResultsStore

    stats: dict = {}
    store = ResultsStore(Path(tempfile.mkdtemp(prefix="store-", dir=_TMP)) / "results.duckdb")
    began = time.perf_counter()
    evaluate(list(names), "imagefolder", root, resize=resize, batch_size=batch_size, workers=workers, store=store,
             device=device, compile=compile, stats=stats, say=lambda message: print(f"  {message}"))
    stats["wall_s"] = time.perf_counter() - began
    return stats


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cuda = torch.cuda.is_available()
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda" if cuda else "cpu")
    parser.add_argument("--models", default=",".join(PAPER_MODELS), help="comma-separated model keys")
    parser.add_argument("--images", type=int, help="default 50,000 on CUDA, 400 on the CPU")
    parser.add_argument("--data", type=Path, help="folder for the generated JPEGs (kept; reused next time)")
    parser.add_argument("--batch-size", type=int, help="ours (default 256 on CUDA, 32 on the CPU)")
    parser.add_argument("--ref-batch-size", type=int, help="reference (default 512 on CUDA, 32 on the CPU)")
    parser.add_argument("--workers", type=int, help="decoding workers (default: all cores on CUDA, 2 on the CPU)")
    parser.add_argument("--resize", choices=("pil", "tensor"), help="ours (default tensor on CUDA, pil on the CPU)")
    parser.add_argument("--compile", action="store_true", help="torch.compile in our engine (time reported apart)")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    on_gpu = args.device == "cuda"
    if on_gpu and not cuda:
        sys.exit("--device cuda: no CUDA device here.")
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    n = args.images or (50_000 if on_gpu else 400)
    workers = args.workers if args.workers is not None else (min(16, os.cpu_count() or 1) if on_gpu else 2)
    batch = args.batch_size or (256 if on_gpu else 32)
    ref_batch = args.ref_batch_size or (512 if on_gpu else 32)
    resize = args.resize or ("tensor" if on_gpu else "pil")
    device = args.device
    gpu_name = torch.cuda.get_device_name(0) if on_gpu else f"CPU ({os.cpu_count()} cores)"
    print(f"device {gpu_name}; models {', '.join(names)}; {n:,} images; workers {workers}; "
          f"batch {batch} (reference {ref_batch}); resize {resize}; compile {args.compile}")
    root = make_images(args.data or (_TMP / "images"), n, workers=workers)
    ensure_heads(names, device)

    decode = decode_rate(root, workers=workers, batch_size=batch)
    print(f"read+decode (PIL, {workers} workers): {decode:,.0f} img/s")
    ref = {} if args.skip_reference else reference(names, root, device=device, workers=workers, batch_size=ref_batch)
    stats = ours(names, root, device=device, workers=workers, batch_size=batch, resize=resize, compile=args.compile)

    images = stats["images"]
    print("\n| stage | img/s | seconds |\n|---|---|---|")
    print(f"| read+decode alone ({workers} workers) | {decode:,.0f} | {n / decode:.1f} |")
    for name, timing in stats["models"].items():
        print(f"| ours {name}: preprocess ({resize}) | {images / max(timing['preprocess_s'], 1e-9):,.0f} | "
              f"{timing['preprocess_s']:.1f} |")
        print(f"| ours {name}: forward | {images / max(timing['forward_s'], 1e-9):,.0f} | {timing['forward_s']:.1f} |")
        print(f"| ours {name}: rows | {images / max(timing['rows_s'], 1e-9):,.0f} | {timing['rows_s']:.1f} |")
    print(f"| ours: store ({stats['store_rows']:,} rows, {stats['store_commits']} commits, own thread) | "
          f"{stats['store_rows'] / max(stats['store_s'], 1e-9):,.0f} rows/s | {stats['store_s']:.1f} |")
    print(f"| ours: waiting for decoded batches | | {stats['decode_wait_s']:.1f} |")
    if args.compile:
        print(f"| ours: torch.compile (once, not in the loop) | | {stats['compile_s']:.1f} |")
    print(f"| ours end to end ({len(names)} models, loading and store included) | {images / stats['wall_s']:,.0f} | "
          f"{stats['wall_s']:.1f} |")
    print(f"| ours batch loop only | {images / stats['loop_s']:,.0f} | {stats['loop_s']:.1f} |")
    if ref:
        total = sum(ref.values())
        print(f"| reference end to end (each model separately, fp32, PIL) | {n / total:,.0f} | {total:.1f} |")
        print(f"\nours is {total / stats['wall_s']:.1f}× the paper-style pipeline end to end "
              f"({total / max(stats['wall_s'] - stats['compile_s'], 1e-9):.1f}× without compile time).")


if __name__ == "__main__":
    main()
