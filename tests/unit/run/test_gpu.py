"""The CUDA path (bf16 autocast, channels_last, batched preprocessing on the device, the store), on the
offline model and a tiny one. Skipped where no CUDA device exists: run `pytest -m gpu` on a GPU machine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.run.evaluation import evaluate
from core.store import ResultsStore
from tests.conftest import SHARED_DATA

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

CUE = SHARED_DATA / "cue-conflict"


def _quiet(_message: str) -> None:
    pass


def _decisions(store, summary):
    return store.predictions(summary.run_id).set_index("image_id")


def test_cuda_bf16_tensor_resize_agrees_with_the_cpu_pil_path(tmp_path):
    store = ResultsStore(tmp_path / "results.duckdb")
    stats: dict = {}
    gpu = evaluate(["effnet_lite0"], "cue-conflict", CUE, protocol="library",
                   resize="tensor", limit=256, seed=1, batch_size=64, workers=2, store=store, device="cuda",
                   stats=stats, say=_quiet)[0]
    cpu = evaluate(["effnet_lite0"], "cue-conflict", CUE, protocol="library", limit=256, seed=1, batch_size=64,
                   workers=2, store=store, device="cpu", say=_quiet)[0]
    assert gpu.run_id != cpu.run_id and gpu.written == cpu.written == 256
    a, b = _decisions(store, gpu), _decisions(store, cpu)
    agreement = float(np.mean(a.loc[b.index, "pred"].to_numpy() == b["pred"].to_numpy()))
    print(f"top-1 agreement CUDA bf16 + tensor resize vs CPU fp32 + PIL: {agreement:.3f}; stats {stats}")
    assert agreement >= 0.9
    assert stats["store_rows"] == 256 and stats["models"]["effnet_lite0"]["forward_s"] > 0


def test_cuda_preprocessing_matches_the_cpu_tensors():
    from core.models.preprocess import resolve_preprocess
    from core.models.registry import MODELS
    from core.models.tensor_preprocess import preprocess_batch, to_uint8_tensor
    from tests.conftest import photo

    images = [to_uint8_tensor(photo(name)) for name in ("astronaut", "chelsea", "coffee")]
    for name in ("vit_sup", "vit_clip"):
        cfg = resolve_preprocess(MODELS.get(name), "paper")
        on_gpu = preprocess_batch(images, cfg, device="cuda", channels_last=True).cpu()
        on_cpu = preprocess_batch(images, cfg)
        assert (on_gpu - on_cpu).abs().mean() < 0.02  # within about one uint8 step


def test_cuda_compile_and_tiny_models_store_every_row(tmp_path, tiny_models_toml):
    store = ResultsStore(tmp_path / "results.duckdb")
    stats: dict = {}
    summaries = evaluate(["tiny_convnext", "tiny_vit"], "cue-conflict", CUE, resize="tensor", limit=300, seed=0,
                         store=store, device="cuda", compile=True, stats=stats, say=_quiet)
    assert [summary.written for summary in summaries] == [300, 300]
    assert stats["compile_s"] > 0 and set(store.runs().status) == {"done"}
