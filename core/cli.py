"""Command line: `python -m core models | predict | download | zero-shot-head`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.errors import UserError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Beyond Accuracy Explorer command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("models", help="list the models and whether each can run here")
    predict = commands.add_parser("predict", help="top-5 ImageNet classes of image files")
    predict.add_argument("images", nargs="+", type=Path)
    predict.add_argument("--models", default="", help="comma-separated model keys (default: every live model)")
    predict.add_argument("--protocol", choices=("paper", "library"), default="paper")
    download = commands.add_parser("download", help="fetch models' weights into the standard caches (needs internet)")
    download.add_argument("models", nargs="+")
    head = commands.add_parser("zero-shot-head", help="compute and cache a CLIP model's ImageNet zero-shot head")
    head.add_argument("models", nargs="+")
    head.add_argument("--yes", action="store_true", help="start without asking after the time estimate")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"models": _models, "predict": _predict, "download": _download, "zero-shot-head": _head}[args.command](args)
    except UserError as error:
        print(str(error), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted; nothing cached was lost.", file=sys.stderr)
        return 130


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


def _selected(names: str):
    from core.models import model_status, registry

    models, _ = registry()
    if names:
        return [models.get(name.strip()) for name in names.split(",") if name.strip()]
    return [spec for spec in models if model_status(spec).live]


def _predict(args) -> int:
    from core.engine import classify
    from core.imagenet import class_names, display_labels
    from core.images import decode_image
    from core.models.load import load_model
    from core.models.preprocess import resolve_preprocess
    from core.models.zero_shot import head_key, load_head, openai_templates

    images = []
    for path in args.images:
        try:
            images.append(decode_image(path.read_bytes(), path.name))
        except OSError as error:
            print(f"{path}: cannot read ({error.strerror}).", file=sys.stderr)
        except UserError as error:
            print(str(error), file=sys.stderr)
    specs = _selected(args.models)
    if not specs:
        print("No model can run here yet: see `python -m core models`.", file=sys.stderr)
        return 2
    labels = display_labels()
    for spec in specs:
        try:
            loaded = load_model(spec)
        except UserError as error:
            print(str(error), file=sys.stderr)
            continue
        head, key = None, ""
        if spec.head == "zero_shot":
            head = load_head(spec, class_names(), openai_templates())
            key = head_key(spec, class_names(), openai_templates())
            if head is None:
                print(f"{spec.name}: zero-shot head not computed; run: python -m core zero-shot-head {spec.name}", file=sys.stderr)
                continue
        for image, prediction in zip(images, classify(loaded, images, resolve_preprocess(spec, args.protocol),
                                                      head=head, head_key=key)):
            top = ", ".join(f"{labels[i]} {p:.1%}" for i, p in zip(prediction.top_index, prediction.top_prob))
            print(f"{image.name}\t{spec.name}\t{top}")
    return 0


def _download(args) -> int:
    from core.models import registry
    from core.models.load import download_weights

    models, _ = registry()
    failed = 0
    for name in args.models:
        try:
            download_weights(models.get(name))
        except UserError as error:
            print(str(error), file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _head(args) -> int:
    from tqdm import tqdm

    from core.imagenet import class_names
    from core.models import registry
    from core.models.load import load_model
    from core.models.zero_shot import build_head, estimate_head_seconds, head_path, head_key, openai_templates

    models, _ = registry()
    for name in args.models:
        spec = models.get(name)
        if spec.head != "zero_shot":
            print(f"{name} has its own classifier; only CLIP models need a zero-shot head.", file=sys.stderr)
            continue
        names, templates = class_names(), openai_templates()
        path = head_path(head_key(spec, names, templates))
        if path.exists():
            print(f"{name}: head already cached at {path}")
            continue
        loaded = load_model(spec)
        seconds = estimate_head_seconds(loaded, names, templates)
        print(f"{name}: {len(names) * len(templates):,} prompts on {loaded.device}, expected about {_duration(seconds)}.")
        if not args.yes and sys.stdin.isatty() and input("Start? [Y/n] ").strip().lower() in ("n", "no"):
            continue
        with tqdm(total=len(names) * len(templates), unit="prompt") as bar:
            build_head(loaded, names, templates, progress=lambda done, total, _: bar.update(done - bar.n))
        print(f"{name}: head saved to {path}")
    return 0


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
