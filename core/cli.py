"""Command line: `python -m core models | predict | explain | evaluate | status | migrate | calibrate | report |
download | import-authors | zero-shot-head | probe | study | quickstart`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.errors import UserError

__all__ = ["main"]

STOPPED_MESSAGE = "Stopped; every finished batch is stored. Run the same command again to resume where it stopped."
"""The one line after a user's stop (Ctrl-C, SIGTERM, the app's Stop button): its runs are marked `stopped`."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Beyond Accuracy Explorer command line.")
    commands = parser.add_subparsers(dest="command", required=True)
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
    download = commands.add_parser(
        "download", help="fetch datasets (see --list) or models' weights (needs internet; BAE_DATA_MIRROR=URL for a mirror)")
    download.add_argument("models", nargs="*", metavar="DATASET|MODEL",
                          help="a dataset of --list (imagenet-c/CORRUPTION for one corruption) or a model key")
    download.add_argument("--list", action="store_true", help="every dataset: size, source, licence, and whether "
                                                              "it is present, missing or partial here")
    evaluate = commands.add_parser("evaluate", help="predict a benchmark with models and store per-image results")
    evaluate.add_argument("--models", required=True, help="comma-separated model keys")
    evaluate.add_argument("--benchmark", required=True, help="benchmark key, e.g. imagenet-val, cue-conflict")
    evaluate.add_argument("--data", type=Path, help="dataset folder (cue-conflict: default is the downloaded copy)")
    evaluate.add_argument("--variant", default="", help="invariance setting: scale=1.5, shift=30 or resolution=336")
    evaluate.add_argument("--protocol", choices=("paper", "library"), default="paper")
    evaluate.add_argument("--limit", type=int, help="evaluate a random sample of this many images")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the --limit sample")
    evaluate.add_argument("--batch-size", type=int, help="images per batch (default: 32 on CPU, 256 with a GPU)")
    evaluate.add_argument("--workers", type=int, help="decoding processes (default: 2 on CPU, up to 16 with a GPU)")
    evaluate.add_argument("--resize", choices=("pil", "tensor"), default="pil",
                          help="pil (default): each model's crop with PIL, as the paper's code; tensor: decode once, "
                               "crop on the device in batches (fast on a GPU; not pixel-identical, keyed apart)")
    evaluate.add_argument("--compile", action="store_true", help="torch.compile each model (pays off on a GPU)")
    evaluate.add_argument("--ray", metavar="auto|local|ADDRESS",
                          help="evaluate on Ray: local (start Ray on this machine), auto (the cluster `ray start` "
                               "made) or a cluster address; the dataset must be readable on every node")
    commands.add_parser("status", help="what the results store holds, per run")
    commands.add_parser("migrate", help="bring a results store of an earlier schema to this version (keeps every row)")
    calibrate = commands.add_parser("calibrate", help="fit and store the temperature scaling of runs with logits "
                                    "(the Calibration page's toggle); evaluations do it for the runs they finish")
    which = calibrate.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", action="append", metavar="RUN_ID", help="a run id (python -m core status); repeatable")
    which.add_argument("--all", action="store_true", help="every run on imagenet-val, imagenet-r, imagenet-a")
    calibrate.add_argument("--refit", action="store_true", help="fit again runs that already have a fit")
    probe = commands.add_parser("probe", help="linear probes on frozen features of a train/test image folder")
    probe.add_argument("--models", required=True, help="comma-separated model keys")
    probe.add_argument("--data", type=Path, required=True, help="folder with train/ and test/ class folders")
    probe.add_argument("--protocol", choices=("paper", "library"), default="paper")
    probe.add_argument("--vtab1k", action="store_true", help="VTAB-1k: 1,000 training images (800 train + 200 val)")
    probe.add_argument("--seed", type=int, default=0)
    authors = commands.add_parser("import-authors",
                                  help="store the paper authors' (and human observers') cue-conflict decisions")
    authors.add_argument("folder", type=Path, nargs="?", help="folder of the authors' CSVs (default: downloaded copy)")
    authors.add_argument("--humans", type=Path, help="folder of model-vs-human's cue-conflict_subject-*.csv files")
    head = commands.add_parser("zero-shot-head", help="compute and cache a CLIP model's ImageNet zero-shot head")
    head.add_argument("models", nargs="+")
    head.add_argument("--yes", action="store_true", help="start without asking after the time estimate")
    study = commands.add_parser("study", help="the runs every Findings claim needs: --plan lists them claim by claim "
                                              "(stored / running / runnable / blocked); without it, runs the runnable ones")
    study.add_argument("--models", default="", help="comma-separated model keys (default: the paper's four)")
    study.add_argument("--data-root", type=Path, help="folder holding the datasets as `download` lays them out "
                                                      "(default: the download folder)")
    study.add_argument("--plan", action="store_true", help="only show the plan")
    study.add_argument("--no-timing", action="store_true", help="skip the short timing of each model (times "
                                                                "measured before are still used)")
    commands.add_parser("quickstart", help="cue-conflict images + the authors' and humans' decisions, then the offline "
                                           "model on cue-conflict: real results in minutes")
    report = commands.add_parser("report", help="the Findings (claims, verdicts, pins) as HTML, slides or a zip")
    report.add_argument("--format", choices=("html", "pptx", "zip"), required=True)
    report.add_argument("--out", type=Path, required=True, help="file to write, e.g. findings.html")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        handlers = {"models": _models, "predict": _predict, "download": _download, "zero-shot-head": _head,
                    "evaluate": _evaluate, "status": _status, "migrate": _migrate, "calibrate": _calibrate,
                    "import-authors": _import_authors, "probe": _probe, "report": _report, "explain": _explain,
                    "study": _study, "quickstart": _quickstart}
        return handlers[args.command](args)
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


def _read_images(paths) -> list:
    from core.images import decode_image

    images = []
    for path in paths:
        try:
            images.append(decode_image(path.read_bytes(), path.name))
        except OSError as error:
            print(f"{path}: cannot read ({error.strerror}).", file=sys.stderr)
        except UserError as error:
            print(str(error), file=sys.stderr)
    return images


def _ready_models(names: str):
    """(spec, loaded model, head, head key) of each selected model that can run; the others are explained."""
    from core.models.resolved import resolve_model

    for spec in _selected(names):
        model = resolve_model(spec)
        try:
            loaded = model.load()
        except UserError as error:
            print(str(error), file=sys.stderr)
            continue
        head, key = model.load_head(), model.head_key
        if spec.head == "zero_shot" and head is None:
            print(f"{spec.name}: zero-shot head not computed; run: python -m core zero-shot-head {spec.name}",
                  file=sys.stderr)
            continue
        yield spec, loaded, head, key


def _predict(args) -> int:
    from core.run.inference import classify
    from core.imagenet import display_labels
    from core.models.preprocess import resolve_preprocess

    if args.severity is not None and args.corruption is None:
        print("--severity needs --corruption NAME (e.g. --corruption gaussian_noise --severity 3).", file=sys.stderr)
        return 2
    images = _read_images(args.images)
    if args.corruption is not None:
        from core.explain.corruptions import corrupted_versions

        severity = 3 if args.severity is None else args.severity
        images = [corrupted_versions(image, args.corruption, seed=args.seed, severities=(severity,))[0]
                  for image in images]
    if not _selected(args.models):
        print("No model can run here yet: see `python -m core models`.", file=sys.stderr)
        return 2
    labels = display_labels()
    for spec, loaded, head, key in _ready_models(args.models):
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

    images = _read_images(args.images)
    if not images:
        return 2
    if not _selected(args.models):
        print("No model can run here yet: see `python -m core models`.", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    labels = display_labels()
    written = 0
    for spec, loaded, head, key in _ready_models(args.models):
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


def _download(args) -> int:
    from core.data.download import download, source_rows
    from core.data.sources import SOURCES

    if args.list:
        rows = source_rows(include_corruptions=True)
        width = max(len(row["name"]) for row in rows)
        for row in rows:
            print(f"{row['name']:{width}}  {row['status']:8} {row['size']:>12}  {row['licence']}  ·  {row['source']}"
                  f"  ·  {row['path']}")
        return 0
    if not args.models:
        print("Name what to download (python -m core download --list shows every dataset), or a model key.",
              file=sys.stderr)
        return 2
    progress, close = _download_bars()
    failed = 0
    for name in args.models:
        try:
            if name in SOURCES or name == "imagenet-val":
                download(name, progress=progress)
                close()
                if name == "cue-conflict":  # the images, then the paper authors' and the human observers' decisions
                    for extra in ("paper-decisions", "human-decisions"):
                        download(extra, progress=progress)
                        close()
                if name in ("cue-conflict", "paper-decisions", "human-decisions"):  # a stored import is skipped
                    _import_downloaded_decisions(name)
            else:
                from core.models import registry
                from core.models.load import download_weights

                models, _ = registry()
                if name not in [spec.name for spec in models]:
                    import difflib

                    similar = difflib.get_close_matches(name, [*SOURCES, *(spec.name for spec in models)], n=5,
                                                        cutoff=0.5)
                    raise UserError(f"No dataset or model named `{name}`." + (f" Did you mean: {', '.join(similar)}?"
                                    if similar else "") + " Datasets: python -m core download --list; models: "
                                    "python -m core models.")
                download_weights(models.get(name))
        except UserError as error:
            close()
            print(str(error), file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _import_downloaded_decisions(name: str) -> None:
    from core.data.download import data_dir
    from core.run.decisions import import_author_decisions, import_human_decisions

    if name in ("cue-conflict", "paper-decisions"):
        import_author_decisions(data_dir() / "cue-conflict-paper-models")
    if name in ("cue-conflict", "human-decisions"):
        import_human_decisions(data_dir() / "cue-conflict-human")


def _closer(bars: dict):
    """Closes every bar of `bars` (the end of a command's progress display)."""
    def close() -> None:
        for bar in bars.values():
            bar.close()
        bars.clear()

    return close


def _download_bars():
    """A tqdm bar per file, driven by the downloads' progress callback."""
    from tqdm import tqdm

    bars = {}

    def progress(label: str, done: int, total: int) -> None:
        bar = bars.get(label)
        if bar is None:
            bar = bars[label] = tqdm(total=total or None, initial=0, unit="B", unit_scale=True, desc=label,
                                     dynamic_ncols=True)
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    return progress, _closer(bars)


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
        print(f"{name}: {len(names) * len(templates):,} prompts on {loaded.device}, expected about {_duration(seconds)}.")
        if not args.yes and sys.stdin.isatty() and input("Start? [Y/n] ").strip().lower() in ("n", "no"):
            continue
        with tqdm(total=len(names) * len(templates), unit="prompt") as bar:
            build_head(loaded, names, templates, progress=lambda done, total, _: bar.update(done - bar.n))
        print(f"{name}: head saved to {path}")
    return 0


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _evaluate(args) -> int:
    import signal

    from tqdm import tqdm

    from core.data.download import data_dir
    from core.run.evaluation import evaluate

    data = args.data
    if data is None:
        if args.benchmark != "cue-conflict":
            print(f"--data is required for {args.benchmark}: the folder with the dataset.", file=sys.stderr)
            return 2
        data = data_dir() / "cue-conflict"
    stop = {"requested": False}

    def request_stop(signum, frame):  # finish the batch in flight, then stop: nothing is lost
        stop["requested"] = True

    signal.signal(signal.SIGTERM, request_stop)
    bar = None

    def progress(update):
        nonlocal bar
        if bar is None:
            bar = tqdm(total=update.total, unit="img", dynamic_ncols=True)
        bar.update(update.done - bar.n)
        if update.message:  # the Ray path: rows folded into the store so far
            bar.set_postfix_str(update.message, refresh=False)

    from core.store import ResultsStore

    store = ResultsStore()
    if args.ray:
        from core.run.distributed import evaluate_ray

        def evaluate(*positional, resize, compile, workers, **options):  # the Ray path's own workers
            if compile or workers is not None:
                print("--compile and --workers apply without --ray; ignored.", file=sys.stderr)
            return evaluate_ray(*positional, ray=args.ray, resize=resize, **options)

    with store.writer_lock(on_wait=lambda message: print(message, file=sys.stderr)):
        try:
            summaries = evaluate([name.strip() for name in args.models.split(",") if name.strip()], args.benchmark,
                                 data, variant=args.variant, protocol=args.protocol, resize=args.resize,
                                 limit=args.limit, seed=args.seed, compile=args.compile,
                                 batch_size=args.batch_size, workers=args.workers, store=store, progress=progress,
                                 should_stop=lambda: stop["requested"],
                                 say=lambda message: print(message, file=sys.stderr))
        except KeyboardInterrupt:  # Ctrl-C: the runs are marked `stopped`, whole batches kept
            summaries = None
    if bar is not None:
        bar.close()
    for summary in summaries or []:
        print(f"{summary.model}: {summary.status}, {summary.written:,} new rows (run {summary.run_id})")
    if summaries is None or any(summary.status == "stopped" for summary in summaries):
        print(STOPPED_MESSAGE, file=sys.stderr)
        return 130
    return 0


def _status(args) -> int:
    from core.store import ResultsStore

    store = ResultsStore()
    runs = store.runs()
    if runs.empty:
        print(f"The results store {store.path} is empty. Run e.g.: python -m core evaluate --models effnet_lite0 "
              "--benchmark cue-conflict")
        return 0
    import pandas as pd

    for run in runs.itertuples():
        variant = f" [{run.variant}]" if run.variant else ""
        sample = "" if pd.isna(run.sample_limit) else f" sample {int(run.sample_limit)} seed {int(run.sample_seed)}"
        score = "16-class accuracy" if run.benchmark == "cue-conflict" else "top-1"
        accuracy = "" if pd.isna(run.accuracy) else f" {score} {run.accuracy:.1%}"
        errors = f", {run.errors} unreadable" if run.errors else ""
        print(f"{run.model:14} {run.benchmark:14}{variant} {run.protocol:7} {run.source:7} {run.status:9} "
              f"{run.done:,}/{run.n_total:,}{errors}{accuracy}{sample}")
    return 0


def _migrate(args) -> int:
    from core.store import ResultsStore

    ResultsStore().migrate()
    return 0


def _calibrate(args) -> int:
    from core.store import ResultsStore
    from core.analysis.temperature import calibrate_runs

    store = ResultsStore()
    if not store.path.exists():
        print(f"The results store {store.path} does not exist yet. Run an evaluation first, e.g.: python -m core "
              "evaluate --models vit_sup --benchmark imagenet-val --data PATH", file=sys.stderr)
        return 2
    calibrate_runs(store, None if args.all else args.run, refit=args.refit,
                   say=lambda message: print(message, flush=True))
    return 0


def _import_authors(args) -> int:
    from core.data.download import data_dir
    from core.run.decisions import import_author_decisions, import_human_decisions

    imported = []
    if args.folder is not None or args.humans is None:
        folder = args.folder or data_dir() / "cue-conflict-paper-models"
        if not folder.is_dir():
            print(f"{folder} does not exist. Run: python -m core download paper-decisions", file=sys.stderr)
            return 2
        imported += import_author_decisions(folder)
    if args.humans is not None:
        imported += import_human_decisions(args.humans)
    return 0 if imported else 2


def _probe(args) -> int:
    from tqdm import tqdm

    from core.run.probe import run_probes
    from core.store import ResultsStore

    bars = {}

    def progress(update):
        bar = bars.setdefault(update.message, tqdm(total=update.total, unit="img", desc=update.message))
        bar.update(update.done - bar.n)

    store = ResultsStore()
    with store.writer_lock(on_wait=lambda message: print(message, file=sys.stderr)):
        run_probes([name.strip() for name in args.models.split(",") if name.strip()], args.data,
                   protocol=args.protocol, vtab1k=args.vtab1k, seed=args.seed, store=store, progress=progress,
                   say=lambda message: print(message, file=sys.stderr))
    for bar in bars.values():
        bar.close()
    return 0


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "time ?"
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else _duration(seconds)


def _study(args) -> int:
    import signal

    from core.analysis.claims import CLAIMS
    from core.run.study import PAPER_MODELS, build_plan, claim_summary, order_for_verdicts, run_study

    models = tuple(name.strip() for name in args.models.split(",") if name.strip()) or PAPER_MODELS
    states = build_plan(models, data_root=args.data_root, timing=not args.no_timing,
                        say=lambda message: print(message, file=sys.stderr))
    if args.plan:
        titles = {claim.number: claim.title for claim in CLAIMS}
        for row in claim_summary(states):
            print(f"Claim {row['claim']} · {titles.get(row['claim'], row['key'])}: {row['runs']} runs — "
                  f"{row['stored']} stored, {row['running']} running, {row['runnable']} runnable"
                  + (f" ({_hours(row['seconds'])})" if row["runnable"] else "") + f", {row['blocked']} blocked")
            for state in states:
                if row["claim"] not in state.run.claims:
                    continue
                run = state.run
                what = f"{run.benchmark}{' ' + run.variant if run.variant else ''}"
                note = {"stored": f"({state.source})", "running": f"{state.done:,} done, {_hours(state.seconds)} left",
                        "runnable": _hours(state.seconds) + (f", resumes at {state.done:,}" if state.done else ""),
                        "blocked": "unblock: " + "; ".join(state.unblock)}[state.status]
                print(f"  {what:26} {run.model:14} {run.kind:8} {state.status:8} {note}")
        runnable = order_for_verdicts(states)
        if runnable:
            times = [state.seconds for state in runnable]
            total = None if any(t is None for t in times) else sum(times)
            print(f"{len(runnable)} runs can start now ({_hours(total)}): python -m core study"
                  + (f" --models {','.join(models)}" if models != PAPER_MODELS else "")
                  + (f" --data-root {args.data_root}" if args.data_root else ""))
        else:
            print("Nothing can start now: every missing run is blocked (see `unblock`), or nothing is missing.")
        return 0
    stop = {"requested": False}

    def request_stop(signum, frame):  # finish the batch in flight, then stop: resumable
        stop["requested"] = True

    signal.signal(signal.SIGTERM, request_stop)
    progress, close = _study_bars()
    try:
        finished = run_study(states, progress=progress, should_stop=lambda: stop["requested"],
                             say=lambda message: print(message, file=sys.stderr))
    finally:
        close()
    if stop["requested"]:
        print(f"{finished} run(s) finished. {STOPPED_MESSAGE}", file=sys.stderr)
        return 130
    print(f"{finished} run(s) finished." if finished else "Nothing to run: every runnable run is stored already.")
    return 0


def _study_bars():
    """One overall bar (`study`, images) and one bar per run, driven by run_study's progress."""
    from tqdm import tqdm

    bars = {}

    def progress(label: str, done: int, total: int) -> None:
        if label not in bars:
            if label != "study":  # one run at a time under the overall bar
                for name in [name for name in bars if name != "study"]:
                    bars.pop(name).close()
            bars[label] = tqdm(total=total, unit="img", desc=label, position=0 if label == "study" else 1,
                               dynamic_ncols=True, leave=label == "study")
        bar = bars[label]
        bar.total = total
        bar.update(done - bar.n)

    return progress, _closer(bars)


def _quickstart(args) -> int:
    import signal

    from core.run.study import quickstart

    stop = {"requested": False}

    def request_stop(signum, frame):  # the app's Stop button: finish the batch in flight, then stop
        stop["requested"] = True

    signal.signal(signal.SIGTERM, request_stop)
    progress, close = _download_bars()
    try:
        summaries = quickstart(progress=progress, should_stop=lambda: stop["requested"],
                               say=lambda message: print(message, file=sys.stderr))
    finally:
        close()
    for summary in summaries:
        print(f"{summary.model}: {summary.status}, {summary.written:,} new rows (run {summary.run_id})")
    if any(summary.status == "stopped" for summary in summaries):
        print(STOPPED_MESSAGE, file=sys.stderr)
        return 130
    print("Open the app (bash scripts/dev app): Shape vs texture, its gallery and Findings claim 5 show results.")
    return 0


def _report(args) -> int:
    from core.analysis.report import write_report

    size = write_report(args.format, args.out)
    print(f"Wrote {args.out} ({size / 1e6:.2f} MB).")
    return 0
