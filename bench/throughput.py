"""End-to-end evaluation speed: the paper-style pipeline against our engine, on the same JPEGs and models.

Generates N ImageNet-like JPEGs (shorter side 300–500 px, ~100 KB) once, then measures in one run:

- read+decode: the loader alone, images/s: PIL in the workers, and (`--decode device`) workers reading bytes
  with the batched device decode (`torchvision.io.decode_jpeg`, nvJPEG on CUDA);
- reference (paper-style): each model on its own, PIL Resize/CenterCrop per model in DataLoader workers,
  fp32, no store (top-1 kept in memory), model loading included; on CUDA over a 5,000-image subset of the
  same files by default (`--ref-images`), its time scaled to N, as the table says;
- ours: `core.run.evaluation.evaluate` (decode once, all models per batch, bf16 + channels_last on CUDA,
  `--resize tensor` crops on the device, the overlapped batch loop, rows and logits committed to a fresh
  results store), with its stage timings (preprocess, forward per model, store) and torch.compile apart;
- ImageNet-C-like (`--imagenet-c N`): ours again over N 224 × 224 JPEGs (quality 85, as ImageNet-C ships).

`--budget-s` (default 450 s) bounds the whole run, image generation included: each stage gets what is left,
our runs stop after the batch that crosses the deadline (their rate then covers the images done), and the
table is printed whatever happened (also on SIGTERM or Ctrl-C), with the stages that did not run marked.

    # on a GPU (the paper's four architectures; random weights are fine: speed does not depend on them)
    python /work/shared/tools/random_paper_weights.py /tmp/hf
    HF_HOME=/tmp/hf python bench/throughput.py --device cuda --images 50000 --imagenet-c 50000 --compile
    # on this CPU
    bash scripts/dev python bench/throughput.py --device cpu --models effnet_lite0 --images 400 --decode device

Goals (issues #8, #25): on one H100/H200, four paper models × 50,000 images end to end <= 30 s and >= 7×
the paper-style pipeline; ImageNet-C-like input >= 2,000 images/s through all four. Caches and the store go
to a temporary folder (`--data` keeps the images).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

_STARTED = time.monotonic()  # the budget counts from here: imports included
_TMP = Path(tempfile.mkdtemp(prefix="bae-throughput-"))
os.environ.setdefault("BAE_CACHE_DIR", str(_TMP / "cache"))  # zero-shot heads of random weights stay here
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAPER_MODELS = ("vit_sup", "convnext_sup", "vit_clip", "convnext_clip")


def _one_image(args: tuple[int, str, int, int | None]) -> None:
    import numpy as np
    from PIL import Image

    index, path, seed, side = args
    rng = np.random.default_rng(seed + index)
    short = side or int(rng.integers(300, 501))
    long = side or int(short * rng.uniform(1.0, 1.5))
    width, height = (long, short) if rng.random() < 0.75 else (short, long)
    coarse = rng.integers(0, 256, size=(height // 24 + 2, width // 24 + 2, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    detail = rng.normal(0, 10, size=(height, width, 1))  # texture, so the JPEG is photo-sized (~100 KB)
    Image.fromarray(np.clip(smooth + detail, 0, 255).astype(np.uint8)).save(path, quality=85)


def make_images(folder: Path, n: int, *, workers: int, seed: int = 0, side: int | None = None) -> Path:
    """N JPEGs in up to 100 WordNet-id folders (the `imagefolder` layout); reused if already there. `side`:
    every image side × side (ImageNet-C's 224), else a shorter side of 300–500 px."""
    from multiprocessing import Pool

    from core.imagenet import wnids

    classes = wnids()[:min(100, n)]
    paths = [folder / classes[i % len(classes)] / f"img_{i:06d}.JPEG" for i in range(n)]
    todo = [(i, str(path), seed, side) for i, path in enumerate(paths) if not path.exists()]
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


def decode_rate(root: Path, *, workers: int, batch_size: int, decode: str = "pil", device: str = "cpu",
                deadline: float = float("inf")) -> tuple[float, int]:
    """(images/s, images) of the loader alone: PIL decoding in the workers, or (`device`) workers reading bytes
    and the batched decode on `device`, synchronised per batch. Stops at `deadline` (time.monotonic())."""
    import torch

    from core.data import get_benchmark, load_items
    from core.run.decode import EncodedImages, decode_payloads
    from core.run.evaluation import DecodedImages, _collate, _one_thread

    bench = get_benchmark("imagefolder")
    items = load_items(bench, root)
    dataset = EncodedImages(bench.adapter, items) if decode == "device" else DecodedImages(bench.adapter, items)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=_collate,
                                         worker_init_fn=_one_thread, prefetch_factor=4 if workers else None)
    began, count = time.perf_counter(), 0
    for batch in loader:
        if decode == "device":
            decode_payloads(batch, items, device=device)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
        count += len(batch)
        if time.monotonic() > deadline:
            break
    return count / (time.perf_counter() - began), count


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


def reference(names, root: Path, *, device: str, workers: int, batch_size: int, limit: int | None = None) -> dict:
    """Each model separately, fp32, PIL preprocessing in workers; seconds per model (loading included), over
    the first `limit` images when given."""
    import torch

    from core.data import get_benchmark, load_items
    from core.run.evaluation import _one_thread, forward_logits
    from core.imagenet import class_names
    from core.models import registry
    from core.models.load import load_model
    from core.models.preprocess import resolve_preprocess
    from core.models.zero_shot import load_head, openai_templates

    items = load_items(get_benchmark("imagefolder"), root)[:limit]
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


def ours(names, root: Path, *, device: str, workers: int, batch_size: int, resize: str, decode: str, compile: bool,
         deadline: float = float("inf")) -> dict:
    """Our engine on `root`, stopped after the batch that crosses `deadline`; its stats plus wall_s."""
    from core.run.evaluation import evaluate
    from core.store import ResultsStore

    stats: dict = {}
    store = ResultsStore(Path(tempfile.mkdtemp(prefix="store-", dir=_TMP)) / "results.duckdb")
    began = time.perf_counter()
    evaluate(list(names), "imagefolder", root, resize=resize, decode=decode, batch_size=batch_size, workers=workers,
             store=store, device=device, compile=compile, stats=stats, should_stop=lambda: time.monotonic() > deadline,
             say=lambda message: print(f"  {message}"))
    stats["wall_s"] = time.perf_counter() - began
    return stats


def _stop_on_sigterm() -> None:
    """SIGTERM (`timeout`, a job runner) becomes KeyboardInterrupt, so the table below is still printed."""
    main = os.getpid()

    def interrupt(signum, frame):
        if os.getpid() == main:
            raise KeyboardInterrupt
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked helper (the image generator's pool) just ends
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, interrupt)


def table(results: dict, *, n: int, names, workers: int, resize: str, decode: str, device: str) -> str:
    """The markdown table of whatever stages ran (`results`: decode, decode_device, reference, ours, imagenet_c)."""
    lines = ["| stage | img/s | seconds |", "|---|---|---|"]
    if "decode" in results:
        rate, count = results["decode"]
        lines.append(f"| read+decode alone (PIL, {workers} workers, {count:,} images) | {rate:,.0f} | {count / rate:.1f} |")
    if "decode_device" in results:
        rate, count = results["decode_device"]
        lines.append(f"| read bytes ({workers} workers) + batched decode on {device} ({count:,} images) | {rate:,.0f} | "
                     f"{count / rate:.1f} |")
    stats = results.get("ours")
    if stats:
        images = stats["images"]
        for name, timing in stats["models"].items():
            for stage, label in (("preprocess_s", f"preprocess ({decode} decode, {resize} resize)"),
                                 ("forward_s", "forward"), ("rows_s", "rows (own thread)")):
                lines.append(f"| ours {name}: {label} | {images / max(timing[stage], 1e-9):,.0f} | {timing[stage]:.1f} |")
        if device == "cuda":
            lines.append("| (per-model stage times above: host time to launch them; on CUDA the stages overlap, "
                         "so the loop's time below is what counts) | | |")
        lines.append(f"| ours: store ({stats['store_rows']:,} rows, {stats['store_commits']} commits, own thread) | "
                     f"{stats['store_rows'] / max(stats['store_s'], 1e-9):,.0f} rows/s | {stats['store_s']:.1f} |")
        lines.append(f"| ours: waiting for the loader | | {stats['decode_wait_s']:.1f} |")
        if stats.get("compile_s"):
            lines.append(f"| ours: torch.compile (once, not in the loop) | | {stats['compile_s']:.1f} |")
        cut = "" if images == n else f", CUT SHORT at {images:,} of {n:,} images"
        lines.append(f"| **ours end to end** ({len(names)} models, loading, compile and store included{cut}) | "
                     f"**{images / stats['wall_s']:,.0f}** | {stats['wall_s']:.1f} |")
        lines.append(f"| ours end to end without compile time | {images / max(stats['wall_s'] - stats['compile_s'], 1e-9):,.0f} | "
                     f"{stats['wall_s'] - stats['compile_s']:.1f} |")
        lines.append(f"| ours batch loop only | {images / stats['loop_s']:,.0f} | {stats['loop_s']:.1f} |")
    else:
        lines.append("| ours end to end | not run (budget or interruption) | |")
    ref = results.get("reference")
    if ref:
        seconds, count = sum(ref["seconds"].values()), ref["images"]
        rate = count / seconds
        scaled = f"; measured on {count:,} of the {n:,} images, scaled" if count != n else ""
        lines.append(f"| reference end to end (each model separately, fp32, PIL{scaled}) | {rate:,.0f} | "
                     f"{n / rate:.1f} |")
        if stats:
            ours_rate = stats["images"] / stats["wall_s"]
            lines.append(f"| **ours ÷ reference** (end to end, per image) | **{ours_rate / rate:.1f}×** | |")
    else:
        lines.append("| reference | not run | |")
    c = results.get("imagenet_c")
    if c:
        cut = "" if c["images"] == c["n"] else f", CUT SHORT at {c['images']:,} of {c['n']:,}"
        lines.append(f"| **ImageNet-C-like** (224 × 224 JPEGs, {len(names)} models, end to end{cut}) | "
                     f"**{c['images'] / c['wall_s']:,.0f}** | {c['wall_s']:.1f} |")
        lines.append(f"| ImageNet-C-like batch loop only | {c['images'] / c['loop_s']:,.0f} | {c['loop_s']:.1f} |")
        lines.append(f"| → the study's 3.75 M ImageNet-C images at the loop's rate | | "
                     f"{3.75e6 / (c['images'] / c['loop_s']) / 60:.0f} min |")
    return "\n".join(lines)


def main() -> None:
    import torch

    began = _STARTED
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cuda = torch.cuda.is_available()
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda" if cuda else "cpu")
    parser.add_argument("--models", default=",".join(PAPER_MODELS), help="comma-separated model keys")
    parser.add_argument("--images", type=int, help="default 50,000 on CUDA, 400 on the CPU")
    parser.add_argument("--imagenet-c", type=int, default=0, metavar="N",
                        help="also run ours over N ImageNet-C-like 224 × 224 JPEGs (default: none)")
    parser.add_argument("--data", type=Path, help="folder for the generated JPEGs (kept; reused next time)")
    parser.add_argument("--batch-size", type=int, help="ours (default 256 on CUDA, 32 on the CPU)")
    parser.add_argument("--ref-batch-size", type=int, help="reference (default 512 on CUDA, 32 on the CPU)")
    parser.add_argument("--ref-images", type=int, help="reference on this many of the images, scaled "
                                                          "(default 5,000 on CUDA, all on the CPU)")
    parser.add_argument("--workers", type=int, help="decoding workers (default: all cores on CUDA, 2 on the CPU)")
    parser.add_argument("--resize", choices=("pil", "tensor"), help="ours (default tensor on CUDA, pil on the CPU)")
    parser.add_argument("--decode", choices=("pil", "device"), help="ours (default device on CUDA, pil on the CPU; "
                                                                    "device needs --resize tensor)")
    parser.add_argument("--compile", action="store_true", help="torch.compile in our engine (time reported apart)")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--budget-s", type=float, default=450.0, help="the whole run's time limit, images included")
    args = parser.parse_args()
    on_gpu = args.device == "cuda"
    if on_gpu and not cuda:
        sys.exit("--device cuda: no CUDA device here.")
    deadline = began + args.budget_s
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    n = args.images or (50_000 if on_gpu else 400)
    workers = args.workers if args.workers is not None else (min(16, os.cpu_count() or 1) if on_gpu else 2)
    batch = args.batch_size or (256 if on_gpu else 32)
    ref_batch = args.ref_batch_size or (512 if on_gpu else 32)
    resize = args.resize or ("tensor" if on_gpu else "pil")
    decode = args.decode or ("device" if on_gpu and resize == "tensor" else "pil")
    ref_images = min(n, args.ref_images or (5_000 if on_gpu else n))
    device = args.device
    gpu_name = torch.cuda.get_device_name(0) if on_gpu else f"CPU ({os.cpu_count()} cores)"
    print(f"device {gpu_name}; models {', '.join(names)}; {n:,} images (+{args.imagenet_c:,} ImageNet-C-like); "
          f"workers {workers}; batch {batch} (reference {ref_batch} on {ref_images:,} images); resize {resize}; "
          f"decode {decode}; compile {args.compile}; budget {args.budget_s:.0f} s")
    _stop_on_sigterm()
    results: dict = {}
    try:
        root = make_images(args.data or (_TMP / "images"), n, workers=workers)
        c_root = make_images((args.data or _TMP) / "imagenet-c-like", args.imagenet_c, workers=workers,
                             side=224) if args.imagenet_c else None
        print(f"images ready after {time.monotonic() - began:.0f} s")
        ensure_heads(names, device)
        left = lambda: deadline - time.monotonic()  # noqa: E731
        results["decode"] = decode_rate(root, workers=workers, batch_size=batch, deadline=time.monotonic() + left() / 8)
        print(f"read+decode (PIL, {workers} workers): {results['decode'][0]:,.0f} img/s")
        if decode == "device":
            results["decode_device"] = decode_rate(root, workers=workers, batch_size=batch, decode="device",
                                                   device=device, deadline=time.monotonic() + left() / 8)
            print(f"read bytes + batched decode on {device}: {results['decode_device'][0]:,.0f} img/s")
        if not args.skip_reference:
            seconds = reference(names, root, device=device, workers=workers, batch_size=ref_batch, limit=ref_images)
            results["reference"] = {"seconds": seconds, "images": ref_images}
        share = left() / (2 if c_root is not None else 1)
        results["ours"] = ours(names, root, device=device, workers=workers, batch_size=batch, resize=resize,
                               decode=decode, compile=args.compile, deadline=time.monotonic() + share)
        if c_root is not None:
            c = ours(names, c_root, device=device, workers=workers, batch_size=batch, resize=resize, decode=decode,
                     compile=args.compile, deadline=deadline)
            results["imagenet_c"] = c | {"n": args.imagenet_c}
    except KeyboardInterrupt:
        print("\ninterrupted: the table holds the stages that finished")
    finally:
        print(f"\n{table(results, n=n, names=names, workers=workers, resize=resize, decode=decode, device=device)}")
        print(f"\nwhole benchmark: {time.monotonic() - began:.0f} s of a {args.budget_s:.0f} s budget")


if __name__ == "__main__":
    main()
