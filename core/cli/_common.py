"""What the command groups share: the stop message, model selection, image reading and progress bars."""

from __future__ import annotations

import sys

from core.errors import UserError

STOPPED_MESSAGE = "Stopped; every finished batch is stored. Run the same command again to resume where it stopped."
"""The one line after a user's stop (Ctrl-C, SIGTERM, the app's Stop button): its runs are marked `stopped`."""


def stop_on_sigterm() -> dict:
    """A SIGTERM sets `requested` in the returned dict: the batch in flight finishes, then the run stops."""
    import signal

    stop = {"requested": False}

    def request_stop(signum, frame):
        stop["requested"] = True

    signal.signal(signal.SIGTERM, request_stop)
    return stop


def selected(names: str):
    from core.models import model_status, registry

    models, _ = registry()
    if names:
        return [models.get(name.strip()) for name in names.split(",") if name.strip()]
    return [spec for spec in models if model_status(spec).live]


def read_images(paths) -> list:
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


def ready_models(names: str):
    """(spec, loaded model, head, head key) of each selected model that can run; the others are explained."""
    from core.models.resolved import resolve_model

    for spec in selected(names):
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


def closer(bars: dict):
    """Closes every bar of `bars` (the end of a command's progress display)."""
    def close() -> None:
        for bar in bars.values():
            bar.close()
        bars.clear()

    return close


def download_bars():
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

    return progress, closer(bars)


def message_line(stream=None):
    """(progress, close): `progress(done, total, message)` shows the run's own progress sentence on `stream`
    (stderr by default): rewritten in place on one line at a terminal, a line per call otherwise (a log file).
    `close()` ends the line."""
    stream = stream or sys.stderr
    in_place = stream.isatty()
    shown = {"width": 0}

    def progress(done: int, total: int, message: str) -> None:
        if in_place:
            stream.write("\r" + message.ljust(shown["width"]))
            shown["width"] = len(message)
        else:
            stream.write(message + "\n")
        stream.flush()

    def close() -> None:
        if in_place and shown["width"]:
            stream.write("\n")
            stream.flush()
        shown["width"] = 0

    return progress, close
def step_bars(stream=None):
    """Progress of named steps (label, done, total): a bar per step with its percentage on a terminal; elsewhere
    (a background job's log) a plain line each time a step passes a tenth, with no terminal control codes."""
    stream = stream or sys.stderr
    if stream.isatty():
        from tqdm import tqdm

        bars = {}

        def progress(label: str, done: int, total: int) -> None:
            bar = bars.get(label)
            if bar is None:
                bar = bars[label] = tqdm(total=total, desc=label, file=stream, dynamic_ncols=True,
                                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")
            bar.total = total
            bar.update(done - bar.n)

        return progress, closer(bars)
    shown = {}

    def plain(label: str, done: int, total: int) -> None:
        percent = int(100 * done / total) if total else 0
        if shown.get(label) != percent // 10:
            shown[label] = percent // 10
            print(f"{label}: {percent}%", file=stream, flush=True)

    return plain, lambda: None


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def hours(seconds: float | None) -> str:
    if seconds is None:
        return "time ?"
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else duration(seconds)
