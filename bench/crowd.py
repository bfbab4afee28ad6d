"""Crowd: how fast does the real server answer N viewers at once, on a still store and while `evaluate` writes?

Starts `streamlit run app.py` on 127.0.0.1 (a free port) against a full-study results store (build it with
`bench/paper_scale.py`), then drives N concurrent sessions as websocket clients speaking Streamlit's own
protocol (its `streamlit.proto` classes over the `websockets` package Streamlit itself uses): each session
asks for a page the way the browser does (a `BackMsg` rerun request naming the page's URL path) and waits
for the run's `script_finished` message. The time between the two is the server time of one page open.
Exceptions the page renders (`Delta` elements of type exception) count as errors; error boxes
(`st.error`) are counted apart.

Phases, all on one server process (sessions share its caches, as in a meeting):
    warm-up  one session opens every page once (a fresh server's first opens, reported apart);
    still    N sessions open Findings and every analysis page, nothing writes to the store;
    writing  the same while `python -m core evaluate` (the offline model on cue-conflict, a new sampled run
             each time, restarted until the crowd is done) commits rows to the same store. Each evaluation
             must end `done` with every image stored: the crowd must not cost it anything.

    bash scripts/dev python bench/crowd.py --store /tmp/paper_scale_crowd/results.duckdb [--sessions 10]
        [--phases still,writing] [--out crowd.json]

Report the median, p95 and max with the load average (`uptime`) printed beside them: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGES = ("findings", "mistakes", "shape-texture", "calibration", "robustness", "pug", "invariance", "transfer")
"""Findings and every analysis page, by URL path (what the browser sends as the page name)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far: the server's work, whatever else the machine
    runs (its wall time shares the cores with them)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def start_server(store: Path, port: int, log: Path, extra_env: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, "BAE_RESULTS_DB": str(store), "PYTHONUNBUFFERED": "1", **extra_env}
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", "--server.runOnSave", "false"]
    with open(log, "w") as handle:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"The server exited ({server.returncode}); its log: {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                if answer.read().strip() == b"ok":
                    return server
        except OSError:
            pass
        time.sleep(0.5)
    server.terminate()
    raise SystemExit(f"The server did not answer /_stcore/health within 120 s; its log: {log}")


# --- one viewer --------------------------------------------------------------------------------

async def open_page(websocket, page: str, timeout_s: float) -> dict:
    """Ask for `page` as the browser does and wait for its run to finish; server seconds and what it showed."""
    from streamlit.proto.Alert_pb2 import Alert
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    request = BackMsg()
    request.rerun_script.page_name = page
    request.rerun_script.query_string = ""
    request.rerun_script.page_script_hash = ""
    exceptions, error_boxes, elements = [], [], 0
    began = time.perf_counter()
    await websocket.send(request.SerializeToString())
    while True:
        remaining = timeout_s - (time.perf_counter() - began)
        data = await asyncio.wait_for(websocket.recv(), max(remaining, 0.001))
        message = ForwardMsg()
        message.ParseFromString(data)
        kind = message.WhichOneof("type")
        if kind == "delta" and message.delta.WhichOneof("type") == "new_element":
            element = message.delta.new_element
            elements += 1
            if element.WhichOneof("type") == "exception":
                exceptions.append(f"{element.exception.type}: {element.exception.message}"[:300])
            elif element.WhichOneof("type") == "alert" and element.alert.format == Alert.ERROR:
                error_boxes.append(element.alert.body[:300])
        elif kind == "page_not_found":
            exceptions.append(f"page not found: {page}")
        elif kind == "script_finished":
            if message.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                continue  # the page asked for a rerun (st.rerun): its next run is part of this open
            if message.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                exceptions.append("script compile error")
            return {"page": page, "seconds": time.perf_counter() - began, "exceptions": exceptions,
                    "error_boxes": error_boxes, "elements": elements}


async def viewer(port: int, pages: list[str], timeout_s: float, start: asyncio.Event) -> list[dict]:
    from websockets.asyncio.client import connect

    results = []
    async with connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"], max_size=None,
                       open_timeout=60, ping_interval=None) as websocket:
        await start.wait()
        for page in pages:
            began = time.time()
            try:
                result = await open_page(websocket, page, timeout_s)
            except Exception as error:  # noqa: BLE001 - a timeout or a dropped socket is counted; the crowd goes on
                result = {"page": page, "seconds": time.time() - began,
                          "exceptions": [f"no answer: {type(error).__name__}: {error}"[:300]], "error_boxes": [],
                          "elements": 0}
            result["wall_start"] = began
            results.append(result)
    return results


async def crowd(port: int, sessions: int, pages: list[str], timeout_s: float) -> list[dict]:
    """N viewers connect, then all start at once; each opens every page in order."""
    start = asyncio.Event()
    tasks = [asyncio.create_task(viewer(port, pages, timeout_s, start)) for _ in range(sessions)]
    await asyncio.sleep(1.0)  # every websocket open before the first request
    start.set()
    rows = []
    for number, task in enumerate(tasks):
        for row in await task:
            rows.append({**row, "session": number})
    return rows


# --- the writer ----------------------------------------------------------------------------------

class Evaluations:
    """`python -m core evaluate` on cue-conflict with the offline model, a new sampled run each time (a new
    seed), restarted while the crowd runs; each one's log kept."""

    def __init__(self, store: Path, data: Path, model: str, limit: int, logs: Path, env: dict[str, str]) -> None:
        self.store, self.data, self.model, self.limit, self.logs, self.env = store, data, model, limit, logs, env
        self.started: list[dict] = []
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        seed = int(time.time() * 1000) % 1_000_000_000
        log = self.logs / f"evaluate-{seed}.log"
        command = [sys.executable, "-m", "core", "evaluate", "--models", self.model, "--benchmark", "cue-conflict",
                   "--data", str(self.data), "--limit", str(self.limit), "--seed", str(seed)]
        with open(log, "w") as handle:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            env={**os.environ, "BAE_RESULTS_DB": str(self.store),
                                                 "PYTHONUNBUFFERED": "1", **self.env})
        self.started.append({"seed": seed, "log": str(log), "began": time.time()})

    def keep_going(self) -> None:
        """Called while the crowd runs: a finished evaluation is followed by the next one."""
        if self.process is not None and self.process.poll() is not None:
            self.started[-1].update(rc=self.process.returncode, ended=time.time())
            self.start()

    def finish(self, timeout_s: float) -> None:
        if self.process is not None:
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 15)  # SIGTERM: it stops after its batch, resumable
                self.process.wait(timeout=120)
            self.started[-1].update(rc=self.process.returncode, ended=time.time())

    def check(self) -> list[dict]:
        """Each evaluation's run: status and images stored (read after it ended)."""
        from core.store import ResultsStore

        runs = ResultsStore(self.store).runs()
        ours = runs[(runs["model"] == self.model) & (runs["benchmark"] == "cue-conflict")]
        checked = []
        for entry in self.started:
            run = ours[ours["sample_seed"] == entry["seed"]] if "sample_seed" in ours else ours.iloc[0:0]
            stored = int(ResultsStore(self.store).query("SELECT count(*) AS n FROM predictions WHERE run_id = ?",
                                                        [run["run_id"].iloc[0]])["n"].iloc[0]) if len(run) else 0
            checked.append({**entry, "status": run["status"].iloc[0] if len(run) else "missing",
                            "stored": stored, "expected": self.limit,
                            "images_per_s": float(run["images_per_s"].iloc[0]) if len(run) and
                            run["images_per_s"].iloc[0] == run["images_per_s"].iloc[0] else None})
        return checked

    def wait_until_writing(self, timeout_s: float = 300) -> None:
        """Until the first evaluation has committed rows (model loaded, loader running)."""
        from core.store import ResultsStore, StoreLocked

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"evaluate exited early; log: {self.started[-1]['log']}")
            try:
                runs = ResultsStore(self.store).runs()
            except StoreLocked:  # the writer held the file for the whole timeout: ask again
                continue
            if ((runs["status"] == "running") & (runs["done"] > 0)).any():
                return
            time.sleep(1)
        raise SystemExit("evaluate wrote nothing within 5 min")


async def crowd_while(evaluations: Evaluations, port: int, sessions: int, pages: list[str],
                      timeout_s: float) -> list[dict]:
    task = asyncio.create_task(crowd(port, sessions, pages, timeout_s))
    while not task.done():
        evaluations.keep_going()
        await asyncio.sleep(1)
    return task.result()


# --- report --------------------------------------------------------------------------------------

def summary(rows: list[dict]) -> dict:
    seconds = np.array([row["seconds"] for row in rows])
    return {"opens": len(rows), "median_s": float(np.median(seconds)), "p95_s": float(np.percentile(seconds, 95)),
            "max_s": float(seconds.max()), "errors": sum(len(row["exceptions"]) for row in rows),
            "error_boxes": sum(len(row["error_boxes"]) for row in rows)}


def _table(phases: dict[str, dict]) -> str:
    lines = ["| phase | load before → after | page opens | median (s) | p95 (s) | max (s) | errors | error boxes | "
             "server CPU s per open |", "|---|---|---|---|---|---|---|---|---|"]
    for name, phase in phases.items():
        s = phase["summary"]
        lines.append(f"| {name} | {phase['load_before']} → {phase['load_after']} | {s['opens']} | "
                     f"{s['median_s']:.2f} | "
                     f"{s['p95_s']:.2f} | {s['max_s']:.2f} | {s['errors']} | {s['error_boxes']} | "
                     f"{s['server_cpu_s_per_open']:.2f} |")
    return "\n".join(lines)


def _per_page(rows: list[dict]) -> str:
    lines = ["| page | median (s) | p95 (s) | max (s) | elements drawn (median) |", "|---|---|---|---|---|"]
    for page in dict.fromkeys(row["page"] for row in rows):
        seconds = np.array([row["seconds"] for row in rows if row["page"] == page])
        drawn = np.median([row["elements"] for row in rows if row["page"] == page])
        lines.append(f"| {page} | {np.median(seconds):.2f} | {np.percentile(seconds, 95):.2f} | {seconds.max():.2f} | "
                     f"{drawn:.0f} |")
    return "\n".join(lines)


def main() -> None:
    from core.config import shared_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=Path("/tmp/paper_scale_crowd/results.duckdb"))
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--phases", default="still,writing", help="comma-separated: still, writing")
    parser.add_argument("--pages", default=",".join(PAGES), help="URL paths, in the order each session opens them")
    parser.add_argument("--timeout", type=float, default=600, help="seconds one page open may take")
    parser.add_argument("--eval-model", default="effnet_lite0")
    parser.add_argument("--eval-data", type=Path, default=shared_dir() / "data" / "cue-conflict")
    parser.add_argument("--eval-limit", type=int, default=640, help="images per evaluation (a seeded sample)")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment of the server (e.g. BAE_VIEW_ONLY=1)")
    parser.add_argument("--out", type=Path, help="every page open and the summaries as JSON")
    args = parser.parse_args()
    if not args.store.exists():
        raise SystemExit(f"No store at {args.store}. Build one: bash scripts/dev python bench/paper_scale.py "
                         f"--store {args.store}")
    pages = [page.strip() for page in args.pages.split(",") if page.strip()]
    extra = dict(item.split("=", 1) for item in args.server_env)
    logs = args.store.parent / "crowd-logs"
    logs.mkdir(exist_ok=True)
    port = _free_port()
    print(f"{os.cpu_count()} CPUs; load {_load()}; server on 127.0.0.1:{port}; store {args.store}", flush=True)
    server = start_server(args.store, port, logs / "server.log", extra)
    phases, evaluations = {}, None
    try:
        for name in ["warm-up", *[p.strip() for p in args.phases.split(",") if p.strip()]]:
            load_before = _load()
            began = time.time()
            cpu_before = _cpu_s(server.pid)
            if name == "warm-up":
                rows = asyncio.run(crowd(port, 1, pages, args.timeout))
            elif name == "still":
                rows = asyncio.run(crowd(port, args.sessions, pages, args.timeout))
            elif name == "writing":
                evaluations = Evaluations(args.store, args.eval_data, args.eval_model, args.eval_limit, logs, extra)
                evaluations.start()
                evaluations.wait_until_writing()
                print(f"  evaluate is writing (log {evaluations.started[-1]['log']})", flush=True)
                load_before = _load()
                cpu_before = _cpu_s(server.pid)
                rows = asyncio.run(crowd_while(evaluations, port, args.sessions, pages, args.timeout))
            else:
                raise SystemExit(f"Unknown phase {name!r}: expected still or writing.")
            phases[name] = {"load_before": load_before, "load_after": _load(), "wall_s": time.time() - began,
                            "summary": {**summary(rows), "server_cpu_s_per_open": (_cpu_s(server.pid) - cpu_before)
                                        / max(len(rows), 1)}, "rows": rows}
            print(f"\n{name}: {json.dumps(phases[name]['summary'])} ({phases[name]['wall_s']:.0f} s)", flush=True)
            print(_per_page(rows), flush=True)
            for row in rows:
                for problem in row["exceptions"]:
                    print(f"  ERROR session {row['session']} {row['page']}: {problem}", flush=True)
        if evaluations is not None:
            evaluations.finish(timeout_s=900)
            checked = evaluations.check()
            phases["writing"]["evaluations"] = checked
            for entry in checked:
                print(f"  evaluate seed {entry['seed']}: {entry['status']}, {entry['stored']:,}/{entry['expected']:,} "
                      f"images stored, rc {entry.get('rc')}, {entry['images_per_s'] or 0:.1f} img/s", flush=True)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)
        if evaluations is not None and evaluations.process is not None and evaluations.process.poll() is None:
            os.killpg(evaluations.process.pid, 15)
    print(f"\n{args.sessions} sessions × {len(pages)} pages ({', '.join(pages)}); server time per page open\n")
    print(_table({name: phase for name, phase in phases.items()}))
    if args.out:
        args.out.write_text(json.dumps(phases, indent=1, default=str))


if __name__ == "__main__":
    main()
