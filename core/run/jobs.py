"""Background evaluations: `python -m core evaluate` as detached processes the app can watch and stop.

A detached process survives Streamlit reruns, page switches and browser reloads; progress is read
from the results store, and SIGTERM asks it to finish the batch in flight and stop (resumable). A command that
reports steps (the quickstart) also writes them to the job's progress file (`progress_writer`), which a page
reads as one line per step (`read_progress`) instead of the terminal's progress bars.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from core.config import PROJECT_ROOT, cache_dir, refuse_in_view_mode

__all__ = ["Job", "launch", "launch_evaluation", "launch_probe", "launch_study", "launch_quickstart", "jobs", "cancel",
           "log_tail", "latest", "progress_writer", "read_progress", "PROGRESS_ENV"]

PROGRESS_ENV = "BAE_JOB_PROGRESS"
"""Set by `launch` for the job it starts: the file where the job's steps and their progress go (JSON)."""


@dataclass(frozen=True)
class Job:
    pid: int
    command: tuple[str, ...]
    log: str
    started: float

    @property
    def running(self) -> bool:
        try:
            finished, _ = os.waitpid(self.pid, os.WNOHANG)  # reap it if it is our child
            if finished == self.pid:
                return False
        except ChildProcessError:
            pass  # started by an earlier app process: not our child
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return _not_zombie(self.pid)

    @property
    def progress_file(self) -> Path:
        return Path(self.log).with_suffix(".progress.json")


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _registry_path() -> Path:
    return cache_dir() / "jobs.json"


def _read() -> list[Job]:
    try:
        entries = json.loads(_registry_path().read_text())
    except (OSError, ValueError):
        return []
    return [Job(entry["pid"], tuple(entry["command"]), entry["log"], entry["started"]) for entry in entries]


def _write(entries: list[Job]) -> None:
    path = _registry_path()
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps([asdict(job) for job in entries]))
    os.replace(temporary, path)


def _command(arguments: list[str]) -> list[str]:
    return [sys.executable, "-m", "core", *arguments]


def launch(arguments: list[str], name: str) -> Job:
    """Start `python -m core <arguments>` detached from the caller (its own session and log file)."""
    refuse_in_view_mode(f"starting background `{arguments[0]}` jobs")
    command = _command(arguments)
    logs = cache_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{arguments[0]}-{time.strftime('%Y%m%d-%H%M%S')}-{name}.log"
    progress = log.with_suffix(".progress.json")
    with open(log, "w") as handle:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1", PROGRESS_ENV: str(progress)})
    job = Job(process.pid, tuple(command), str(log), time.time())
    _write([entry for entry in _read() if entry.running] + [job])
    return job


def launch_evaluation(models: list[str], benchmark: str, data: str, *, variant: str = "", protocol: str = "paper",
                      limit: int | None = None, seed: int = 0, ray: str | None = None) -> Job:
    """`python -m core evaluate …` in the background (`ray`: `local`, `auto` or a cluster address)."""
    arguments = ["evaluate", "--models", ",".join(models), "--benchmark", benchmark, "--data", str(data),
                 "--protocol", protocol]
    if ray:
        arguments += ["--ray", ray]
    if variant:
        arguments += ["--variant", variant]
    if limit:
        arguments += ["--limit", str(limit), "--seed", str(seed)]
    return launch(arguments, benchmark)


def launch_probe(models: list[str], data: str, *, protocol: str = "paper", vtab1k: bool = False, seed: int = 0) -> Job:
    """`python -m core probe …` in the background."""
    arguments = ["probe", "--models", ",".join(models), "--data", str(data), "--protocol", protocol, "--seed", str(seed)]
    return launch(arguments + (["--vtab1k"] if vtab1k else []), Path(data).name or "probe")


def launch_study(models: list[str] | None = None, data_root: str | None = None) -> Job:
    """`python -m core study …` in the background: every runnable missing run of the plan."""
    arguments = ["study", "--no-timing"]
    if models:
        arguments += ["--models", ",".join(models)]
    if data_root:
        arguments += ["--data-root", str(data_root)]
    return launch(arguments, "plan")


def launch_quickstart() -> Job:
    """`python -m core quickstart` in the background: cue-conflict, the decisions, the offline model on it."""
    return launch(["quickstart"], "first-results")


def jobs() -> list[Job]:
    """Evaluations started from the app, newest first (finished ones stay listed with their log)."""
    return sorted(_read(), key=lambda job: job.started, reverse=True)[:10]


def cancel(job: Job) -> None:
    """Ask a running evaluation to stop after its current batch (it can be resumed later)."""
    refuse_in_view_mode("stopping background jobs")
    if job.running:
        os.kill(job.pid, signal.SIGTERM)


def latest(command: str) -> Job | None:
    """The newest job started from the app whose command includes `command` (e.g. "quickstart"), running or not."""
    return next((job for job in jobs() if command in job.command), None)


def log_tail(job: Job, lines: int = 3) -> str:
    """The last lines of a job's log: tqdm's carriage returns folded to the latest state, terminal control codes
    (cursor moves, colours) removed."""
    import re

    try:
        text = Path(job.log).read_text(errors="replace")
    except OSError:
        return ""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    kept = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    return "\n".join([line for line in kept if line.strip()][-lines:])


def progress_writer(steps=(), min_interval_s: float = 0.5):
    """`progress(label, done, total)` that keeps each step's latest state in the job's progress file (JSON, replaced
    whole, at most every `min_interval_s` unless a step starts or ends), or None outside a job started by `launch`.
    `steps` are listed from the start at 0, so a page shows every step to come."""
    path = os.environ.get(PROGRESS_ENV)
    if not path:
        return None
    state = {label: [0, 1] for label in steps}
    last = [0.0]

    def progress(label: str, done: int, total: int) -> None:
        new_or_ended = label not in state or (total and done >= total)
        state[label] = [int(done), int(total)]
        now = time.monotonic()
        if new_or_ended or now - last[0] >= min_interval_s:
            last[0] = now
            temporary = Path(path).with_suffix(".tmp")
            temporary.write_text(json.dumps({"steps": [[name, *value] for name, value in state.items()]}))
            os.replace(temporary, path)

    if steps:
        progress(steps[0], 0, 1)
    return progress


def read_progress(job: Job) -> list[tuple[str, int, int]]:
    """(step, done, total) of each step the job reported, in order (empty before its first report)."""
    try:
        return [(name, done, total) for name, done, total in json.loads(job.progress_file.read_text())["steps"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
