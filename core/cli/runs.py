"""Commands that run and read evaluations: `evaluate`, `status`, `migrate`, `calibrate`, `probe`, `study`, `report`."""

from __future__ import annotations

import sys
from pathlib import Path

from core.cli._common import STOPPED_MESSAGE, closer, hours, stop_on_sigterm
from core.cli.line import fit_on_argument


def add_commands(commands) -> dict:
    """Adds this group's subcommands to `commands`; returns their handlers by name."""
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
    evaluate.add_argument("--decode", choices=("pil", "device"), default="pil",
                          help="pil (default): workers decode with PIL; device: workers read bytes, JPEGs are decoded "
                               "in batches on the device (nvJPEG on a GPU; needs --resize tensor; keyed apart)")
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
    study = commands.add_parser("study", help="the runs every Findings claim needs: --plan lists them claim by claim "
                                              "(stored / running / runnable / blocked); without it, runs the runnable ones")
    study.add_argument("--models", default="", help="comma-separated model keys (default: the paper's four)")
    study.add_argument("--data-root", type=Path, help="folder holding the datasets as `download` lays them out "
                                                      "(default: the download folder)")
    study.add_argument("--plan", action="store_true", help="only show the plan")
    study.add_argument("--no-timing", action="store_true", help="skip the short timing of each model (times "
                                                                "measured before are still used)")
    report = commands.add_parser("report", help="the Findings (claims, verdicts, pins) as HTML, slides or a zip")
    report.add_argument("--format", choices=("html", "pptx", "zip"), required=True)
    report.add_argument("--out", type=Path, required=True, help="file to write, e.g. findings.html")
    fit_on_argument(report)  # the line of the card beyond the paper
    return {"evaluate": _evaluate, "status": _status, "migrate": _migrate, "calibrate": _calibrate, "probe": _probe, "study": _study, "report": _report}


def _evaluate(args) -> int:
    from tqdm import tqdm

    from core.data.download import data_dir
    from core.run.evaluation import evaluate

    data = args.data
    if data is None:
        if args.benchmark != "cue-conflict":
            print(f"--data is required for {args.benchmark}: the folder with the dataset.", file=sys.stderr)
            return 2
        data = data_dir() / "cue-conflict"
    stop = stop_on_sigterm()
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
        from core.errors import UserError
        from core.run.distributed import evaluate_ray

        def evaluate(*positional, resize, compile, workers, decode, **options):  # the Ray path's own workers
            if decode != "pil":
                raise UserError("--ray decodes with PIL in its decode tasks; run --decode device without --ray.")
            if workers is not None:
                print("--workers applies without --ray; ignored.", file=sys.stderr)
            return evaluate_ray(*positional, ray=args.ray, resize=resize, compile=compile, **options)

    with store.writer_lock(on_wait=lambda message: print(message, file=sys.stderr)):
        try:
            summaries = evaluate([name.strip() for name in args.models.split(",") if name.strip()], args.benchmark,
                                 data, variant=args.variant, protocol=args.protocol, resize=args.resize,
                                 decode=args.decode, limit=args.limit, seed=args.seed, compile=args.compile,
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


def _study(args) -> int:
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
                  + (f" ({hours(row['seconds'])})" if row["runnable"] else "") + f", {row['blocked']} blocked")
            for state in states:
                if row["claim"] not in state.run.claims:
                    continue
                run = state.run
                what = f"{run.benchmark}{' ' + run.variant if run.variant else ''}"
                note = {"stored": f"({state.source})", "running": f"{state.done:,} done, {hours(state.seconds)} left",
                        "runnable": hours(state.seconds) + (f", resumes at {state.done:,}" if state.done else ""),
                        "blocked": "unblock: " + "; ".join(state.unblock)}[state.status]
                print(f"  {what:26} {run.model:14} {run.kind:8} {state.status:8} {note}")
        runnable = order_for_verdicts(states)
        if runnable:
            times = [state.seconds for state in runnable]
            total = None if any(t is None for t in times) else sum(times)
            print(f"{len(runnable)} runs can start now ({hours(total)}): python -m core study"
                  + (f" --models {','.join(models)}" if models != PAPER_MODELS else "")
                  + (f" --data-root {args.data_root}" if args.data_root else ""))
        else:
            print("Nothing can start now: every missing run is blocked (see `unblock`), or nothing is missing.")
        return 0
    stop = stop_on_sigterm()
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

    return progress, closer(bars)


def _report(args) -> int:
    from core.analysis.report import write_report

    size = write_report(args.format, args.out, fit_on=args.fit_on)
    print(f"Wrote {args.out} ({size / 1e6:.2f} MB).")
    return 0
