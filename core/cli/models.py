"""Commands on models: `models`, `predict`, `explain`, `zero-shot-head`."""

from __future__ import annotations

import sys
from pathlib import Path

from core.cli._common import duration, read_images, ready_models, selected
from core.errors import UserError


def add_commands(commands) -> dict:
    """Adds this group's subcommands to `commands`; returns their handlers by name."""
    commands.add_parser("models", help="list the models and whether each can run here")
    predict = commands.add_parser("predict", help="top-5 ImageNet classes of image files")
    predict.add_argument("images", nargs="+", type=Path)
    predict.add_argument("--models", default="", help="comma-separated model keys (default: every live model)")
    predict.add_argument("--protocol", choices=("paper", "library"), default="paper")
    predict.add_argument("--corruption", help="an ImageNet-C corruption applied first, e.g. gaussian_noise, zoom_blur")
    predict.add_argument("--severity", type=int, choices=range(0, 6), metavar="0-5",
                         help="severity of --corruption (0 = clean; default 3)")
    predict.add_argument("--seed", type=int, default=0, help="seed of the random corruptions")
    explain = commands.add_parser("explain", help="Grad-CAM saliency of each model's top-1 class: PNG overlay + .npy map")
    explain.add_argument("images", nargs="+", type=Path)
    explain.add_argument("--models", default="", help="comma-separated model keys (default: every live model)")
    explain.add_argument("--out", type=Path, required=True, help="folder for <image>_<model>.png and .npy")
    explain.add_argument("--protocol", choices=("paper", "library"), default="paper")
    head = commands.add_parser("zero-shot-head", help="compute and cache a CLIP model's ImageNet zero-shot head")
    head.add_argument("models", nargs="+")
    head.add_argument("--yes", action="store_true", help="start without asking after the time estimate")
    return {"models": _models, "predict": _predict, "explain": _explain, "zero-shot-head": _head}


def _models(args) -> int:
    from core.models import model_status, registry

    models, problems = registry()
    for spec in models:
        status = model_status(spec)
        head = "" if status.head_cached is None else (" · head cached" if status.head_cached else " · head not computed")
        state = "live" if status.live else ("weights present" if status.weights_present else "needs weights")
        print(f"{spec.name:16} {state:16} {spec.display}{head}")
    for problem in problems:
        print(f"skipped: {problem}", file=sys.stderr)
    return 0


def _predict(args) -> int:
    from core.run.inference import classify
    from core.imagenet import display_labels
    from core.models.preprocess import resolve_preprocess

    if args.severity is not None and args.corruption is None:
        print("--severity needs --corruption NAME (e.g. --corruption gaussian_noise --severity 3).", file=sys.stderr)
        return 2
    images = read_images(args.images)
    if args.corruption is not None:
        from core.explain.corruptions import corrupted_versions

        severity = 3 if args.severity is None else args.severity
        images = [corrupted_versions(image, args.corruption, seed=args.seed, severities=(severity,))[0]
                  for image in images]
    if not selected(args.models):
        print("No model can run here yet: see `python -m core models`.", file=sys.stderr)
        return 2
    labels = display_labels()
    for spec, loaded, head, key in ready_models(args.models):
        for image, prediction in zip(images, classify(loaded, images, resolve_preprocess(spec, args.protocol),
                                                      head=head, head_key=key)):
            top = ", ".join(f"{labels[i]} {p:.1%}" for i, p in zip(prediction.top_index, prediction.top_prob))
            print(f"{image.name}\t{spec.name}\t{top}")
    return 0


def _explain(args) -> int:
    import numpy as np

    from core.run.inference import classify
    from core.imagenet import display_labels
    from core.models.preprocess import resolve_preprocess
    from core.explain.saliency import overlay, saliency_map

    images = read_images(args.images)
    if not images:
        return 2
    if not selected(args.models):
        print("No model can run here yet: see `python -m core models`.", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    labels = display_labels()
    written = 0
    for spec, loaded, head, key in ready_models(args.models):
        cfg = resolve_preprocess(spec, args.protocol)
        for image, prediction in zip(images, classify(loaded, images, cfg, head=head, head_key=key)):
            try:
                result = saliency_map(loaded, image, cfg, prediction.top1, head=head, head_key=key)
            except UserError as error:
                print(str(error), file=sys.stderr)
                break
            stem = args.out / f"{Path(image.name).stem}_{spec.name}"
            overlay(result.crop, result.heatmap).save(stem.with_suffix(".png"))
            np.save(stem.with_suffix(".npy"), result.heatmap)
            written += 1
            print(f"{image.name}\t{spec.name}\t{labels[prediction.top1]} {prediction.top_prob[0]:.1%}\t"
                  f"{stem.with_suffix('.png')}\t{result.description}")
    return 0 if written else 2


def _head(args) -> int:
    from tqdm import tqdm

    from core.imagenet import class_names
    from core.models.resolved import resolve_model
    from core.models.zero_shot import build_head, estimate_head_seconds, head_path, openai_templates

    for name in args.models:
        model = resolve_model(name)
        if model.spec.head != "zero_shot":
            print(f"{name} has its own classifier; only CLIP models need a zero-shot head.", file=sys.stderr)
            continue
        names, templates = class_names(), openai_templates()
        path = head_path(model.head_key)
        if path.exists():
            print(f"{name}: head already cached at {path}")
            continue
        loaded = model.load()
        seconds = estimate_head_seconds(loaded, names, templates)
        print(f"{name}: {len(names) * len(templates):,} prompts on {loaded.device}, expected about {duration(seconds)}.")
        if not args.yes and sys.stdin.isatty() and input("Start? [Y/n] ").strip().lower() in ("n", "no"):
            continue
        with tqdm(total=len(names) * len(templates), unit="prompt") as bar:
            build_head(loaded, names, templates, progress=lambda done, total, _: bar.update(done - bar.n))
        print(f"{name}: head saved to {path}")
    return 0
