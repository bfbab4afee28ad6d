"""The CUDA path (bf16 autocast, channels_last, batched preprocessing on the device, the store), on the
offline model and a tiny one. Skipped where no CUDA device exists: run `pytest -m gpu` on a GPU machine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.run.evaluation import evaluate
from core.store import ResultsStore
from tests.conftest import shared_data

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _quiet(_message: str) -> None:
    pass


def _decisions(store, summary):
    return store.predictions(summary.run_id).set_index("image_id")


def test_cuda_bf16_tensor_resize_agrees_with_the_cpu_pil_path(tmp_path):
    cue = shared_data("cue-conflict")
    store = ResultsStore(tmp_path / "results.duckdb")
    stats: dict = {}
    gpu = evaluate(["effnet_lite0"], "cue-conflict", cue, protocol="library",
                   resize="tensor", limit=256, seed=1, batch_size=64, workers=2, store=store, device="cuda",
                   stats=stats, say=_quiet)[0]
    cpu = evaluate(["effnet_lite0"], "cue-conflict", cue, protocol="library", limit=256, seed=1, batch_size=64,
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
    cue = shared_data("cue-conflict")
    store = ResultsStore(tmp_path / "results.duckdb")
    stats: dict = {}
    summaries = evaluate(["tiny_convnext", "tiny_vit"], "cue-conflict", cue, resize="tensor", limit=300, seed=0,
                         store=store, device="cuda", compile=True, stats=stats, say=_quiet)
    assert [summary.written for summary in summaries] == [300, 300]
    assert stats["compile_s"] > 0 and set(store.runs().status) == {"done"}


# --- the device decode backend (nvJPEG through torchvision.io.decode_jpeg) ----------------------------

from tests.unit.run.test_pipeline import jpeg_folder  # noqa: E402,F401  (the fixture: baseline JPEGs + odd files)


def test_nvjpeg_decodes_baseline_jpegs_within_rounding_of_the_cpu_decoder(jpeg_folder):  # noqa: F811
    from core.data import get_benchmark, load_items
    from core.run.decode import Encoded, EncodedImages, decode_payloads

    bench = get_benchmark("imagefolder")
    items = load_items(bench, jpeg_folder)
    dataset = EncodedImages(bench.adapter, items)
    batch = [dataset[i] for i in range(len(items))]
    assert sum(isinstance(data, Encoded) for _, data, _ in batch) == 54
    on_gpu = decode_payloads(batch, items, device="cuda")
    on_cpu = decode_payloads(batch, items, device="cpu")
    for (index, gpu, gpu_error), (_, cpu, cpu_error) in zip(on_gpu, on_cpu):
        assert gpu_error == cpu_error, items[index].image_id
        if cpu is None:
            continue
        assert gpu.shape == cpu.shape, items[index].image_id
        difference = (gpu.cpu().int() - cpu.int()).abs()
        assert difference.float().mean() < 1.0 and difference.max() <= 32, items[index].image_id  # IDCT/upsampling rounding


def test_cuda_device_decode_overlapped_and_compiled_stores_every_file_once(tmp_path, tiny_models_toml,
                                                                         jpeg_folder):  # noqa: F811
    """nvJPEG, the tensor crops and the overlapped loop with torch.compile (batch 16: the last batch of 60 is
    padded): one row per file, the two unreadable ones as errors, and the top-1 of the serial loop."""
    runs = {}
    for overlap in (False, True):
        store = ResultsStore(tmp_path / f"overlap-{overlap}.duckdb")
        summary = evaluate(["tiny_convnext"], "imagefolder", jpeg_folder, resize="tensor", decode="device",
                           batch_size=16, store=store, device="cuda", compile=overlap, overlap=overlap, say=_quiet)[0]
        assert summary.written == 60 and summary.status == "done"
        runs[overlap] = store.predictions(summary.run_id).set_index("image_id").sort_index()
        assert "+nvjpeg" in store.runs()["preprocess_key"].iloc[0]
    serial, overlapped = runs[False], runs[True]
    assert serial["error"].notna().sum() == overlapped["error"].notna().sum() == 2
    ok = serial["error"].isna()
    assert float(np.mean(serial.loc[ok, "pred"] == overlapped.loc[ok, "pred"])) >= 0.95  # bf16, compiled vs eager
