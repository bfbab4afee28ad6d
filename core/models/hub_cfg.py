"""Where timm and open_clip publish a model's pretrained weights, known without importing either library.

Listing the models (Home, Evaluations, Compare, Transfer, `python -m core models`) only needs each hub model's
published locations (Hugging Face repo and file name, URL, file). Asking timm or open_clip for them imports
torch: a child process took 20 s on a loaded 2-core machine. They depend only on the installed library version,
so they are kept keyed by it, in two files:

- the environment's, `<venv>/share/beyond-accuracy/hub_cfgs.json`, written by `bash scripts/dev` right after it
  builds the environment (`python -m core.models.hub_cfg`): a newcomer's first page never waits for them;
- the cache folder's, `cache/hub_cfgs.json`, for models added later and environments built another way.

`lookup` answers from memory, those files, or the library itself when it is already imported; failing those it
asks a child process and waits (the CLI, evaluations, the study plan). A page never waits:
`locate_in_background` starts that child process on a thread of its own and says whether every model is
located; until then the page lists the others as being checked and says so. In view mode the cache folder's
file is read but not written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from core.config import PROJECT_ROOT, cache_dir, module_ready, view_only

__all__ = ["timm_cfg", "open_clip_cfg", "lookup", "located", "locate_in_background", "background_failure",
           "environment_path", "save_environment", "licences", "LICENCES_FILE"]

_PACKAGES = {"timm": "timm", "open_clip": "open_clip_torch"}
LICENCES_FILE = "timm_licences.json"
_MEMORY: dict[str, dict] = {}
_LOCK = threading.Lock()  # _MEMORY and the files
_ROUND = threading.Lock()  # one child process at a time: a second caller waits for it, then finds its answers
_background: threading.Thread | None = None
_failure = ""


def _version(library: str) -> str:
    try:
        return metadata.version(_PACKAGES[library])
    except metadata.PackageNotFoundError:
        return "missing"


def _key(library: str, name: str, tag: str) -> str:
    return f"{library}=={_version(library)}:{name}:{tag}"


def _path() -> Path:
    return cache_dir() / "hub_cfgs.json"


def environment_path() -> Path:
    """The environment's file: beside the installed packages, so it lives and dies with their versions."""
    return Path(sys.prefix) / "share" / "beyond-accuracy" / "hub_cfgs.json"


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write(path: Path, entries: dict) -> bool:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        known = {**_read(path), **entries}
        temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps(known, sort_keys=True))
        os.replace(temporary, path)
        return True
    except OSError:
        return False  # a read-only folder: looked up again next time


def _remember(entries: dict) -> None:
    with _LOCK:
        _MEMORY.update(entries)
        if not view_only():
            _write(_path(), entries)


def _remembered(key: str) -> dict | None:
    with _LOCK:
        if key not in _MEMORY:
            for path in (environment_path(), _path()):
                stored = _read(path)
                if key in stored:
                    _MEMORY[key] = stored[key]
                    break
        return _MEMORY.get(key)


def _compute(library: str, name: str, tag: str) -> dict:
    """The entry, asking the library itself (imports it)."""
    if library == "timm":
        import timm.models

        cfg = timm.models.get_pretrained_cfg(name)
        if cfg is None:
            return {"found": False}
        return {"found": True, "hf_hub_id": cfg.hf_hub_id, "hf_hub_filename": cfg.hf_hub_filename, "url": cfg.url,
                "file": cfg.file}
    import open_clip

    cfg = open_clip.get_pretrained_cfg(name, tag)
    if not cfg:
        return {"found": False, "tags": list(open_clip.list_pretrained_tags_by_model(name))[:20]}
    return {"found": True, "hf_hub": cfg.get("hf_hub") or "", "url": cfg.get("url") or ""}


def _compute_in_child(wanted: list[tuple[str, str, str]]) -> dict:
    """The entries of `wanted`, from a child process that imports the libraries and keeps what it found in the
    cache folder's file itself (so a page closed meanwhile still leaves the answers for the next one)."""
    code = ("import json, sys\nfrom core.models.hub_cfg import _compute, _key, _remember\n"
            "found = {_key(*item): _compute(*item) for item in json.loads(sys.argv[1])}\n"
            "_remember(found)\nprint(json.dumps(found))\n")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(wanted)], capture_output=True, text=True,
                          timeout=600, cwd=PROJECT_ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"looking up pretrained weights in a child process failed: {done.stderr[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _item(spec) -> tuple[str, str, str] | None:
    """(library, name, tag) of a hub model of the registry; None for files and open_clip config files."""
    if spec.library not in _PACKAGES or spec.source.endswith(".json"):
        return None
    return spec.library, spec.source, spec.pretrained or ""


def _hub_items() -> list[tuple[str, str, str]]:
    """Every hub model of the registry: one child process looks them all up together."""
    from core.models.registry import registry

    specs, _ = registry()
    return [item for item in map(_item, specs) if item is not None]


def _answer_now(library: str, name: str, tag: str) -> dict | None:
    """The entry without waiting: remembered, in a file, or from the library when it is already imported."""
    key = _key(library, name, tag)
    found = _remembered(key)
    if found is None and module_ready("timm" if library == "timm" else "open_clip"):
        found = _compute(library, name, tag)
        _remember({key: found})
    return found


def _look_up_missing(extra: tuple[tuple[str, str, str], ...] = ()) -> None:
    """Look up, in one child process, `extra` and every hub model of the registry not known yet; a caller
    arriving while another one's child runs waits for it and then asks only for what is still missing."""
    with _ROUND:
        wanted = [item for item in dict.fromkeys([*extra, *_hub_items()]) if _answer_now(*item) is None]
        if wanted:
            _remember(_compute_in_child([list(item) for item in wanted]))


def lookup(library: str, name: str, tag: str = "") -> dict:
    """{"found": bool, ...locations} of one hub model (timm: name = arch.tag; open_clip: arch and tag); waits
    for a child process when they are not known yet (pages use `located` and `locate_in_background` first)."""
    found = _answer_now(library, name, tag)
    if found is None:
        _look_up_missing(((library, name, tag),))
        found = _answer_now(library, name, tag)
    if found is None:
        raise RuntimeError(f"looking up where {library} publishes {name} {tag} gave no answer.")
    return found


def located(spec) -> bool:
    """Whether `spec`'s published locations are known without waiting (always, for a model that is a file)."""
    item = _item(spec)
    return item is None or _answer_now(*item) is not None


def _in_background() -> None:
    global _failure
    try:
        _look_up_missing()
        _failure = ""
    except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as error:
        _failure = str(error)


def locate_in_background() -> bool:
    """True when every hub model of the registry is located; otherwise starts looking them up on a thread of
    its own (once at a time, never on the caller's thread) and returns False at once. A lookup that failed is
    not retried by itself: `background_failure` says why, and the next blocking `lookup` tries again."""
    global _background
    if all(_answer_now(*item) is not None for item in _hub_items()):
        return True
    with _LOCK:
        if not _failure and (_background is None or not _background.is_alive()):
            _background = threading.Thread(target=_in_background, name="bae-hub-cfg", daemon=True)
            _background.start()
    return False


def background_failure() -> str:
    """Why the last background lookup failed ("" when it did not)."""
    return _failure


def timm_cfg(name: str) -> dict:
    return lookup("timm", name)


def open_clip_cfg(arch: str, tag: str) -> dict:
    return lookup("open_clip", arch, tag)


def save_environment() -> str:
    """Look up every hub model of the registry in this process (imports timm and open_clip) and keep them in the
    environment's file: what `bash scripts/dev` runs once after building the environment. Returns what it did."""
    entries = {_key(*item): _compute(*item) for item in _hub_items()}
    with _LOCK:
        _MEMORY.update(entries)
    licences = _save_licences()
    if _write(environment_path(), entries):
        return (f"Where timm and open_clip publish the weights of {len(entries)} models: kept in {environment_path()}"
                f"{licences}.")
    return (f"Could not write {environment_path()}; the app looks the weights' locations up in the background "
            "instead (once per cache folder).")


def _save_licences() -> str:
    """Every timm pretrained checkpoint's licence, as its pretrained cfg states it, beside the environment's file
    (`timm_licences.json`: the candidates' shortlist reads it without importing timm). open_clip's registry
    states none. Returns what it did, as a clause."""
    import timm.models

    found = {}
    for name in timm.list_pretrained():
        cfg = timm.models.get_pretrained_cfg(name)
        if cfg is not None and cfg.license:
            found[name] = cfg.license
    path = environment_path().with_name(LICENCES_FILE)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(found, sort_keys=True))
        os.replace(temporary, path)
    except OSError:
        return ""
    return f"; the licences of {len(found):,} timm checkpoints: in {path.name}"


def licences() -> dict[str, str]:
    """timm checkpoint → the licence its pretrained cfg states, as noted once per environment by
    `python -m core.models.hub_cfg` (`<venv>/share/beyond-accuracy/timm_licences.json`); {} where not noted.
    Read without importing timm."""
    path = environment_path().with_name(LICENCES_FILE)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return {}
    return dict(_licences(str(path), stamp))


@lru_cache(maxsize=2)
def _licences(path: str, _stamp: int) -> tuple[tuple[str, str], ...]:
    found = _read(Path(path))
    return tuple((str(name), str(value)) for name, value in found.items() if value)


if __name__ == "__main__":
    print(save_environment())
