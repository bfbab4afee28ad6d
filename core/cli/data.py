"""Commands that bring data in: `download`, `import-authors`, `quickstart`."""

from __future__ import annotations

import sys
from pathlib import Path

from core.cli._common import STOPPED_MESSAGE, download_bars, step_bars, stop_on_sigterm
from core.errors import UserError


def add_commands(commands) -> dict:
    """Adds this group's subcommands to `commands`; returns their handlers by name."""
    download = commands.add_parser(
        "download", help="fetch datasets (see --list) or models' weights (needs internet; BAE_DATA_MIRROR=URL for a mirror)")
    download.add_argument("models", nargs="*", metavar="DATASET|MODEL",
                          help="a dataset of --list (imagenet-c/CORRUPTION for one corruption) or a model key")
    download.add_argument("--list", action="store_true", help="every dataset: whether it is present, missing or "
                                                              "partial here, size, licence")
    download.add_argument("--long", action="store_true", help="with --list: each source's publisher, pinned revision "
                                                              "or checksum (and where it came from), and folder")
    download.add_argument("--revision", metavar="COMMIT", help="a hub dataset at another commit than the pinned one "
                                                               "(recorded in its manifest and with every run on it)")
    download.add_argument("--files", metavar="GLOB", help="with --revision: the shard set to take where a revision "
                                                          "holds several (e.g. '*-of-00005-*')")
    authors = commands.add_parser("import-authors",
                                  help="store the paper authors' (and human observers') cue-conflict decisions")
    authors.add_argument("folder", type=Path, nargs="?", help="folder of the authors' CSVs (default: downloaded copy)")
    authors.add_argument("--humans", type=Path, help="folder of model-vs-human's cue-conflict_subject-*.csv files")
    commands.add_parser("quickstart", help="cue-conflict images + the authors' and humans' decisions, then the offline "
                                           "model on cue-conflict: real results in minutes")
    return {"download": _download, "import-authors": _import_authors, "quickstart": _quickstart}


def _download(args) -> int:
    from core.data.sources import SOURCES

    if args.list:
        print(_source_table(long=args.long))
        return 0
    if not args.models:
        print("Name what to download (python -m core download --list shows every dataset), or a model key.",
              file=sys.stderr)
        return 2
    if (args.revision or args.files) and len(args.models) != 1:
        print("--revision and --files choose one dataset's revision: name one dataset.", file=sys.stderr)
        return 2
    progress, close = download_bars()
    done, failed = [], []
    for name in args.models:
        try:
            if name in SOURCES or name == "imagenet-val":
                _download_dataset(name, progress, close, revision=args.revision, files=args.files)
            else:
                _download_model(name)
            done.append(name)
        except UserError as error:
            close()
            print(str(error), file=sys.stderr)
            failed.append(name)
    if len(args.models) > 1:
        print(f"download: {len(done)} done" + (f" ({', '.join(done)})" if done else "") + f", {len(failed)} failed"
              + (f" ({', '.join(failed)})" if failed else "") + ".", file=sys.stderr if failed else sys.stdout)
    return 1 if failed else 0


def _download_dataset(name: str, progress, close, *, revision: str | None, files: str | None) -> None:
    from core.data.download import download

    download(name, progress=progress, revision=revision, files=files)
    close()
    if name == "cue-conflict":  # the images, then the paper authors' and the human observers' decisions
        for extra in ("paper-decisions", "human-decisions"):
            download(extra, progress=progress)
            close()
    if name in ("cue-conflict", "paper-decisions", "human-decisions"):  # a stored import is skipped
        _import_downloaded_decisions(name)


def _download_model(name: str) -> None:
    from core.data.sources import SOURCES
    from core.models import registry
    from core.models.load import download_weights

    models, _ = registry()
    if name not in [spec.name for spec in models]:
        import difflib

        similar = difflib.get_close_matches(name, [*SOURCES, *(spec.name for spec in models)], n=5, cutoff=0.5)
        raise UserError(f"No dataset or model named `{name}`." + (f" Did you mean: {', '.join(similar)}?"
                        if similar else "") + " Datasets: python -m core download --list; models: "
                        "python -m core models.")
    download_weights(models.get(name))


LIST_WIDTH = 99
"""`download --list` fits a terminal of 100 columns."""


def _source_table(*, long: bool) -> str:
    """The `--list` table: name, state, size, licence, aligned and cut to LIST_WIDTH; `long` adds, under each
    row, its publisher page, revision or checksum (and where that came from) and folder, wrapped."""
    import textwrap

    from core.data.download import source_rows

    rows = [row | {"size": row["size"].split(" (")[0]} for row in source_rows(include_corruptions=True)]
    name_w = max(len("name"), *(len(row["name"]) for row in rows))
    size_w = max(len("size"), *(len(row["size"]) for row in rows))
    fixed = name_w + 2 + 8 + 2 + size_w + 2

    def line(name, state, size, licence) -> str:
        text = f"{name:<{name_w}}  {state:<8}  {size:>{size_w}}  {licence}"
        return text if len(text) <= LIST_WIDTH else text[:LIST_WIDTH - 1] + "…"

    out = [line("name", "state", "size", "licence"), "-" * min(LIST_WIDTH, fixed + 20)]
    for row in rows:
        out.append(line(row["name"], row["status"], row["size"], row["licence"]))
        if long:
            indent = " " * 4
            for label, value in (("source", row["source"]), ("pinned", row["pinned"]), ("folder", row["path"])):
                out += textwrap.wrap(f"{label}: {value}", LIST_WIDTH, initial_indent=indent,
                                     subsequent_indent=indent + "  ", break_on_hyphens=False)
    if not long:
        out.append("Sources, pinned revisions and checksums: python -m core download --list --long")
    return "\n".join(out)


def _import_downloaded_decisions(name: str) -> None:
    from core.data.download import data_dir
    from core.run.decisions import import_author_decisions, import_human_decisions

    if name in ("cue-conflict", "paper-decisions"):
        import_author_decisions(data_dir() / "cue-conflict-paper-models")
    if name in ("cue-conflict", "human-decisions"):
        import_human_decisions(data_dir() / "cue-conflict-human")


def _import_authors(args) -> int:
    from core.data.download import data_dir
    from core.run.decisions import import_author_decisions, import_human_decisions

    imported = []
    if args.folder is not None or args.humans is None:
        imported += import_author_decisions(args.folder or data_dir() / "cue-conflict-paper-models")
    if args.humans is not None:
        imported += import_human_decisions(args.humans)
    return 0 if imported else 2


def _quickstart(args) -> int:
    from core.run.jobs import progress_writer
    from core.run.study import QUICKSTART_STEPS, quickstart

    stop = stop_on_sigterm()
    bars, close = step_bars()
    job = progress_writer(QUICKSTART_STEPS)  # started from the app: Home shows these steps

    def progress(label: str, done: int, total: int) -> None:
        bars(label, done, total)
        if job:
            job(label, done, total)

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
