"""Loading models: find weights locally, fail fast with a helpful message, build the module.

Weights are looked up, without any network call, in the standard caches: the Hugging Face hub
cache, TORCH_HOME's hub checkpoints, open_clip's download folder (~/.cache/clip), or a local
file. Only `download_weights` (the `python -m core download` command) or
`BAE_ALLOW_DOWNLOADS=1` reaches a hub: an offline hub lookup otherwise retries for ~47 s.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.config import allow_downloads, module_ready
from core.errors import WeightsUnavailable
from core.models.hub_cfg import open_clip_cfg, timm_cfg
from core.models.registry import ModelSpec, resolve_path

__all__ = ["WeightsStatus", "LoadedModel", "weights_status", "weights_key", "weights_content_id", "load_model",
           "download_weights", "best_device", "likely_device", "autocast", "open_clip_arch", "file_sha256",
           "STATE_DICT_ADAPTERS", "adapters_text"]

_HOW_TO_GET = "See docs/models.md, 'Getting the paper models' (on a machine with internet: python -m core download {name})."


@dataclass(frozen=True)
class WeightsStatus:
    """Where a model's weights are, or every place that was looked at."""

    available: bool
    path: str | None = None
    tried: tuple[str, ...] = ()
    note: str = ""

    def message(self, spec: ModelSpec) -> str:
        if self.available:
            return f"{spec.name}: weights at {self.path}"
        tried = "; ".join(self.tried) if self.tried else "no location"
        note = f" {self.note}" if self.note else ""
        return (f"{spec.name} ({spec.display}) needs weights that are not on this machine. Looked in: {tried}.{note} "
                + _HOW_TO_GET.format(name=spec.name) + " The other models still work.")


@dataclass
class LoadedModel:
    """A model ready for inference: `module` in eval mode on `device`."""

    spec: ModelSpec
    module: object
    weights_key: str
    device: str
    weights_path: str | None = None
    image_size: int | None = None


# --- where weights live -----------------------------------------------------------------------

def _hf_cached(repo_id: str, filenames: tuple[str, ...]) -> tuple[str | None, list[str]]:
    from huggingface_hub import try_to_load_from_cache

    tried = []
    for filename in filenames:
        found = try_to_load_from_cache(repo_id, filename)
        tried.append(f"Hugging Face cache {repo_id}/{filename}")
        if isinstance(found, str) and os.path.exists(found):
            return found, tried
    return None, tried


def _torch_hub_dir() -> Path:
    """torch.hub.get_dir() without importing torch when it is not imported yet (the same rule: TORCH_HOME, else
    XDG_CACHE_HOME/torch, else ~/.cache/torch; then hub/). Once torch is imported, its own answer (set_dir)."""
    if module_ready("torch"):
        import torch.hub

        return Path(torch.hub.get_dir())
    home = os.getenv("TORCH_HOME") or os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(os.path.expanduser(home)) / "hub"


def _torch_hub_cached(url: str) -> tuple[str | None, str]:
    path = _torch_hub_dir() / "checkpoints" / os.path.basename(url)
    return (str(path) if path.exists() else None), f"TORCH_HOME {path}"


def _open_clip_dir() -> Path:
    """open_clip's download folder for URL weights (its default; `BAE_OPEN_CLIP_CACHE` overrides)."""
    return Path(os.environ.get("BAE_OPEN_CLIP_CACHE", os.path.expanduser("~/.cache/clip")))


def weights_status(spec: ModelSpec) -> WeightsStatus:
    """Look for `spec`'s weights in local caches only (no network, no torch model built)."""
    if spec.library == "checkpoint":
        path = resolve_path(spec.source)
        return WeightsStatus(path.is_file(), str(path) if path.is_file() else None, (f"file {path}",))
    if spec.library == "timm":
        return _timm_status(spec)
    return _open_clip_status(spec)


def _timm_status(spec: ModelSpec) -> WeightsStatus:
    cfg = timm_cfg(spec.source)  # timm's published locations, without importing timm (core.models.hub_cfg)
    if not cfg["found"] or not (cfg["hf_hub_id"] or cfg["url"] or cfg["file"]):
        return WeightsStatus(False, note=f"timm has no pretrained weights named `{spec.source}`.")
    tried: list[str] = []
    if cfg["file"]:
        tried.append(f"file {cfg['file']}")
        if os.path.exists(cfg["file"]):
            return WeightsStatus(True, cfg["file"], tuple(tried))
    if cfg["hf_hub_id"]:
        repo_id = cfg["hf_hub_id"].split("@")[0]
        found, hf_tried = _hf_cached(repo_id, (cfg["hf_hub_filename"] or "model.safetensors", "model.safetensors",
                                               "pytorch_model.bin"))
        tried += hf_tried
        if found:
            return WeightsStatus(True, found, tuple(tried))
    if cfg["url"]:
        found, where = _torch_hub_cached(cfg["url"])
        tried.append(where)
        if found:
            return WeightsStatus(True, found, tuple(tried))
    return WeightsStatus(False, tried=tuple(dict.fromkeys(tried)))


def _open_clip_status(spec: ModelSpec) -> WeightsStatus:
    tag = spec.pretrained or ""
    local = resolve_path(tag) if tag.endswith((".pt", ".pth", ".bin", ".safetensors")) else None
    if local is not None:
        return WeightsStatus(local.is_file(), str(local) if local.is_file() else None, (f"file {local}",))
    found_cfg = open_clip_cfg(open_clip_arch(spec), tag)  # without importing open_clip (core.models.hub_cfg)
    cfg = found_cfg if found_cfg["found"] else None
    if not cfg:
        tags = found_cfg.get("tags", [])
        return WeightsStatus(False, note=f"open_clip has no pretrained tag `{tag}` for `{spec.source}`"
                                         f" (known: {', '.join(tags[:5]) or 'none'}).")
    tried: list[str] = []
    if cfg.get("hf_hub"):
        # open_clip's form: "org/name/" (default file name) or "org/name/file.bin"
        repo_id, filename = os.path.split(cfg["hf_hub"])
        filename = filename or "open_clip_pytorch_model.bin"
        safe = "open_clip_model.safetensors" if filename == "open_clip_pytorch_model.bin" else filename.replace(".bin", ".safetensors")
        found, hf_tried = _hf_cached(repo_id, (safe, filename))
        tried += hf_tried
        if found:
            return WeightsStatus(True, found, tuple(tried))
    if cfg.get("url"):
        path = _open_clip_dir() / os.path.basename(cfg["url"])
        tried.append(f"open_clip cache {path}")
        if path.exists():
            return WeightsStatus(True, str(path), tuple(tried))
    return WeightsStatus(False, tried=tuple(tried))


def open_clip_arch(spec: ModelSpec) -> str:
    """open_clip architecture name; a `.json` source is a model config file registered on first use."""
    if not spec.source.endswith(".json"):
        return spec.source
    import open_clip

    path = resolve_path(spec.source)
    if not path.is_file():
        raise WeightsUnavailable(f"{spec.name}: open_clip model config {path} does not exist.")
    open_clip.add_model_config(path)
    return path.stem


# --- cache keys -------------------------------------------------------------------------------

_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, memoised by (path, size, mtime) so a changed file is hashed again."""
    stat = os.stat(path)
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HASH_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _HASH_CACHE[key] = digest.hexdigest()
    return _HASH_CACHE[key]


def weights_key(spec: ModelSpec, *, status: WeightsStatus | None = None) -> str:
    """Identity of the weights in cache and run keys: what they are, not only what they are called.

    A local file (checkpoint, open_clip weights file) adds its SHA-256; hub weights (timm, open_clip
    tags) add the content id of the file found in the local cache, so another revision, a
    re-download or a test's random weights under the same name never reuse old results. Hub
    weights that are not on this machine are keyed by their published name only (nothing to run).
    """
    if spec.library == "checkpoint":
        return f"{spec.arch}:sha256={file_sha256(resolve_path(spec.source))[:16]}"
    if spec.library == "open_clip":
        tag = spec.pretrained or ""
        local = resolve_path(tag)
        arch = spec.source
        if spec.source.endswith(".json"):
            arch = f"{Path(spec.source).stem}:sha256={file_sha256(resolve_path(spec.source))[:16]}"
        if tag.endswith((".pt", ".pth", ".bin", ".safetensors")) and local.is_file():
            return f"{arch}/sha256={file_sha256(local)[:16]}"
        return f"{arch}/{tag}" + _hub_content_suffix(spec, status)
    return spec.source + _hub_content_suffix(spec, status)


def _hub_content_suffix(spec: ModelSpec, status: WeightsStatus | None) -> str:
    status = status or weights_status(spec)
    return f":content={weights_content_id(status.path)[:16]}" if status.available and status.path else ""


_BLOB_NAME = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def weights_content_id(path: str | Path) -> str:
    """Content id of a weights file: the Hugging Face cache's blob name where the file is a link into
    `blobs/` (the hub names LFS blobs by their SHA-256, so this costs nothing), else the file's SHA-256
    (memoised on disk by path, size and modification time: a 350 MB file is hashed once)."""
    real = Path(os.path.realpath(path))
    if real.parent.name == "blobs" and _BLOB_NAME.fullmatch(real.name):
        return real.name
    return _memoised_sha256(real)


def _memoised_sha256(path: Path) -> str:
    import json

    from core.config import cache_dir

    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    memo_path = cache_dir() / "weights_sha256.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    if key not in memo:
        memo[key] = file_sha256(path)
        try:
            memo_path.parent.mkdir(parents=True, exist_ok=True)
            temporary = memo_path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(memo, indent=0))
            os.replace(temporary, memo_path)
        except OSError:
            pass  # a read-only cache only costs the hash next time
    return memo[key]


# --- building the module ----------------------------------------------------------------------

def best_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def likely_device() -> str:
    """`best_device()` for estimates (the study plan's speeds), without importing torch when it is not imported
    yet (seconds, on a page that only lists): "cuda" when the NVIDIA driver shows a GPU and a CUDA runtime
    package is installed beside torch, else "cpu". Running a model always asks torch (`best_device`)."""
    if module_ready("torch"):
        return best_device()
    from importlib import metadata

    gpus = Path("/proc/driver/nvidia/gpus")
    if not (gpus.is_dir() and any(gpus.iterdir())):
        return "cpu"
    for package in ("nvidia-cuda-runtime-cu12", "nvidia-cuda-runtime-cu11", "nvidia-cuda-runtime"):
        try:
            metadata.version(package)
            return "cuda"
        except metadata.PackageNotFoundError:
            continue
    return "cpu"


def autocast(device: str):
    """bf16 autocast on CUDA (tensor-core speed; callers cast logits back to float32); none on the CPU."""
    import torch

    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _hub_offline(offline: bool):
    """Make huggingface_hub answer from its cache only (its constant is read at call time)."""
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = offline or before
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def load_model(spec: ModelSpec, *, device: str | None = None, download: bool | None = None,
               image_size: int | None = None, status: WeightsStatus | None = None,
               weights: str | None = None) -> LoadedModel:
    """Build `spec`'s module with its trained weights, in eval mode on `device`.

    `image_size` builds a Transformer for another input resolution (position embeddings
    interpolated: timm's `dynamic_img_size`, open_clip's `force_image_size`); ConvNets take any size.
    `status` and `weights` (its `weights_status` and `weights_key`) come from `resolve_model`, which
    looks them up once per run; without them they are looked up here.

    Raises:
        WeightsUnavailable: the weights are not cached and downloading is off (the default) or
            failed. The message names the model, where we looked and how to get the weights.
    """
    device = device or best_device()
    download = allow_downloads() if download is None else download
    status = status or weights_status(spec)
    if not status.available and not download:
        raise WeightsUnavailable(status.message(spec))
    try:
        with _hub_offline(not download):
            if spec.library == "open_clip":
                module = _build_open_clip(spec, status, image_size)
            else:
                module = _build_timm(spec, status, image_size)
    except WeightsUnavailable:
        raise
    except TypeError as error:
        raise WeightsUnavailable(f"{spec.name} cannot be built for input size {image_size} ({_short(error)}).") from error
    except (OSError, RuntimeError, ValueError) as error:
        if not status.available:
            raise WeightsUnavailable(f"{status.message(spec)} Download failed: {_short(error)}") from error
        raise WeightsUnavailable(f"{spec.name}: the weights at {status.path} could not be loaded ({_short(error)}). "
                                 "Delete the file and download it again, or fix the entry in models.toml.") from error
    module.eval().to(device)
    if not status.available:  # downloaded just now: look again
        status, weights = weights_status(spec), None
    return LoadedModel(spec, module, weights or weights_key(spec, status=status), device, status.path, image_size)


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:300]


def _build_timm(spec: ModelSpec, status: WeightsStatus, image_size: int | None = None):
    import timm

    # ViTs learn position embeddings for one grid; interpolate them for other input sizes
    sized = {"dynamic_img_size": True} if image_size and spec.family == "vit" else {}
    if spec.library == "checkpoint":
        if not timm.is_model(spec.arch):
            import difflib

            close = difflib.get_close_matches(spec.arch, timm.list_models(), n=5, cutoff=0.6)
            raise WeightsUnavailable(f"{spec.name}: `arch = \"{spec.arch}\"` is not a timm architecture"
                                     + (f" (did you mean {', '.join(close)}?)" if close else "")
                                     + ". Fix `arch` in models.toml (python -c \"import timm; print(timm.list_models("
                                       f"'{spec.arch.split('_')[0]}*'))\" lists similar names).")
        module = timm.create_model(spec.arch, pretrained=False, **sized)
        state_dict = _read_state_dict(status.path)
        if spec.adapt_weights:
            adapter = STATE_DICT_ADAPTERS.get(spec.adapt_weights)
            if adapter is None:
                raise WeightsUnavailable(f"{spec.name}: unknown `adapt_weights = \"{spec.adapt_weights}\"` in "
                                         f"models.toml. Accepted: {adapters_text()}.")
            state_dict = adapter(state_dict, module)
        missing, unexpected = module.load_state_dict(state_dict, strict=False)
        if missing or unexpected:
            raise WeightsUnavailable(
                f"{spec.name}: {status.path} does not fit timm `{spec.arch}` "
                f"(missing {len(missing)} keys such as {missing[:3]}, unexpected {len(unexpected)} such as {unexpected[:3]}). "
                + ("Check `arch` in models.toml, or set `adapt_weights` to one of: " + adapters_text() + "."
                   if not spec.adapt_weights else
                   f"Check `arch` in models.toml: `adapt_weights = \"{spec.adapt_weights}\"` renamed the keys."))
        return module
    if status.available:
        # Load the file we found: timm applies its checkpoint filter (key layout) to it as usual.
        return timm.create_model(spec.source, pretrained=True, pretrained_cfg_overlay={"file": status.path}, **sized)
    return timm.create_model(spec.source, pretrained=True, **sized)


def _read_state_dict(path: str | None) -> dict:
    import torch

    if path is None:
        raise WeightsUnavailable("No checkpoint file.")
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "module"):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
    return checkpoint


def _build_open_clip(spec: ModelSpec, status: WeightsStatus, image_size: int | None = None):
    import open_clip

    arch = open_clip_arch(spec)
    # force_image_size: open_clip resizes the position embedding when it loads the checkpoint
    sized = {"force_image_size": image_size} if image_size else {}
    if status.available:
        return open_clip.create_model(arch, pretrained=status.path, device="cpu", **sized)
    return open_clip.create_model(arch, pretrained=spec.pretrained, require_pretrained=True, device="cpu", **sized)


def download_weights(spec: ModelSpec, progress: Callable[[str], None] = print) -> WeightsStatus:
    """Fetch `spec`'s weights into the standard cache (needs internet), then report where they are."""
    status = weights_status(spec)
    if status.available:
        progress(f"{spec.name}: already present at {status.path}")
        return status
    if spec.library == "checkpoint":
        raise WeightsUnavailable(f"{spec.name} loads a local file ({spec.source}); there is nothing to download.")
    progress(f"{spec.name}: downloading {weights_key(spec)} …")
    load_model(spec, device="cpu", download=True)
    status = weights_status(spec)
    progress(f"{spec.name}: saved at {status.path}")
    return status


# --- state-dict adapters (key renames for checkpoints written by other code) ------------------

def _lukemelas_efficientnet(state_dict: dict, model) -> dict:
    """Rename lukemelas EfficientNet-PyTorch keys (`_blocks.N._depthwise_conv`) to timm's.

    That code numbers blocks flat; timm nests them by stage (`blocks.S.I`), so the flat index
    is mapped through the target model's own stage layout. Within a block: with an expansion
    conv, `_expand_conv,_bn0,_depthwise_conv,_bn1,_project_conv,_bn2` become
    `conv_pw,bn1,conv_dw,bn2,conv_pwl,bn3`; without it, `_depthwise_conv,_bn1,_project_conv,_bn2`
    become `conv_dw,bn1,conv_pw,bn2`.
    """
    flat_to_nested = [f"blocks.{s}.{i}" for s, stage in enumerate(model.blocks) for i in range(len(stage))]
    has_expand = {n for n in range(len(flat_to_nested)) if f"_blocks.{n}._expand_conv.weight" in state_dict}
    expanded = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                "_project_conv": "conv_pwl", "_bn2": "bn3"}
    separable = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
    renamed = {}
    for key, value in state_dict.items():
        block = re.match(r"_blocks\.(\d+)\.(\w+)\.(.+)", key)
        if block:
            index, layer, rest = int(block[1]), block[2], block[3]
            if index >= len(flat_to_nested):
                renamed[key] = value  # left for load_state_dict to report
                continue
            table = expanded if index in has_expand else separable
            renamed[f"{flat_to_nested[index]}.{table.get(layer, layer)}.{rest}"] = value
        else:
            layer, _, rest = key.partition(".")
            renamed[f"{top.get(layer, layer)}.{rest}"] = value
    return renamed


STATE_DICT_ADAPTERS: dict[str, Callable[[dict, object], dict]] = {
    "lukemelas_efficientnet": _lukemelas_efficientnet,
}
"""`adapt_weights` names a `models.toml` checkpoint entry may give: each renames the keys of a file written by
other code to those of its timm `arch` (the file's tensors are kept as they are)."""


def adapters_text() -> str:
    """The accepted `adapt_weights` names, each with the first line of its docstring: what an error lists."""
    return "; ".join(f"`{name}` ({(adapter.__doc__ or '').strip().splitlines()[0].rstrip('.')})"
                     for name, adapter in STATE_DICT_ADAPTERS.items())
