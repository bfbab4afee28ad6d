"""Interactive inference: images in, top-5 predictions out, batched, on CUDA (bf16 autocast) or the CPU.

Single-image results are cached on disk by (image content hash, model and weights, preprocessing,
zero-shot head), so a repeated upload is answered without running the model.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Sequence

from core.images import DecodedImage
from core.models.load import autocast
from core.models.preprocess import PreprocessCfg, crop_for_model, to_model_tensor
from core.store import prediction_cache, prediction_key

__all__ = ["Prediction", "classify", "classify_variants", "logits_for", "forward_logits", "image_features"]

_TOP_K = 5


@dataclass(frozen=True)
class Prediction:
    """One model's answer for one image."""

    model: str
    image_sha256: str
    top_index: tuple[int, ...]
    top_prob: tuple[float, ...]
    latency_ms: float
    device: str
    preprocess_key: str
    cached: bool = False

    @property
    def top1(self) -> int:
        return self.top_index[0]


def logits_for(loaded, batch, head=None):
    """ImageNet logits of a normalised image batch: the classifier's, or 100 × cosine to `head`."""
    import torch.nn.functional as F

    if loaded.spec.head == "zero_shot":
        if head is None:
            raise ValueError(f"Expected a zero-shot head for {loaded.spec.name}, got None; build it first.")
        features = F.normalize(loaded.module.encode_image(batch).float(), dim=-1)
        return 100.0 * features @ head.to(features.device)
    return loaded.module(batch).float()


def classify(loaded, images: Sequence[DecodedImage], cfg: PreprocessCfg, *, head=None, head_key: str = "",
             batch_size: int = 32, use_cache: bool = True) -> list[Prediction]:
    """Top-5 ImageNet classes of each image under `loaded`'s model and `cfg`'s preprocessing."""
    import torch

    spec = loaded.spec
    cache = prediction_cache() if use_cache else None
    head_id = head_key if spec.head == "zero_shot" else "supervised"
    keys = [prediction_key(image.sha256, spec.name, loaded.weights_key, cfg.key(), head_id) for image in images]
    results: dict[int, Prediction] = {}
    if cache is not None:
        for position, key in enumerate(keys):
            stored = cache.get(key)
            if stored is not None:
                results[position] = Prediction(**{**stored, "cached": True})
    todo = [position for position in range(len(images)) if position not in results]
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        batch = torch.stack([to_model_tensor(crop_for_model(images[p].image, cfg), cfg) for p in chunk])
        batch = batch.to(loaded.device, non_blocking=True)
        if loaded.device.startswith("cuda"):
            torch.cuda.synchronize()
        began = time.perf_counter()
        with torch.inference_mode(), autocast(loaded.device):
            probabilities = logits_for(loaded, batch, head).softmax(dim=-1)
        top = probabilities.topk(_TOP_K, dim=-1)
        values, indices = top.values.cpu(), top.indices.cpu()
        latency_ms = (time.perf_counter() - began) * 1000 / len(chunk)
        for row, position in enumerate(chunk):
            prediction = Prediction(spec.name, images[position].sha256, tuple(int(i) for i in indices[row]),
                                    tuple(float(v) for v in values[row]), round(latency_ms, 2), loaded.device, cfg.key())
            results[position] = prediction
            if cache is not None:
                cache.set(keys[position], asdict(prediction))
    return [results[position] for position in range(len(images))]


def classify_variants(loaded, image: DecodedImage, cfgs: Sequence[PreprocessCfg], *, head=None, head_key: str = "",
                      use_cache: bool = True) -> list[Prediction]:
    """One image under several transforms (invariance sliders), as one batch through the model."""
    import torch

    spec = loaded.spec
    cache = prediction_cache() if use_cache else None
    head_id = head_key if spec.head == "zero_shot" else "supervised"
    keys = [prediction_key(image.sha256, spec.name, loaded.weights_key, cfg.key(), head_id) for cfg in cfgs]
    stored = [cache.get(key) if cache is not None else None for key in keys]
    todo = [i for i, found in enumerate(stored) if found is None]
    results = {i: Prediction(**{**found, "cached": True}) for i, found in enumerate(stored) if found is not None}
    if todo:
        batch = torch.stack([to_model_tensor(crop_for_model(image.image, cfgs[i]), cfgs[i]) for i in todo])
        batch = batch.to(loaded.device)
        began = time.perf_counter()
        with torch.inference_mode(), autocast(loaded.device):
            top = logits_for(loaded, batch, head).softmax(dim=-1).topk(_TOP_K, dim=-1)
        latency_ms = (time.perf_counter() - began) * 1000 / len(todo)
        for row, i in enumerate(todo):
            prediction = Prediction(spec.name, image.sha256, tuple(int(v) for v in top.indices[row].cpu()),
                                    tuple(float(v) for v in top.values[row].cpu()), round(latency_ms, 2),
                                    loaded.device, cfgs[i].key())
            results[i] = prediction
            if cache is not None:
                cache.set(keys[i], asdict(prediction))
    return [results[i] for i in range(len(cfgs))]


def forward_logits(loaded, batch, head=None):
    """float32 ImageNet logits of a normalised batch: the classifier's, or 100 × cosine to `head`."""
    return logits_for(loaded, batch, head).float()


def image_features(loaded, batch):
    """Pre-logit features (timm) or the image embedding (open_clip) of a normalised batch, float32 on the CPU:
    what linear probes (`core.run.probe`, `core.task`) are fitted on."""
    module = loaded.module
    if loaded.spec.head == "zero_shot":
        return module.encode_image(batch).float().cpu()
    return module.forward_head(module.forward_features(batch), pre_logits=True).float().cpu()
