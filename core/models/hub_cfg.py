"""Where timm and open_clip publish a model's pretrained weights, known without importing either library.

Listing the models (Home, Evaluations, Transfer, `python -m core models`) only needs each hub model's
published locations (Hugging Face repo and file name, URL, file). Asking timm or open_clip for them imports
torch, 4.5–13 s on a 2-core machine, which made the Evaluations page slow to open in a fresh server. The
locations depend only on the installed library version, so they are kept in `cache/hub_cfgs.json`, keyed by
it; a missing entry is looked up in a child process (the app never imports torch just to list models), or in
this process when the library is already imported. In view mode the file is read but not written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from importlib import metadata

from core.config import cache_dir, module_ready, view_only

__all__ = ["timm_cfg", "open_clip_cfg", "lookup"]

_PACKAGES = {"timm": "timm", "open_clip": "open_clip_torch"}
_MEMORY: dict[str, dict] = {}
_LOCK = threading.Lock()


def _version(library: str) -> str:
    try:
        return metadata.version(_PACKAGES[library])
    except metadata.PackageNotFoundError:
        return "missing"


def _key(library: str, name: str, tag: str) -> str:
    return f"{library}=={_version(library)}:{name}:{tag}"


def _path():
    return cache_dir() / "hub_cfgs.json"


def _read_file() -> dict:
    try:
        return json.loads(_path().read_text())
    except (OSError, ValueError):
        return {}


def _write_file(entries: dict) -> None:
    if view_only():
        return
    try:
        known = {**_read_file(), **entries}
        temporary = _path().with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(known, sort_keys=True))
        os.replace(temporary, _path())
    except OSError:
        pass  # a read-only cache folder: looked up again next time


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
    code = ("import json, sys\nfrom core.models.hub_cfg import _compute, _key\n"
            "wanted = json.loads(sys.argv[1])\n"
            "print(json.dumps({_key(*item): _compute(*item) for item in wanted}))\n")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(wanted)], capture_output=True, text=True,
                          timeout=300, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    if done.returncode != 0:
        raise RuntimeError(f"looking up pretrained weights in a child process failed: {done.stderr[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _hub_specs() -> list[tuple[str, str, str]]:
    """Every hub model of the registry: one child process looks them all up together."""
    from core.models.registry import registry

    specs, _ = registry()
    return [(spec.library, spec.source, spec.pretrained or "") for spec in specs
            if spec.library in _PACKAGES and not spec.source.endswith(".json")]


def lookup(library: str, name: str, tag: str = "") -> dict:
    """{"found": bool, ...locations} of one hub model (timm: name = arch.tag; open_clip: arch and tag)."""
    key = _key(library, name, tag)
    with _LOCK:
        if key in _MEMORY:
            return _MEMORY[key]
        stored = _read_file()
        if key in stored:
            _MEMORY[key] = stored[key]
            return stored[key]
        module = "timm" if library == "timm" else "open_clip"
        if module_ready(module):
            found = {key: _compute(library, name, tag)}
        else:
            wanted = [item for item in dict.fromkeys([(library, name, tag), *_hub_specs()])
                      if _key(*item) not in stored]
            found = _compute_in_child([list(item) for item in wanted])
        _MEMORY.update(found)
        _write_file(found)
        return found[key]


def timm_cfg(name: str) -> dict:
    return lookup("timm", name)


def open_clip_cfg(arch: str, tag: str) -> dict:
    return lookup("open_clip", arch, tag)
