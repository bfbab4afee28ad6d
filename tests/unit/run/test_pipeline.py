"""core.run.pipeline: the overlapped batch loop stores exactly the rows and logits of the serial loop, with each
decode and resize backend; a SIGKILL and a resume leave the store of a clean run; the `device` decode backend
is keyed apart and loses no file; a compiled model's partial batch is padded without changing its logits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from core.errors import UserError
from core.run.evaluation import evaluate
from core.store import ResultsStore
from tests.conftest import encoded, photo, shared_data
from tests.fixtures import hostile

ROOT = Path(__file__).resolve().parents[3]
COLUMNS = ["image_id", "label", "pred", "top5", "top5_prob", "prob_true", "correct", "conf", "error"]
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "immunohistochemistry", "hubble_deep_field", "retina")


def _quiet(_message: str) -> None:
    pass


@pytest.fixture(scope="module")
def jpeg_folder(tmp_path_factory) -> Path:
    """An `imagefolder` of 60 files: baseline JPEGs of photo crops (the batched decoder's fast path) and, in
    among them, one of each file it leaves to the per-image decode (progressive, CMYK, EXIF-rotated, PNG)
    and two that no decoder reads (truncated, not an image)."""
    from core.imagenet import wnids

    root = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(0)
    classes = wnids()[:5]
    for i in range(54):
        image = photo(PHOTOS[i % len(PHOTOS)])
        width, height = image.size
        left, top = int(rng.integers(0, width // 3)), int(rng.integers(0, height // 3))
        crop = image.crop((left, top, left + int(rng.integers(width // 2, 2 * width // 3)),
                           top + int(rng.integers(height // 2, 2 * height // 3))))
        path = root / classes[i % 5] / f"img_{i:03d}.jpg"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(encoded(crop.convert("RGB"), "JPEG", quality=int(rng.integers(60, 95))))
    odd = {"progressive.jpg": encoded(photo("coffee"), "JPEG", progressive=True), "cmyk.jpg": hostile.cmyk_jpeg(),
           "rotated.jpg": hostile.exif_rotated_jpeg()[0], "photo.png": encoded(photo("chelsea"), "PNG"),
           "truncated.jpg": hostile.truncated_jpeg(), "not_an_image.jpg": b"<html>a login page</html>"}
    for i, (name, data) in enumerate(odd.items()):
        (root / classes[i % 5] / name).write_bytes(data)
    return root


def _stored(store: ResultsStore, run_id: str):
    frame = store.predictions(run_id)
    frame = frame[[column for column in COLUMNS if column in frame]].sort_values("image_id").reset_index(drop=True)
    ids, logits = store.logits(run_id)
    order = np.argsort(ids)
    return frame, [ids[i] for i in order], np.asarray(logits)[order]


def _assert_same_store(a, b) -> None:
    (frame_a, ids_a, logits_a), (frame_b, ids_b, logits_b) = a, b
    pd.testing.assert_frame_equal(frame_a, frame_b)
    assert ids_a == ids_b
    np.testing.assert_array_equal(logits_a, logits_b)


@pytest.mark.parametrize("resize, decode", [("pil", "pil"), ("tensor", "pil"), ("tensor", "device")])
def test_overlapped_loop_stores_exactly_the_serial_loops_rows_and_logits(tmp_path, tiny_models_toml, jpeg_folder,
                                                                        resize, decode):
    stores = {}
    for overlap in (False, True):
        store = ResultsStore(tmp_path / f"overlap-{overlap}.duckdb")
        summaries = evaluate(["tiny_vit", "tiny_convnext"], "imagefolder", jpeg_folder, resize=resize, decode=decode,
                             batch_size=8, workers=0, store=store, device="cpu", overlap=overlap, say=_quiet)
        assert [summary.status for summary in summaries] == ["done", "done"]
        assert [summary.written for summary in summaries] == [60, 60]  # every file one row, errors included
        stores[overlap] = [_stored(store, summary.run_id) for summary in summaries]
    for serial, overlapped in zip(stores[False], stores[True]):
        _assert_same_store(serial, overlapped)
        errors = serial[0].set_index("image_id")["error"].dropna()
        assert sorted(Path(image_id).name for image_id in errors.index) == ["not_an_image.jpg", "truncated.jpg"]


def test_device_decode_on_the_cpu_gives_the_pil_decodes_logits_and_is_keyed_apart(tmp_path, tiny_models_toml,
                                                                                  jpeg_folder):
    """libjpeg-turbo decodes the same pixels through torchvision as through PIL, so on the CPU the two decode
    backends give the same logits; the runs still have their own keys (on a GPU nvJPEG's pixels differ)."""
    store = ResultsStore(tmp_path / "results.duckdb")
    runs = {decode: evaluate(["tiny_convnext"], "imagefolder", jpeg_folder, resize="tensor", decode=decode,
                             batch_size=16, workers=2, store=store, device="cpu", say=_quiet)[0]
            for decode in ("pil", "device")}
    assert runs["pil"].run_id != runs["device"].run_id
    keys = store.runs().set_index("run_id")["preprocess_key"]
    assert keys[runs["device"].run_id] == keys[runs["pil"].run_id] + "+torchvision-cpu"
    _assert_same_store(_stored(store, runs["pil"].run_id), _stored(store, runs["device"].run_id))


def test_device_decode_needs_the_tensor_resize(tmp_path, tiny_models_toml, jpeg_folder):
    with pytest.raises(UserError, match="add --resize tensor"):
        evaluate(["tiny_vit"], "imagefolder", jpeg_folder, decode="device", store=ResultsStore(tmp_path / "r.duckdb"),
                 device="cpu", say=_quiet)
    with pytest.raises(UserError, match="Expected --decode in pil, device, got 'nvjpeg'"):
        evaluate(["tiny_vit"], "imagefolder", jpeg_folder, resize="tensor", decode="nvjpeg",
                 store=ResultsStore(tmp_path / "r.duckdb"), device="cpu", say=_quiet)


def test_stop_drops_the_batch_in_flight_and_a_resume_completes_the_run(tmp_path, tiny_models_toml):
    cue = shared_data("cue-conflict")
    store = ResultsStore(tmp_path / "results.duckdb")
    calls = []
    first = evaluate(["tiny_vit"], "cue-conflict", cue, limit=40, batch_size=8, workers=0, store=store,
                     should_stop=lambda: calls.append(1) or len(calls) >= 2, say=_quiet)
    assert first[0].status == "stopped" and first[0].written == 16  # two batches handed over; the third dropped
    assert int(store.runs()["done"].iloc[0]) == 16
    second = evaluate(["tiny_vit"], "cue-conflict", cue, limit=40, batch_size=8, workers=0, store=store, say=_quiet)
    assert second[0].written == 24 and store.runs()["status"].iloc[0] == "done"


def _evaluate(db: Path, folder: Path, limit: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "core", "evaluate", "--models", "tiny_convnext", "--benchmark", "imagefolder",
               "--data", str(folder), "--limit", str(limit), "--seed", "3", "--batch-size", "8", "--workers", "0",
               "--resize", "tensor", "--decode", "device"]
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, "BAE_RESULTS_DB": str(db)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _count(store: ResultsStore) -> int:
    frame = store.query("SELECT count(*) AS n FROM predictions")
    return 0 if frame.empty else int(frame.n[0])


def test_sigkill_mid_run_then_resume_equals_a_clean_serial_run(tmp_path, tiny_models_toml, jpeg_folder):
    """The overlapped loop with device decoding, killed with SIGKILL after its first commits, then resumed: the
    store equals one clean run of the serial loop."""
    from core.imagenet import wnids

    folder = tmp_path / "many"  # 240 files: the 60 above, four times over, so the kill lands mid-run
    for copy in range(4):
        for path in jpeg_folder.rglob("*.*"):
            target = folder / path.parent.name / f"{copy}_{path.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    assert {path.name for path in folder.iterdir()} <= set(wnids())
    limit = 200
    killed = tmp_path / "killed.duckdb"
    process = _evaluate(killed, folder, limit)
    store = ResultsStore(killed, timeout_s=120)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not killed.exists() or _count(store) < 16):
        assert process.poll() is None, process.communicate()[1][-1500:]
        time.sleep(0.02)
    process.kill()
    process.wait()
    at_kill = _count(store)
    assert 16 <= at_kill < limit, f"kill came too late or never ({at_kill} rows)"
    resumed = _evaluate(killed, folder, limit)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0 and "resuming" in err, err[-1500:]

    clean = ResultsStore(tmp_path / "clean.duckdb")
    run = evaluate(["tiny_convnext"], "imagefolder", folder, limit=limit, seed=3, batch_size=8, workers=0,
                   resize="tensor", decode="device", store=clean, device="cpu", overlap=False, say=_quiet)[0]
    assert store.runs()["run_id"].tolist() == [run.run_id] and store.runs()["status"].iloc[0] == "done"
    _assert_same_store(_stored(store, run.run_id), _stored(clean, run.run_id))


def test_padding_a_partial_batch_for_a_compiled_model_keeps_its_logits(tiny_specs):
    """Static shapes: `pad_to` pads a short batch with zeros and drops the padding's logits; the real images'
    logits equal those of the unpadded batch (an eval-mode model treats images independently)."""
    from core.models.load import load_model
    from core.models.preprocess import resolve_preprocess
    from core.run.evaluation import EvalJob
    from core.run.pipeline import Prepared, forward_batch

    spec = tiny_specs["tiny_convnext"]
    loaded = load_model(spec, device="cpu")
    inputs = torch.randn(5, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    prepared = Prepared(5, ready={"m": list("abcde")}, inputs={"m": inputs})
    plain = EvalJob(loaded, resolve_preprocess(spec, "paper"), None, "r", set())
    padded = EvalJob(loaded, resolve_preprocess(spec, "paper"), None, "r", set(), pad_to=16)
    seen = []
    padded.forward = lambda x: seen.append(x.shape[0]) or loaded.module(x)
    a, b = forward_batch({"m": plain}, prepared)["m"], forward_batch({"m": padded}, prepared)["m"]
    assert seen == [16] and b.shape == a.shape == (5, 1000)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
