"""Your own task: `task add`, `task list`, `task run`, `task report`, `task candidates`."""

from __future__ import annotations

import sys
from pathlib import Path

from core.cli import candidates
from core.cli._common import STOPPED_MESSAGE, stop_on_sigterm
from core.task.spec import (DEFAULT_CORRUPTIONS, DEFAULT_PRIORITY, DEFAULT_SEVERITIES, DEFAULT_SHOTS,
                            DEFAULT_TEST_FRACTION, PRIORITIES, RACE_ALPHA, RACE_FIRST, comma_list)


def add_commands(commands) -> dict:
    """Adds this group's subcommands to `commands`; returns their handlers by name."""
    task = commands.add_parser("task", help="your own labelled images as a task: add, list, run, report")
    actions = task.add_subparsers(dest="task_command", required=True)
    add = actions.add_parser("add", help="register a labelled folder (ROOT/<class>/…, ROOT/{train,val,test}/<class>/…) "
                                         "or a CSV of path,label[,split]")
    add.add_argument("name", help="the task's name (letters, digits, _ - .)")
    add.add_argument("--data", type=Path, required=True, help="the folder or CSV")
    add.add_argument("--names", type=Path, help="CSV of class,prompt name for zero-shot (e.g. m6_bolt,an M6 hex bolt)")
    add.add_argument("--templates", type=Path, help="text file of zero-shot templates, one per line with {} "
                                                    "(default: the 80 ImageNet templates)")
    add.add_argument("--test-fraction", type=float, default=DEFAULT_TEST_FRACTION,
                     help="share of each class held out for test (class-folder and split-less CSV layouts; default: "
                          f"{DEFAULT_TEST_FRACTION})")
    add.add_argument("--seed", type=int, default=0, help="seed of the split and the k-shot draws")
    actions.add_parser("list", help="every task: classes, images, test images, warnings")
    run = actions.add_parser("run", help="features, zero-shot heads, full and k-shot probes, corruptions (resumable)")
    run.add_argument("name")
    run.add_argument("--models", default="", help="comma-separated model keys (default: every model ready here)")
    run.add_argument("--shots", default=comma_list(DEFAULT_SHOTS),
                     help=f"k of the k-shot probes, comma-separated (default: {comma_list(DEFAULT_SHOTS)})")
    run.add_argument("--corruptions", default=None,
                     help=f"comma-separated ImageNet-C corruptions (default: {comma_list(DEFAULT_CORRUPTIONS)}; "
                          "'none' for none)")
    run.add_argument("--severities", default=comma_list(DEFAULT_SEVERITIES),
                     help=f"severities 1-5, comma-separated (default: {comma_list(DEFAULT_SEVERITIES)})")
    run.add_argument("--protocol", default="paper", choices=["paper", "library"])
    run.add_argument("--batch-size", type=int, default=32)
    run.add_argument("--race", action="store_true",
                     help="race first: every candidate on growing stratified samples of the clean test images, "
                          "clearly worse ones dropped (paired top-1 difference to the leader below 0; "
                          f"{RACE_ALPHA:.0%}% spent over the rounds, Lan-DeMets, on a candidate's correlated "
                          "comparisons jointly, Dunnett-type); the survivors get the full run")
    run.add_argument("--race-first", type=int, default=RACE_FIRST,
                     help=f"test images in the race's first round, doubling each round (default: {RACE_FIRST})")
    run.add_argument("--download", action="store_true", help="fetch missing hub weights first, with progress "
                                                             "(default: only weights already here)")
    run.add_argument("--strict", action="store_true", help="stop before starting when a model cannot load (default: "
                                                           "say so in one line and run the others)")
    report = actions.add_parser("report", help="the task's page as a file: html, pptx or zip")
    report.add_argument("name")
    report.add_argument("--format", choices=["html", "pptx", "zip"], default="html")
    report.add_argument("--out", type=Path, required=True)
    report.add_argument("--priority", default=DEFAULT_PRIORITY, choices=PRIORITIES)
    candidates.add_parser(actions)
    return {"task": _task}


def _task(args) -> int:
    return {"add": _add, "list": _list, "run": _run, "report": _report,
            "candidates": candidates.candidates_command}[args.task_command](args)


def _add(args) -> int:
    from core.config import refuse_in_view_mode
    from core.store import ResultsStore
    from core.task import scan_task

    refuse_in_view_mode("adding a task")
    spec, images, report = scan_task(args.name, args.data, names=args.names, templates=args.templates,
                                     test_fraction=args.test_fraction, seed=args.seed)
    ResultsStore().add_task(spec, images, report)
    counts = {part: sum(1 for image in images if image.split == part) for part in ("train", "val", "test")}
    print(f"Task {spec.name}: {len(spec.classes)} classes, {len(images):,} images ({counts['train']:,} train, "
          f"{counts['val']:,} val, {counts['test']:,} test; layout: {spec.layout}).")
    for line in report.messages():
        print(line, file=sys.stderr)
    print(f"Next: python -m core task run {spec.name} --models effnet_lite0")
    return 0


def _list(args) -> int:
    from core.store import ResultsStore

    tasks = ResultsStore().tasks()
    if tasks.empty:
        print("No task yet. Add one: python -m core task add NAME --data PATH")
        return 0
    for row in tasks.itertuples():
        spec, report = row.spec, row.report
        warnings = []
        if report.get("unreadable"):
            warnings.append(f"{len(report['unreadable'])} unreadable skipped")
        if report.get("duplicates"):
            warnings.append(f"{report['duplicates']} test duplicates of training images")
        print(f"{row.name}: {len(spec['classes'])} classes, {row.n_images:,} images, {row.n_test:,} test · "
              f"{spec['layout']} · {spec['root']}" + (f" · {'; '.join(warnings)}" if warnings else ""))
    return 0


def _numbers(text: str, what: str) -> tuple[int, ...]:
    from core.errors import UserError

    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UserError(f"Expected {what} as comma-separated whole numbers (e.g. 1,2,4), got {text!r}.") from None


def _run(args) -> int:
    from core.cli._common import message_line, selected
    from core.models.resolved import resolve_model
    from core.task.run import run_task

    models = [resolve_model(spec) for spec in selected(args.models)]
    corruptions = DEFAULT_CORRUPTIONS if args.corruptions is None else tuple(
        part.strip() for part in args.corruptions.split(",") if part.strip() and part.strip() != "none")
    stop = stop_on_sigterm()
    progress, close = message_line()
    options = dict(shots=_numbers(args.shots, "--shots"), corruptions=corruptions,
                   severities=_numbers(args.severities, "--severities"), protocol=args.protocol,
                   batch_size=args.batch_size, stop=stop, progress=progress, strict=args.strict,
                   download=True if args.download else None)
    try:
        if args.race:
            from core.task.race import race_task

            raced = race_task(args.name, models, first=args.race_first, **options)
            summary = raced.run
        else:
            summary = run_task(args.name, models, **options)
    finally:
        close()
    if args.race and raced.message:
        print(raced.message)
    if summary is None or summary.stopped:
        print(STOPPED_MESSAGE, file=sys.stderr)
        return 130
    if summary.failed:
        print(f"Not run: {', '.join(summary.failed)} (cannot load: see above); the other models ran.", file=sys.stderr)
    computed = sum(summary.features.values())
    fits = sum(summary.fits.values())
    print(f"{args.name}: {computed:,} feature vectors and {fits:,} fits computed"
          + (" (everything was stored already)." if not computed and not fits else ".")
          + f" See it: the app's Your task page, or python -m core task report {args.name} --out report.html")
    return 0


def _report(args) -> int:
    from core.task.report import write_task_report

    path = write_task_report(args.name, args.format, args.out, priority=args.priority)
    print(f"Wrote {path}")
    return 0
