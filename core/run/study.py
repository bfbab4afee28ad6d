"""The study as a plan: claim by claim, the runs that feed the Findings, and where each one stands.

`study_runs` lists the runs (benchmark × model × protocol, the paper's invariance settings, the
linear probes, the authors' decision import); `plan` marks each one from plain facts (the stored runs,
which datasets and weights are present, seconds per image per model): *stored*, *running*,
*runnable* (data and weights here) or *blocked* (with the exact command that unblocks it), with the
expected time. Both are pure; `gather_facts` and `time_models` are the parts that look at this
machine. Which runs each claim reads follows core/findings.py's `collect_evidence`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["build_plan", "PAPER_MODELS", "CLAIM_RUNS", "PlannedRun", "RunState", "Facts", "study_runs", "plan", "order_for_verdicts",
           "gather_facts", "time_models", "BENCHMARK_IMAGES", "INVARIANCE_LIMIT", "claim_summary", "plan_rows", "run_study",
           "quickstart", "quickstart_offline_help", "quickstart_images", "QUICKSTART_MODEL", "QUICKSTART_STEPS"]

PAPER_MODELS = ("vit_sup", "convnext_sup", "vit_clip", "convnext_clip")
INVARIANCE_LIMIT = 5000
"""Images per invariance setting (the claim's command: a seeded 5,000-image sample of ImageNet val)."""
SHIFTED = ("imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch", "imagenet-hard", "imagenet-c")
"""Claim 4's shifted sets with a run of their own (ImageNet-ReaL is read from the imagenet-val run)."""

CLAIM_RUNS: dict[int, tuple[str, ...]] = {
    1: ("imagenet-val",), 2: ("imagenet-val",), 3: ("imagenet-val",), 4: ("imagenet-val", *SHIFTED),
    5: ("cue-conflict",), 6: ("pug-imagenet",), 7: ("probe",), 8: ("invariance",),
}
"""Claim number → what feeds it (benchmarks, `probe`: linear probes, `invariance`: variant runs of val)."""
CLAIM_KEYS = {1: "mistakes", 2: "texture", 3: "calibration", 4: "robustness", 5: "shape_bias", 6: "pug",
              7: "transfer", 8: "invariance"}

BENCHMARK_IMAGES = {"imagenet-val": 50_000, "imagenet-v2": 10_000, "imagenet-a": 7_500, "imagenet-r": 30_000,
                    "imagenet-sketch": 50_889, "imagenet-hard": 10_980, "imagenet-c": 750_000,
                    "pug-imagenet": 88_328, "cue-conflict": 1_280}
"""Images per full run (publishers' counts; ImageNet-C: 50,000 × 15 corruptions × 5 severities)."""
_DECODE_S = 0.01
"""Seconds per image of decoding, mostly hidden behind the models by the loader (as `evaluate` assumes)."""

Status = Literal["stored", "running", "runnable", "blocked"]


@dataclass(frozen=True)
class PlannedRun:
    """One run the study needs. `kind`: evaluate | probe | import (the authors' released decisions)."""

    kind: Literal["evaluate", "probe", "import"]
    model: str
    benchmark: str
    variant: str = ""
    protocol: str = "paper"
    limit: int | None = None
    claims: tuple[int, ...] = ()

    @property
    def images(self) -> int:
        if self.kind != "evaluate":
            return 0
        return self.limit or BENCHMARK_IMAGES.get(self.benchmark, 0)

    def command(self, data: str = "PATH") -> str:
        """The exact command that makes this run (the study runs the same through `evaluate`)."""
        if self.kind == "import":
            return "python -m core download paper-decisions"
        if self.kind == "probe":
            return f"python -m core probe --models {self.model} --data {data}"
        extra = (f" --variant {self.variant}" if self.variant else "") + (
            f" --limit {self.limit} --seed 0" if self.limit else "")
        return (f"python -m core evaluate --models {self.model} --benchmark {self.benchmark} --data {data}"
                f" --protocol {self.protocol}{extra}")


@dataclass(frozen=True)
class RunState:
    run: PlannedRun
    status: Status
    source: str = ""  # stored: ours | authors
    done: int = 0  # images already stored (a partial run resumes from here)
    seconds: float | None = None  # expected time of what is left, on this machine; None: not timed
    unblock: tuple[str, ...] = ()  # blocked: the exact commands, in order
    data: str = ""  # the dataset folder a runnable run reads

    @property
    def command(self) -> str:
        return self.run.command(self.data or "PATH")


@dataclass
class Facts:
    """What `plan` needs to know about this machine and store (gathered by `gather_facts`)."""

    runs: object = None  # DataFrame of store.runs(): model, benchmark, variant, protocol, source, status, done
    probes: object = None  # DataFrame of store.probes(): model, dataset
    data: dict[str, str] = field(default_factory=dict)  # benchmark (or probe dataset) → its valid folder
    models: dict[str, tuple[str, ...]] = field(default_factory=dict)  # model → commands that unblock it, () = ready
    speed: dict[str, float] = field(default_factory=dict)  # model → seconds per image here, decoding included
    decisions_downloaded: bool = False
    evaluation_running: bool = False
    probe_datasets: tuple[str, ...] = ()


def study_runs(models=PAPER_MODELS, probe_datasets: tuple[str, ...] = ()) -> list[PlannedRun]:
    """Every run that feeds a claim, once (the plain imagenet-val run feeds claims 1-4), in claim order."""
    from core.models.preprocess import INVARIANCE_VARIANTS

    def value(number: float) -> str:
        return f"{number:g}"

    runs: dict[tuple, PlannedRun] = {}

    def add(run: PlannedRun, claim: int) -> None:
        key = (run.kind, run.model, run.benchmark, run.variant)
        old = runs.get(key)
        runs[key] = run if old is None else PlannedRun(old.kind, old.model, old.benchmark, old.variant, old.protocol,
                                                       old.limit, (*old.claims, claim))

    for claim, feeds in CLAIM_RUNS.items():
        for feed in feeds:
            if feed == "probe":
                for dataset in probe_datasets or ("transfer",):
                    for model in models:
                        add(PlannedRun("probe", model, dataset, claims=(claim,)), claim)
            elif feed == "invariance":
                for kind, settings in INVARIANCE_VARIANTS.items():
                    for setting in settings:
                        for model in models:
                            add(PlannedRun("evaluate", model, "imagenet-val", f"{kind}={value(setting)}",
                                           limit=INVARIANCE_LIMIT, claims=(claim,)), claim)
            else:
                if feed == "cue-conflict":
                    add(PlannedRun("import", "authors", "cue-conflict", claims=(claim,)), claim)
                for model in models:
                    add(PlannedRun("evaluate", model, feed, claims=(claim,)), claim)
    return list(runs.values())


def _stored(run: PlannedRun, facts: Facts) -> tuple[str, str, int]:
    """(status of the best matching stored run: done | running | partial | "", its source, images done)."""
    import pandas as pd

    if run.kind == "probe":
        probes = facts.probes
        hit = probes is not None and len(probes) and ((probes["model"] == run.model)
                                                      & (probes["dataset"] == run.benchmark)).any()
        return ("done", "ours", 0) if hit else ("", "", 0)
    runs = facts.runs
    if runs is None or not len(runs):
        return "", "", 0
    if run.kind == "import":
        authors = runs[(runs["benchmark"] == "cue-conflict") & (runs["source"] == "authors")
                       & (runs["status"] == "done")]
        return ("done", "authors", 0) if set(PAPER_MODELS) <= set(authors["model"]) else ("", "", 0)
    mine = runs[(runs["model"] == run.model) & (runs["benchmark"] == run.benchmark)
                & (runs["variant"].fillna("") == run.variant)]
    ours = mine[mine["source"] == "ours"]
    if run.variant == "" and "sample_limit" in ours:
        ours = ours[ours["sample_limit"].isna()]  # a --limit sample of a full benchmark does not count as the run
    preferred = ours[ours["protocol"] == run.protocol]
    ours = preferred if len(preferred) else ours  # findings fall back to any protocol too
    if (ours["status"] == "done").any():
        return "done", "ours", 0
    if run.benchmark == "cue-conflict":
        authors = mine[(mine["source"] == "authors") & (mine["status"] == "done")]
        if len(authors):
            return "done", "authors", 0  # findings use the authors' decisions for a model we have not run
    if len(ours):
        last = ours.iloc[-1]
        done = int(last["done"]) if "done" in ours and not pd.isna(last["done"]) else 0
        return ("running" if last["status"] == "running" and facts.evaluation_running else "partial"), "ours", done
    return "", "", 0


def plan(runs: list[PlannedRun], facts: Facts) -> list[RunState]:
    """Mark each run stored / running / runnable / blocked, with the time left and what unblocks it."""
    states = []
    for run in runs:
        status, source, done = _stored(run, facts)
        if status == "done":
            states.append(RunState(run, "stored", source))
            continue
        if status == "running":
            states.append(RunState(run, "running", source, done, _seconds(run, facts, done)))
            continue
        unblock: list[str] = []
        if run.kind == "import":
            if not facts.decisions_downloaded:
                unblock.append("python -m core download paper-decisions")
            states.append(RunState(run, "blocked" if unblock else "runnable", unblock=tuple(unblock), seconds=5.0,
                                   data=facts.data.get("paper-decisions", "")))
            continue
        folder = facts.data.get(run.benchmark, "")
        if not folder:
            unblock.append(_data_command(run))
        unblock += facts.models.get(run.model, (f"python -m core download {run.model}",))
        states.append(RunState(run, "blocked" if unblock else "runnable", done=done,
                               seconds=_seconds(run, facts, done), unblock=tuple(unblock), data=folder))
    return states


def _data_command(run: PlannedRun) -> str:
    if run.kind == "probe":
        return (f"put a transfer dataset at <data>/transfer/{run.benchmark if run.benchmark != 'transfer' else 'NAME'}/"
                "train|test/<class>/… (python -m core probe --help)")
    if run.benchmark == "imagenet-val":
        return "python -m core download imagenet-val  (says what to get and where; then --data-root)"
    return f"python -m core download {run.benchmark}"


def _seconds(run: PlannedRun, facts: Facts, done: int) -> float | None:
    speed = facts.speed.get(run.model)
    if speed is None or run.kind != "evaluate":
        return None
    return max(run.images - done, 0) * speed


def order_for_verdicts(states: list[RunState]) -> list[RunState]:
    """The runnable runs, in the order that gives verdicts soonest: cue-conflict (claim 5) first, then
    claims by the time their missing runnable runs take (a run shared by claims goes with its cheapest)."""
    runnable = [state for state in states if state.status == "runnable"]
    cost: dict[int, float] = {}
    for state in runnable:
        for claim in state.run.claims:
            cost[claim] = cost.get(claim, 0.0) + (state.seconds if state.seconds is not None else 1e9)

    def rank(state: RunState) -> tuple:
        claims = state.run.claims or (99,)
        first = min(claims, key=lambda claim: (claim != 5, cost.get(claim, 0.0), claim))
        return (first != 5, state.run.kind != "import", cost.get(first, 0.0), first)

    return sorted(runnable, key=rank)


def claim_summary(states: list[RunState]) -> list[dict]:
    """Per claim: runs stored / running / runnable / blocked and the time the runnable ones take."""
    rows = []
    for claim in CLAIM_RUNS:
        mine = [state for state in states if claim in state.run.claims]
        times = [state.seconds for state in mine if state.status == "runnable"]
        rows.append({"claim": claim, "key": CLAIM_KEYS[claim], "runs": len(mine),
                     **{status: sum(state.status == status for state in mine)
                        for status in ("stored", "running", "runnable", "blocked")},
                     "seconds": None if any(t is None for t in times) else float(sum(times))})
    return rows


_STORED_BY = {"ours": "measured here (ours)", "authors": "the authors' released decisions"}
"""What a stored run's "what next" says, by its source."""


def plan_rows(states: list[RunState]) -> list[dict]:
    """One row per claim and run (a run feeding several claims appears under each), for tables."""
    rows = []
    for claim in CLAIM_RUNS:
        for state in states:
            if claim not in state.run.claims:
                continue
            run = state.run
            note = {"stored": _STORED_BY.get(state.source, state.source), "running": f"{state.done:,} images done",
                    "runnable": (f"resumes at {state.done:,}" if state.done else ""),
                    "blocked": "; ".join(state.unblock)}[state.status]
            rows.append({"claim": claim, "model": run.model, "run": f"{run.benchmark}"
                         f"{' ' + run.variant if run.variant else ''}{f' ({run.limit:,} images)' if run.limit else ''}",
                         "kind": run.kind, "status": state.status,
                         "minutes": None if state.seconds is None or state.status == "stored" else state.seconds / 60,
                         "what next": note if state.status != "runnable" else (note or state.command)})
    return rows


# ---- looking at this machine ---------------------------------------------------------------------------

def _speed_path() -> Path:
    from core.config import cache_dir

    return cache_dir() / "study-speed.json"


def time_models(models, *, device: str | None = None, say=print) -> dict[str, float]:
    """Seconds per image of each model's forward pass on this machine, from a short timing (a warm-up batch,
    then a timed batch of 16 random images, as `evaluate` batches them on a CPU), cached per model and device
    in cache/study-speed.json."""
    import time

    import torch

    from core.run.evaluation import forward_logits
    from core.imagenet import class_names
    from core.models import registry
    from core.models.load import autocast, best_device, load_model
    from core.models.zero_shot import load_head, openai_templates

    device = device or best_device()
    try:
        cached = json.loads(_speed_path().read_text())
    except (OSError, ValueError):
        cached = {}
    specs, _ = registry()
    found = {}
    for name in models:
        key = f"{name}@{device}"
        if key not in cached:
            spec = specs.get(name)
            head = load_head(spec, class_names(), openai_templates()) if spec.head == "zero_shot" else None
            if spec.head == "zero_shot" and head is None:
                continue
            loaded = load_model(spec, device=device)
            size = loaded.image_size or 224
            batch = torch.randn(16, 3, size, size, device=loaded.device)
            with torch.inference_mode(), autocast(loaded.device):
                forward_logits(loaded, batch[:4], head)
                began = time.perf_counter()
                forward_logits(loaded, batch, head)
            cached[key] = (time.perf_counter() - began) / 16
            say(f"{name}: {cached[key] * 1000:.0f} ms per image on {device}")
        found[name] = cached[key]
    _speed_path().write_text(json.dumps(cached, indent=1))
    return found


def _evaluation_running(store) -> bool:
    """Whether an evaluation holds the store's writer lock right now."""
    import fcntl

    lock = Path(str(store.path) + ".writer.lock")
    if not lock.exists():
        return False
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _probe_datasets(root: Path) -> dict[str, str]:
    from core.data.transfer import TransferFolder

    base = root / "transfer"
    if not base.is_dir():
        return {}
    return {folder.name: str(folder) for folder in sorted(base.iterdir())
            if folder.is_dir() and not TransferFolder().validate(folder)}


def gather_facts(models=PAPER_MODELS, *, data_root: Path | None = None, store=None, timing: bool = True,
                 say=print) -> Facts:
    """Look at the store, the data folder (`--data-root`, default the download folder) and the models."""
    from core.data.download import data_dir, dataset_status
    from core.data.registry import BENCHMARKS
    from core.data.sources import SOURCES
    from core.models import model_status, registry
    from core.store import ResultsStore

    store = store or ResultsStore()
    root = Path(data_root or data_dir()).expanduser()
    facts = Facts()
    if store.path.exists():
        facts.runs = store.runs()
        facts.probes = store.probes()
        facts.evaluation_running = _evaluation_running(store)
    for benchmark in BENCHMARK_IMAGES:
        folder = root / (SOURCES[benchmark].folder if benchmark in SOURCES else benchmark)
        if folder.is_dir() and not BENCHMARKS[benchmark].adapter.validate(folder):
            facts.data[benchmark] = str(folder)
    facts.probe_datasets = tuple(_probe_datasets(root))
    facts.data.update(_probe_datasets(root))
    facts.data["transfer"] = ""
    with _data_dir(root):
        facts.decisions_downloaded = dataset_status("paper-decisions") == "present"
    if facts.decisions_downloaded:
        facts.data["paper-decisions"] = str(root / SOURCES["paper-decisions"].folder)
    specs, _ = registry()
    ready = []
    for name in models:
        try:
            status = model_status(specs.get(name))
        except Exception as error:  # noqa: BLE001 - an unknown or broken entry blocks only its own runs
            facts.models[name] = (f"fix the model entry `{name}` ({error})",)
            continue
        if not status.weights_present:
            facts.models[name] = (f"python -m core download {name}",)
        elif status.head_cached is False:
            facts.models[name] = (f"python -m core zero-shot-head {name}",)
        else:
            facts.models[name] = ()
            ready.append(name)
    from core.models.load import best_device, likely_device

    device = best_device() if timing else likely_device()  # listing the plan must not import torch
    measured = _measured_speed(facts.runs, device)
    untimed = [name for name in ready if name not in measured]
    if timing and untimed:
        forward = time_models(untimed, device=device, say=say)
    else:
        try:
            cached = json.loads(_speed_path().read_text())
        except (OSError, ValueError):
            cached = {}
        forward = {name: cached[f"{name}@{device}"] for name in untimed if f"{name}@{device}" in cached}
    facts.speed = {**{name: seconds + _DECODE_S for name, seconds in forward.items()},
                   **{name: measured[name] for name in ready if name in measured}}
    return facts


def _measured_speed(runs, device: str) -> dict[str, float]:
    """Seconds per image of each model's finished runs of ours on this kind of device (the median run):
    a better calibration than any short timing, since it includes decoding and this machine's load."""
    if runs is None or not len(runs) or "images_per_s" not in runs:
        return {}
    kind = device.split(":")[0]
    done = runs[(runs["source"] == "ours") & (runs["status"] == "done") & (runs["images_per_s"] > 0)
                & (runs["device"].fillna("").str.split(":").str[0] == kind)]
    return {model: float((1 / group["images_per_s"]).median()) for model, group in done.groupby("model")}


class _data_dir:
    """Point BAE_DATA_DIR at `root` for a moment (download status reads it)."""

    def __init__(self, root: Path) -> None:
        self.root, self.old = root, None

    def __enter__(self):
        self.old = os.environ.get("BAE_DATA_DIR")
        os.environ["BAE_DATA_DIR"] = str(self.root)

    def __exit__(self, *exc):
        if self.old is None:
            os.environ.pop("BAE_DATA_DIR", None)
        else:
            os.environ["BAE_DATA_DIR"] = self.old


def build_plan(models=PAPER_MODELS, *, data_root: Path | None = None, store=None, timing: bool = True,
               say=print) -> list[RunState]:
    """`plan(study_runs(...), gather_facts(...))`: the probe datasets are those under <data>/transfer/ plus
    those the store already holds probes of."""
    facts = gather_facts(models, data_root=data_root, store=store, timing=timing, say=say)
    datasets = list(facts.probe_datasets)
    if facts.probes is not None and len(facts.probes):
        datasets += [name for name in facts.probes.loc[facts.probes["model"].isin(models), "dataset"]
                     if name not in datasets]
    return plan(study_runs(models, tuple(dict.fromkeys(datasets))), facts)


def run_study(states: list[RunState], *, store=None, progress=None, should_stop=None, say=print) -> int:
    """Run every runnable run of `states` in verdict order; returns how many runs finished.

    Runs of one benchmark setting share a pass (each image decoded once for all its models), and each
    run resumes where a stopped one left off (`evaluate` skips stored rows). `progress(label, done,
    total)` gets one call per update of the current run and one with label "study" for the whole.
    """
    from core.store import ResultsStore

    store = store or ResultsStore()
    todo = order_for_verdicts(states)
    total = sum(max(state.run.images - state.done, 0) for state in todo)
    finished_before = finished = 0
    groups: list[list[RunState]] = []
    for state in todo:
        if groups and state.run.kind == "evaluate" and _group_key(state) == _group_key(groups[-1][0]):
            groups[-1].append(state)
        else:
            groups.append([state])
    for group in groups:
        if should_stop and should_stop():
            break
        run = group[0].run
        models = [state.run.model for state in group]
        if run.kind == "import":
            from core.data.download import data_dir
            from core.run.decisions import import_author_decisions

            import_author_decisions(group[0].data or data_dir() / "cue-conflict-paper-models", store=store, say=say)
            finished += 1
            continue
        if run.kind == "probe":
            from core.run.probe import run_probes

            run_probes(models, group[0].data, protocol=run.protocol, store=store, say=say,
                       progress=(lambda update: progress(f"probe {update.message}", update.done, update.total))
                       if progress else None)
            finished += len(group)
            continue
        from core.run.evaluation import evaluate

        label = f"{run.benchmark}{' ' + run.variant if run.variant else ''}: {', '.join(models)}"
        todo_images = sum(max(state.run.images - state.done, 0) for state in group)

        def update(event, label=label, base=finished_before, todo_images=todo_images):
            if progress:
                progress(label, event.done, event.total)
                share = event.done / max(event.total, 1) * todo_images
                progress("study", min(base + int(share), total), total)

        with store.writer_lock(on_wait=say):
            summaries = evaluate(models, run.benchmark, group[0].data, variant=run.variant, protocol=run.protocol,
                                 limit=run.limit, seed=0, store=store, progress=update, should_stop=should_stop,
                                 say=say)
        finished_before += todo_images
        if progress:
            progress("study", min(finished_before, total), total)
        finished += sum(summary.status == "done" for summary in summaries)
        if any(summary.status == "stopped" for summary in summaries):
            break
    return finished


def _group_key(state: RunState) -> tuple:
    run = state.run
    return (run.kind, run.benchmark, run.variant, run.limit, run.protocol, state.data)


QUICKSTART_MODEL = "effnet_lite0"


def quickstart_offline_help() -> str:
    """What to copy where when the quickstart downloads cannot reach their sources."""
    from core.data.download import data_dir
    from core.data.sources import SOURCES

    base = data_dir()
    return (f"Offline? Copy the cue-conflict images (16 class folders, from {SOURCES['cue-conflict'].remotes[0].url}) "
            f"to `{base / 'cue-conflict'}`, the paper authors' four `cue-conflict_<model>_session-1.csv` files to "
            f"`{base / 'cue-conflict-paper-models'}`, and model-vs-human's ten `cue-conflict_subject-NN_session_1.csv` "
            f"files to `{base / 'cue-conflict-human'}`; then run `python -m core quickstart` again.")


QUICKSTART_DOWNLOADS = {"cue-conflict": "Download the 1,280 cue-conflict images",
                        "paper-decisions": "Download the paper authors' decisions",
                        "human-decisions": "Download the human observers' decisions"}
QUICKSTART_STEPS = (*QUICKSTART_DOWNLOADS.values(), "Import the decisions", f"Run {QUICKSTART_MODEL} on cue-conflict")
"""The quickstart's steps, in order: what `progress` reports (label, done, total) and Home shows one line each."""


def quickstart(*, store=None, progress=None, should_stop=None, say=print) -> list:
    """Cue-conflict images, the authors' and humans' decisions (downloaded and imported), then the offline
    model on cue-conflict: the first real results (Shape vs texture, its gallery, Findings claim 5).

    `progress(step, done, total)` is called with the steps of `QUICKSTART_STEPS` only: a download's files are
    folded into its step (its share of the files fetched; the last tenth is checking and unpacking)."""
    from core.data.download import DownloadFailed, data_dir, download
    from core.data.sources import SOURCES
    from core.run.decisions import import_author_decisions, import_human_decisions
    from core.errors import UserError
    from core.run.evaluation import evaluate
    from core.store import ResultsStore

    progress = progress or (lambda label, done, total: None)
    store = store or ResultsStore()
    try:
        for name, step in QUICKSTART_DOWNLOADS.items():
            files = {}

            def fetched(label, done, total, step=step, count=len(SOURCES[name].remotes) or 1):
                files[label] = done / total if total else 0.0
                progress(step, round(900 * sum(files.values()) / count), 1000)

            progress(step, 0, 1000)
            download(name, progress=fetched, say=say)
            progress(step, 1000, 1000)
    except DownloadFailed as error:
        raise UserError(f"{error} {quickstart_offline_help()}") from None
    progress(QUICKSTART_STEPS[3], 0, 2)
    import_author_decisions(data_dir() / "cue-conflict-paper-models", store=store, say=say)
    progress(QUICKSTART_STEPS[3], 1, 2)
    import_human_decisions(data_dir() / "cue-conflict-human", store=store, say=say)
    progress(QUICKSTART_STEPS[3], 2, 2)

    def update(event):
        progress(QUICKSTART_STEPS[4], event.done, event.total)

    with store.writer_lock(on_wait=say):
        summaries = evaluate([QUICKSTART_MODEL], "cue-conflict", data_dir() / "cue-conflict", store=store,
                             progress=update, should_stop=should_stop, say=say)
    if all(summary.status in ("done", "skipped") for summary in summaries):
        progress(QUICKSTART_STEPS[4], 1, 1)
    return summaries


def quickstart_images(runs) -> int:
    """How many images the quickstart's finished run holds in a runs table (`ResultsStore.runs()`); 0 before it
    is stored. Home's sign that the first results are in."""
    if runs is None or runs.empty:
        return 0
    found = (runs["model"] == QUICKSTART_MODEL) & (runs["benchmark"] == "cue-conflict") & (runs["status"] == "done")
    if "source" in runs:
        found &= runs["source"] == "ours"
    return int(runs.loc[found, "done"].max()) if found.any() else 0
